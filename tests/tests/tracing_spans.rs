//! The tracing spans of save, get, snapshot and processing, with their fields: what an
//! operator's subscriber sees (each span's duration comes from its closing).

use std::sync::{Arc, Mutex};

use eventsourcing::application::Application;
use eventsourcing::prelude::*;
use eventsourcing::system::{PolicyResult, Process, ProcessingEvent, SingleThreadedRunner, System};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dog {
    tricks: Vec<String>,
}

#[aggregate(module = "dogs")]
impl Dog {
    #[created("Registered")]
    pub fn register() -> Self {
        Dog { tricks: Vec::new() }
    }

    #[event("TrickAdded")]
    pub fn add_trick(&mut self, trick: String) {
        self.tricks.push(trick);
    }
}

struct Echo {
    app: Application,
}

impl AsRef<Application> for Echo {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Process for Echo {
    type Upstream = DomainEvent<DogEvent>;

    fn policy(&self, _: DomainEvent<DogEvent>, _: &mut ProcessingEvent<'_>) -> PolicyResult {
        Ok(())
    }
}

/// Each span: its name, and its fields as `name=value` text, in the order recorded.
type Spans = Arc<Mutex<Vec<(String, Vec<String>)>>>;

struct Recorder(Spans);

struct Fields<'a>(&'a mut Vec<String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push(format!("{}={value}", field.name()));
    }
}

impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Layer<S>
    for Recorder
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        let mut spans = self.0.lock().unwrap();
        spans.push((attrs.metadata().name().to_string(), fields));
        let _ = id;
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut spans = self.0.lock().unwrap();
        if let Some((_, fields)) = spans.iter_mut().rev().find(|(name, _)| name == span.name()) {
            values.record(&mut Fields(fields));
        }
    }
}

#[test]
fn operations_have_spans_with_their_fields() {
    let spans: Spans = Arc::default();
    let subscriber = tracing_subscriber::registry().with(Recorder(Arc::clone(&spans)));
    tracing::subscriber::with_default(subscriber, || {
        let dogs = Arc::new(Echo {
            app: Application::builder("DogSchool")
                .snapshotting(true)
                .build()
                .unwrap(),
        });
        let echo = Arc::new(Echo {
            app: Application::new("Echo").unwrap(),
        });
        let _runner = SingleThreadedRunner::start(System::new().pipe(&dogs, &echo)).unwrap();
        let mut dog = Dog::register();
        dog.add_trick("roll over".into());
        dogs.app.save(&mut dog).unwrap();
        let _: Dog = dogs.app.repository().get(dog.id()).unwrap();
        let _: Dog = dogs.app.repository().get_at(dog.id(), 1).unwrap();
        dogs.app.take_snapshot::<Dog>(dog.id(), None).unwrap();
    });
    let spans = spans.lock().unwrap();
    let find = |name: &str, with: &[String]| {
        spans
            .iter()
            .find(|(n, fields)| n == name && with.iter().all(|w| fields.contains(w)))
            .unwrap_or_else(|| panic!("no span {name} with {with:?} in {spans:#?}"))
    };
    let id = spans
        .iter()
        .find_map(|(n, f)| {
            (n == "save").then(|| f.iter().find(|f| f.starts_with("originator_id=")).cloned())
        })
        .flatten()
        .expect("the save span has the aggregate's id");
    let s = |text: &str| text.to_string();
    find(
        "save",
        &[
            s("application=DogSchool"),
            s("events=2"),
            s("first_version=1"),
            s("last_version=2"),
            id.clone(),
        ],
    );
    let id = id.trim_start_matches("originator_id=").to_string();
    find(
        "get",
        &[
            s("aggregate=Dog"),
            format!("id={id}"),
            s("loaded_version=2"),
        ],
    );
    find(
        "get",
        &[s("aggregate=Dog"), s("version=1"), s("loaded_version=1")],
    );
    find(
        "snapshot",
        &[
            s("application=DogSchool"),
            s("aggregate=Dog"),
            s("version=2"),
        ],
    );
    find(
        "process",
        &[
            s("follower=Echo"),
            s("leader=DogSchool"),
            s("notifications=2"),
            s("processed=2"),
        ],
    );
}
