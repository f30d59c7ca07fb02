//! The reference library's dog school, twice: [`declared::Dog`] with the macros, and
//! [`by_hand::Dog`] written by hand against the public traits, in the reference's explicit
//! style (an event enum, an `apply` function, commands that trigger events).
//!
//! The two are twins: the same commands, the same events under the same topics, the same
//! stored state, so either one reads what the other wrote. `#[aggregate]` generates nothing
//! that `by_hand` could not write; `by_hand` is what it looks like without it. A
//! [`DogSchool`] stores both kinds side by side in one application.
//!
//! ```
//! use eventsourcing_examples::dogs::{by_hand, declared, DogSchool};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let school = DogSchool::with_builder(DogSchool::builder().without_process_env())?;
//! let fido = school.register_declared("Fido")?;
//! let rex = school.register_by_hand("Rex")?;
//! school.teach(fido, &["roll over", "play dead"])?;
//! school.teach(rex, &["sit"])?;
//!
//! // A failed command leaves no trace: "sit" twice is refused, and "fetch" is not taught.
//! assert!(school.teach(rex, &["fetch", "sit"]).is_err());
//! assert_eq!(school.tricks(rex)?, ["sit"]);
//!
//! // Each twin reads the other's events.
//! let fido_by_hand: by_hand::Dog = school.app().repository().get(fido)?;
//! let rex_declared: declared::Dog = school.app().repository().get(rex)?;
//! assert_eq!(fido_by_hand.tricks(), ["roll over", "play dead"]);
//! assert_eq!(rex_declared.tricks(), ["sit"]);
//! # Ok(())
//! # }
//! ```

use std::fmt;

use eventsourcing::application::{Application, ApplicationBuilder, ApplicationError};
use eventsourcing::prelude::*;

/// Why a dog can't learn a trick.
#[derive(Debug, thiserror::Error)]
pub enum TrickError {
    /// The dog knows it already.
    #[error("{name} already knows {trick:?}")]
    AlreadyKnown {
        /// The dog's name.
        name: String,
        /// The trick.
        trick: String,
    },
    /// The event could not be applied (for the hand-written aggregate, whose commands go
    /// through `Aggregate::trigger_event`: an event given to the wrong method).
    #[error(transparent)]
    Apply(#[from] eventsourcing::domain::ApplyError),
}

impl TrickError {
    /// The error of a `TricksTaught` event that failed to apply: the `TrickError` its body
    /// returned, or the `ApplyError` itself.
    pub fn from_apply(error: eventsourcing::domain::ApplyError) -> Self {
        use eventsourcing::domain::ApplyError;
        match error {
            ApplyError::Body {
                type_name,
                event,
                source,
            } => match source.downcast::<TrickError>() {
                Ok(trick_error) => *trick_error,
                Err(source) => TrickError::Apply(ApplyError::Body {
                    type_name,
                    event,
                    source,
                }),
            },
            other => TrickError::Apply(other),
        }
    }
}

/// The dog school's aggregate, declared with the macros.
pub mod declared {
    use super::TrickError;
    use eventsourcing::prelude::*;

    /// A dog that learns tricks.
    #[aggregate]
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Dog {
        name: String,
        tricks: Vec<String>,
    }

    #[aggregate(module = "dogs")]
    impl Dog {
        /// Registers a dog: `dogs:Dog.Registered`.
        #[created("Registered")]
        pub fn register(name: String) -> Self {
            Dog {
                name,
                tricks: Vec::new(),
            }
        }

        /// Teaches the dog one trick: `dogs:Dog.TrickAdded`.
        #[event("TrickAdded")]
        pub fn add_trick(&mut self, trick: String) {
            self.tricks.push(trick);
        }

        /// Teaches the dog several tricks at once: `dogs:Dog.TricksTaught`. Refused, with
        /// nothing recorded and nothing changed, if it knows one of them already (even after
        /// the body has pushed the ones before it).
        #[event("TricksTaught")]
        pub fn teach(&mut self, tricks: Vec<String>) -> Result<(), TrickError> {
            for trick in tricks {
                if self.tricks.contains(&trick) {
                    return Err(TrickError::AlreadyKnown {
                        name: self.name.clone(),
                        trick,
                    });
                }
                self.tricks.push(trick);
            }
            Ok(())
        }

        /// The dog's name.
        pub fn name(&self) -> &str {
            &self.name
        }

        /// The tricks it knows, in the order learnt.
        pub fn tricks(&self) -> &[String] {
            &self.tricks
        }
    }
}

/// The same aggregate written by hand: what `#[aggregate]` generates, in the reference's
/// explicit style.
pub mod by_hand {
    use super::TrickError;
    use eventsourcing::domain::{
        Aggregate, AggregateEvent, AggregateMeta, ApplyError, DomainError, EventType, Sealed,
        Snapshot,
    };
    use eventsourcing::prelude::*;

    /// A dog that learns tricks.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Dog {
        /// Id, version, timestamps and pending events: set by the library only.
        #[serde(skip)]
        meta: AggregateMeta<Dog>,
        name: String,
        tricks: Vec<String>,
    }

    /// What happens to a dog.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub enum DogEvent {
        /// The dog was registered.
        Registered {
            /// Its name.
            name: String,
        },
        /// The dog learnt a trick.
        TrickAdded {
            /// The trick.
            trick: String,
        },
        /// The dog learnt several tricks.
        TricksTaught {
            /// The tricks, in order.
            tricks: Vec<String>,
        },
    }

    impl AggregateEvent for DogEvent {
        const TYPES: &'static [EventType] = &[
            EventType::new("Registered", "dogs:Dog.Registered").created(),
            EventType::new("TrickAdded", "dogs:Dog.TrickAdded"),
            EventType::new("TricksTaught", "dogs:Dog.TricksTaught"),
        ];

        fn event_type(&self) -> &'static EventType {
            match self {
                DogEvent::Registered { .. } => &Self::TYPES[0],
                DogEvent::TrickAdded { .. } => &Self::TYPES[1],
                DogEvent::TricksTaught { .. } => &Self::TYPES[2],
            }
        }
    }

    impl Aggregate for Dog {
        type Event = DogEvent;
        const NAME: &'static str = "Dog";
        const TOPIC: &'static str = "dogs:Dog";

        fn meta(&self) -> &AggregateMeta<Self> {
            &self.meta
        }

        fn meta_mut(&mut self, _: &Sealed) -> &mut AggregateMeta<Self> {
            &mut self.meta
        }

        fn construct(_id: Uuid, event: DogEvent, _: &mut Sealed) -> Result<Self, ApplyError> {
            match event {
                DogEvent::Registered { name } => Ok(Dog {
                    meta: AggregateMeta::new(),
                    name,
                    tricks: Vec::new(),
                }),
                other => Err(ApplyError::not_created::<Self>(&other)),
            }
        }

        fn apply(&mut self, event: DogEvent, sealed: &mut Sealed) -> Result<(), ApplyError> {
            match event {
                DogEvent::TrickAdded { trick } => {
                    self.tricks.push(trick);
                    Ok(())
                }
                DogEvent::TricksTaught { tricks } => sealed
                    .restore_on_error(self, |dog| dog.learn(tricks))
                    .map_err(|e| ApplyError::body::<Self>("TricksTaught", e)),
                created @ DogEvent::Registered { .. } => {
                    Err(ApplyError::created_on_existing::<Self>(&created))
                }
            }
        }

        fn snapshot_state(
            &self,
        ) -> Result<serde_json::Map<String, serde_json::Value>, DomainError> {
            Snapshot::state_of(self)
        }

        fn deserialize_state<'de, D: serde::Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Self, D::Error> {
            Self::deserialize(deserializer)
        }
    }

    impl Dog {
        /// Registers a dog: `dogs:Dog.Registered`.
        pub fn register(name: String) -> Result<Self, ApplyError> {
            Self::create_aggregate(Uuid::new_v4(), DogEvent::Registered { name })
        }

        /// Teaches the dog one trick: `dogs:Dog.TrickAdded`.
        pub fn add_trick(&mut self, trick: String) -> Result<(), ApplyError> {
            self.trigger_event(DogEvent::TrickAdded { trick })
        }

        /// Teaches the dog several tricks at once: `dogs:Dog.TricksTaught`. Refused, with
        /// nothing recorded and nothing changed, if it knows one of them already.
        pub fn teach(&mut self, tricks: Vec<String>) -> Result<(), TrickError> {
            self.trigger_event(DogEvent::TricksTaught { tricks })
                .map_err(TrickError::from_apply)
        }

        /// How `TricksTaught` changes the dog: the body `apply` runs, live and on replay.
        fn learn(&mut self, tricks: Vec<String>) -> Result<(), TrickError> {
            for trick in tricks {
                if self.tricks.contains(&trick) {
                    return Err(TrickError::AlreadyKnown {
                        name: self.name.clone(),
                        trick,
                    });
                }
                self.tricks.push(trick);
            }
            Ok(())
        }

        /// The dog's name.
        pub fn name(&self) -> &str {
            &self.name
        }

        /// The tricks it knows, in the order learnt.
        pub fn tricks(&self) -> &[String] {
            &self.tricks
        }
    }
}

/// An error of the dog school: a refused trick, or the application's.
#[derive(Debug, thiserror::Error)]
pub enum DogSchoolError {
    /// The dog can't learn it.
    #[error(transparent)]
    Trick(#[from] TrickError),
    /// Storing or reading failed.
    #[error(transparent)]
    Application(#[from] ApplicationError),
}

impl From<eventsourcing::domain::ApplyError> for DogSchoolError {
    fn from(error: eventsourcing::domain::ApplyError) -> Self {
        DogSchoolError::Trick(TrickError::Apply(error))
    }
}

/// The dog school: registers dogs of both kinds and teaches them tricks, in one application.
pub struct DogSchool {
    app: Application,
}

impl fmt::Debug for DogSchool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DogSchool").field("app", &self.app).finish()
    }
}

impl DogSchool {
    /// A builder of the application `DogSchool`, from the process environment.
    pub fn builder() -> ApplicationBuilder {
        Application::builder("DogSchool")
    }

    /// The dog school configured from the process environment (in memory by default).
    pub fn new() -> Result<Self, ApplicationError> {
        Self::with_builder(Self::builder())
    }

    /// The dog school as `builder` configures it.
    pub fn with_builder(builder: ApplicationBuilder) -> Result<Self, ApplicationError> {
        Ok(DogSchool {
            app: builder.build()?,
        })
    }

    /// The application.
    pub fn app(&self) -> &Application {
        &self.app
    }

    /// Registers a dog with the macro-declared aggregate.
    pub fn register_declared(&self, name: &str) -> Result<Uuid, DogSchoolError> {
        let mut dog = declared::Dog::register(name.to_string());
        self.app.save(&mut dog)?;
        Ok(dog.id())
    }

    /// Registers a dog with the hand-written aggregate.
    pub fn register_by_hand(&self, name: &str) -> Result<Uuid, DogSchoolError> {
        let mut dog = by_hand::Dog::register(name.to_string())?;
        self.app.save(&mut dog)?;
        Ok(dog.id())
    }

    /// Teaches the dog `id` some tricks at once (through the hand-written aggregate, which
    /// reads dogs of both kinds).
    pub fn teach(&self, id: Uuid, tricks: &[&str]) -> Result<(), DogSchoolError> {
        let mut dog: by_hand::Dog = self.app.repository().get(id)?;
        dog.teach(tricks.iter().map(|t| t.to_string()).collect())?;
        self.app.save(&mut dog)?;
        Ok(())
    }

    /// The tricks the dog `id` knows (through the declared aggregate).
    pub fn tricks(&self, id: Uuid) -> Result<Vec<String>, DogSchoolError> {
        let dog: declared::Dog = self.app.repository().get(id)?;
        Ok(dog.tricks().to_vec())
    }
}

/// The `dogs` example program: registers a dog of each kind, teaches them tricks (one lesson
/// refused), and prints what each twin reads of the other's dog.
pub fn demo(
    school: &DogSchool,
    out: &mut dyn std::io::Write,
) -> Result<(), Box<dyn std::error::Error>> {
    let fido = school.register_declared("Fido")?;
    let rex = school.register_by_hand("Rex")?;
    writeln!(out, "registered Fido (declared with the macros) {fido}")?;
    writeln!(out, "registered Rex (written by hand) {rex}")?;
    school.teach(fido, &["roll over", "play dead"])?;
    school.teach(rex, &["sit"])?;
    match school.teach(rex, &["fetch", "sit"]) {
        Err(DogSchoolError::Trick(refused)) => writeln!(
            out,
            "teaching Rex fetch and sit: refused ({refused}); nothing recorded"
        )?,
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    let fido_by_hand: by_hand::Dog = school.app().repository().get(fido)?;
    let rex_declared: declared::Dog = school.app().repository().get(rex)?;
    writeln!(
        out,
        "Fido read by the hand-written aggregate: {:?} (version {})",
        fido_by_hand.tricks(),
        fido_by_hand.version()
    )?;
    writeln!(
        out,
        "Rex read by the declared aggregate: {:?} (version {})",
        rex_declared.tricks(),
        rex_declared.version()
    )?;
    Ok(())
}
