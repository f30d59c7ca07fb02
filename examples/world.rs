//! Worlds where things happen: the application of the reference library's tutorial and its
//! application docs (digest §2.5, §2.6, §2.9).
//!
//! ```
//! use eventsourcing_examples::world::Worlds;
//!
//! # fn main() -> Result<(), eventsourcing::application::ApplicationError> {
//! let worlds = Worlds::with_builder(Worlds::builder().without_process_env())?; // in memory
//! let world_id = worlds.create_world()?;
//! worlds.make_it_so(world_id, "dinosaurs")?;
//! worlds.make_it_so(world_id, "trucks")?;
//! worlds.make_it_so(world_id, "internet")?;
//! assert_eq!(worlds.get_world_history(world_id)?, ["dinosaurs", "trucks", "internet"]);
//! # Ok(())
//! # }
//! ```

use std::io::Write;

use eventsourcing::application::{Application, ApplicationBuilder, ApplicationError};
use eventsourcing::domain::url_id;
use eventsourcing::persistence::EventQuery;
use eventsourcing::prelude::*;

/// A world: the history of what happened in it.
///
/// Its id is random ([`World::create`]), or given ([`World::create_with_id`]), such as the
/// version 5 id of a name ([`Worlds::named_world_id`]).
#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct World {
    history: Vec<String>,
}

#[aggregate]
impl World {
    /// A new world with a random (version 4) id.
    pub fn create() -> Self {
        Self::create_with_id(Uuid::new_v4())
    }

    /// A new world with the id `id`: records `World.Created`, whose only state is the id (as
    /// the event's originator id) and the time.
    #[created]
    pub fn create_with_id(id: Uuid) -> Self {
        World {
            history: Vec::new(),
        }
    }

    /// Records that `what` happened: `World.SomethingHappened`.
    #[event("SomethingHappened")]
    pub fn make_it_so(&mut self, what: String) {
        self.history.push(what);
    }

    /// What happened, in order.
    pub fn history(&self) -> &[String] {
        &self.history
    }
}

/// The Worlds application: creates worlds, makes things happen in them, and tells their
/// history.
///
/// Configure it with [`Worlds::builder`] (or the environment: [`Worlds::new`]), for instance
/// to snapshot worlds automatically every 2 events:
///
/// ```
/// use eventsourcing_examples::world::{World, Worlds};
///
/// # fn main() -> Result<(), eventsourcing::application::ApplicationError> {
/// let worlds = Worlds::with_builder(
///     Worlds::builder().without_process_env().snapshotting_interval::<World>(2),
/// )?;
/// let world_id = worlds.create_world()?;
/// worlds.make_it_so(world_id, "dinosaurs")?;
/// let snapshots = worlds.app().snapshots().expect("snapshotting is enabled");
/// let stored = snapshots.recorder().select_events(world_id, &Default::default())?;
/// assert_eq!(stored.len(), 1);
/// assert_eq!(stored[0].originator_version, 2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Worlds {
    app: Application,
}

impl Worlds {
    /// The application's name: the prefix of its environment variables (`WORLDS_...`).
    pub const NAME: &'static str = "Worlds";

    /// The application configured from the process environment (in memory unless configured
    /// otherwise).
    pub fn new() -> Result<Self, ApplicationError> {
        Self::with_builder(Self::builder())
    }

    /// A builder of the application, starting from the process environment: set the backend,
    /// snapshotting, encryption and so on, then pass it to [`Worlds::with_builder`].
    pub fn builder() -> ApplicationBuilder {
        Application::builder(Self::NAME)
    }

    /// The application that `builder` builds.
    pub fn with_builder(builder: ApplicationBuilder) -> Result<Self, ApplicationError> {
        Ok(Worlds {
            app: builder.build()?,
        })
    }

    /// The underlying application: its repository, notification log, mapper, snapshots.
    pub fn app(&self) -> &Application {
        &self.app
    }

    /// Creates a world with a random id, and returns its id.
    pub fn create_world(&self) -> Result<Uuid, ApplicationError> {
        let mut world = World::create();
        self.app.save(&mut world)?;
        Ok(world.id())
    }

    /// The id of the world named `name`: a version 5 UUID of `/worlds/{name}` in the URL
    /// namespace, the same in every run and every process.
    pub fn named_world_id(name: &str) -> Uuid {
        url_id(&format!("/worlds/{name}"))
    }

    /// Creates the world named `name`. If it exists already, the save fails with an integrity
    /// error ([`ApplicationError::is_integrity`]): its id is taken.
    pub fn create_named_world(&self, name: &str) -> Result<Uuid, ApplicationError> {
        let mut world = World::create_with_id(Self::named_world_id(name));
        self.app.save(&mut world)?;
        Ok(world.id())
    }

    /// The id of the world named `name`, created if it doesn't exist yet.
    pub fn open_named_world(&self, name: &str) -> Result<Uuid, ApplicationError> {
        let id = Self::named_world_id(name);
        let mut world = self
            .app
            .repository()
            .get_or_else(id, || World::create_with_id(id))?;
        // Stores a new world's created event; an existing world has nothing to store.
        match self.app.save(&mut world) {
            // Another process created it in the meantime: as good.
            Err(error) if error.is_integrity() => Ok(id),
            saved => saved.map(|()| id),
        }
    }

    /// Makes `what` happen in the world `world_id`.
    pub fn make_it_so(&self, world_id: Uuid, what: &str) -> Result<(), ApplicationError> {
        let mut world = self.get_world(world_id)?;
        world.make_it_so(what.to_string());
        self.app.save(&mut world)
    }

    /// What happened in the world `world_id`, in order.
    pub fn get_world_history(&self, world_id: Uuid) -> Result<Vec<String>, ApplicationError> {
        Ok(self.get_world(world_id)?.history)
    }

    /// The world `world_id`, at its latest version.
    pub fn get_world(&self, world_id: Uuid) -> Result<World, ApplicationError> {
        self.app.repository().get(world_id)
    }

    /// Takes a snapshot of the world `world_id` at its latest version (snapshotting must be
    /// enabled).
    pub fn take_snapshot(&self, world_id: Uuid) -> Result<(), ApplicationError> {
        self.app.take_snapshot::<World>(world_id, None)
    }
}

/// What the `worlds` example program does: in the world named `world_name` (created on the
/// first run), makes `what` happen — or, if `what` is `None`, the next of a few things — and
/// writes the world's whole history to `out`, with the version and time of each event. Run it
/// twice over the same database and the second run shows the first run's events too.
pub fn demo(
    worlds: &Worlds,
    world_name: &str,
    what: Option<&str>,
    out: &mut dyn Write,
) -> Result<(), Box<dyn std::error::Error>> {
    const THINGS: [&str; 5] = ["dinosaurs", "trucks", "internet", "rockets", "poetry"];

    let world_id = worlds.open_named_world(world_name)?;
    let world = worlds.get_world(world_id)?;
    let what = what.map_or_else(
        || THINGS[world.history().len() % THINGS.len()].to_string(),
        str::to_string,
    );
    worlds.make_it_so(world_id, &what)?;
    writeln!(
        out,
        "Made it so in world {world_name:?} ({world_id}): {what}"
    )?;

    let events = worlds
        .app()
        .events()
        .get::<WorldEvent>(world_id, &EventQuery::new())?;
    writeln!(out, "History of {world_name:?}, {} events:", events.len())?;
    for event in &events {
        let description = match &event.payload {
            WorldEvent::Created => "the world was created".to_string(),
            WorldEvent::SomethingHappened { what } => format!("{what} happened"),
        };
        writeln!(
            out,
            "  v{:<3} {}  {description}",
            event.originator_version,
            event.timestamp.format("%Y-%m-%d %H:%M:%S%.3f UTC"),
        )?;
    }
    let history = worlds.get_world_history(world_id)?;
    writeln!(out, "So far: {}", history.join(", "))?;
    Ok(())
}
