//! Versioning and upcasting for aggregates written by hand: an event type at class version 2
//! with an upcast function, aliases, a snapshot layout at class version 2 with its upcast
//! function, and a snapshot whose state would clash with the snapshot's metadata.

use eventsourcing::domain::{
    Aggregate, AggregateEvent, AggregateMeta, ApplyError, DomainError, EventType, Sealed, Snapshot,
};
use eventsourcing::prelude::*;
use eventsourcing_tests::{load, store};
use serde_json::{json, Map, Value};

/// Version 1 of the aggregate: `Renamed { name }`, snapshots of `{name}`.
mod v1 {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Profile {
        #[serde(skip)]
        pub meta: AggregateMeta<Profile>,
        pub name: String,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub enum ProfileEvent {
        Started,
        Renamed { name: String },
    }

    impl AggregateEvent for ProfileEvent {
        const TYPES: &'static [EventType] = &[
            EventType::new("Started", "profiles:Profile.Started").created(),
            EventType::new("Renamed", "profiles:Profile.Renamed"),
        ];

        fn event_type(&self) -> &'static EventType {
            match self {
                ProfileEvent::Started => &Self::TYPES[0],
                ProfileEvent::Renamed { .. } => &Self::TYPES[1],
            }
        }
    }

    impl Aggregate for Profile {
        type Event = ProfileEvent;
        const NAME: &'static str = "Profile";
        const TOPIC: &'static str = "profiles:Profile";

        fn meta(&self) -> &AggregateMeta<Self> {
            &self.meta
        }

        fn meta_mut(&mut self, _: &Sealed) -> &mut AggregateMeta<Self> {
            &mut self.meta
        }

        fn construct(_: Uuid, event: ProfileEvent, _: &mut Sealed) -> Result<Self, ApplyError> {
            match event {
                ProfileEvent::Started => Ok(Profile {
                    meta: AggregateMeta::new(),
                    name: String::new(),
                }),
                other => Err(ApplyError::not_created::<Self>(&other)),
            }
        }

        fn apply(&mut self, event: ProfileEvent, _: &mut Sealed) -> Result<(), ApplyError> {
            match event {
                ProfileEvent::Renamed { name } => {
                    self.name = name;
                    Ok(())
                }
                other => Err(ApplyError::created_on_existing::<Self>(&other)),
            }
        }

        fn snapshot_state(&self) -> Result<Map<String, Value>, DomainError> {
            Snapshot::state_of(self)
        }

        fn deserialize_state<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Self::deserialize(d)
        }
    }
}

/// Version 2: `Renamed { name, reason }` (v1 state gets `reason: ""`), stored under a new topic
/// with the old one as an alias; snapshots of `{name, nickname}` (class version 2).
mod v2 {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Profile {
        #[serde(skip)]
        pub meta: AggregateMeta<Profile>,
        pub name: String,
        pub nickname: String,
        pub reasons: Vec<String>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub enum ProfileEvent {
        Started,
        Renamed { name: String, reason: String },
    }

    fn add_reason(state: &mut Map<String, Value>) {
        state.insert("reason".into(), json!(""));
    }

    fn add_nickname(state: &mut Map<String, Value>) {
        let name = state.get("name").cloned().unwrap_or(json!(""));
        state.insert("nickname".into(), name);
        state.insert("reasons".into(), json!([]));
    }

    impl AggregateEvent for ProfileEvent {
        const TYPES: &'static [EventType] = &[
            EventType::new("Started", "profiles:Profile.Started").created(),
            EventType::new("Renamed", "people:Profile.Renamed")
                .version(2, &[add_reason])
                .aliases(&["profiles:Profile.Renamed"]),
        ];

        fn event_type(&self) -> &'static EventType {
            match self {
                ProfileEvent::Started => &Self::TYPES[0],
                ProfileEvent::Renamed { .. } => &Self::TYPES[1],
            }
        }
    }

    impl Aggregate for Profile {
        type Event = ProfileEvent;
        const NAME: &'static str = "Profile";
        const TOPIC: &'static str = "profiles:Profile";
        const CLASS_VERSION: u32 = 2;
        const UPCASTERS: &'static [eventsourcing::domain::Upcaster] = &[add_nickname];

        fn meta(&self) -> &AggregateMeta<Self> {
            &self.meta
        }

        fn meta_mut(&mut self, _: &Sealed) -> &mut AggregateMeta<Self> {
            &mut self.meta
        }

        fn construct(_: Uuid, event: ProfileEvent, _: &mut Sealed) -> Result<Self, ApplyError> {
            match event {
                ProfileEvent::Started => Ok(Profile {
                    meta: AggregateMeta::new(),
                    name: String::new(),
                    nickname: String::new(),
                    reasons: Vec::new(),
                }),
                other => Err(ApplyError::not_created::<Self>(&other)),
            }
        }

        fn apply(&mut self, event: ProfileEvent, _: &mut Sealed) -> Result<(), ApplyError> {
            match event {
                ProfileEvent::Renamed { name, reason } => {
                    self.name = name;
                    self.reasons.push(reason);
                    Ok(())
                }
                other => Err(ApplyError::created_on_existing::<Self>(&other)),
            }
        }

        fn snapshot_state(&self) -> Result<Map<String, Value>, DomainError> {
            Snapshot::state_of(self)
        }

        fn deserialize_state<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Self::deserialize(d)
        }
    }
}

fn v1_history() -> (v1::Profile, Vec<eventsourcing_tests::StoredEvent>) {
    let mut profile = v1::Profile::create_aggregate(Uuid::new_v4(), v1::ProfileEvent::Started)
        .expect("Started creates a Profile");
    profile
        .trigger_event(v1::ProfileEvent::Renamed { name: "Ada".into() })
        .expect("Renamed applies");
    let stored = profile.collect_events().iter().map(store).collect();
    (profile, stored)
}

#[test]
fn version_1_events_are_upcast_when_read_by_version_2() {
    let (v1_profile, stored) = v1_history();
    assert_eq!(stored[1].topic, "profiles:Profile.Renamed");
    assert_eq!(stored[1].state_json().get("class_version"), None);

    let events: Vec<_> = stored
        .iter()
        .map(|s| load::<v2::ProfileEvent>(s).expect("v1 state decodes as v2"))
        .collect();
    assert_eq!(
        events[1].payload,
        v2::ProfileEvent::Renamed {
            name: "Ada".into(),
            reason: String::new()
        }
    );
    let profile = v2::Profile::from_events(events).unwrap();
    assert_eq!(profile.name, "Ada");
    assert_eq!(profile.reasons, [""]);
    assert_eq!(profile.version(), v1_profile.version());

    // Version 2 stores under the new topic, with its class version.
    let mut profile = profile;
    profile
        .trigger_event(v2::ProfileEvent::Renamed {
            name: "Ada L.".into(),
            reason: "marriage".into(),
        })
        .unwrap();
    let stored = store(&profile.collect_events()[0]);
    assert_eq!(stored.topic, "people:Profile.Renamed");
    assert_eq!(stored.state_json()["class_version"], json!(2));
    assert_eq!(stored.state_json()["reason"], json!("marriage"));
    let again: eventsourcing::domain::DomainEvent<v2::ProfileEvent> = load(&stored).unwrap();
    assert_eq!(again.payload.topic(), "people:Profile.Renamed");
}

#[test]
fn version_1_snapshots_are_upcast_when_restored_by_version_2() {
    let (v1_profile, _) = v1_history();
    let snapshot = v1_profile.take_snapshot().unwrap();
    assert_eq!(snapshot.state.get("class_version"), None);
    let restored: v2::Profile = snapshot.restore().unwrap();
    assert_eq!(restored.name, "Ada");
    assert_eq!(restored.nickname, "Ada");
    assert!(restored.reasons.is_empty());
    assert_eq!(restored.version(), 2);

    // Version 2 snapshots record their class version, and version 1 refuses them.
    let snapshot = restored.take_snapshot().unwrap();
    assert_eq!(snapshot.state["class_version"], json!(2));
    let refused = snapshot.clone().restore::<v1::Profile>().unwrap_err();
    assert!(
        refused.to_string().contains("newer than this Profile"),
        "{refused}"
    );
    let again: v2::Profile = snapshot.restore().unwrap();
    assert_eq!(again, restored);
}

/// A hand-written aggregate whose state has a key of the snapshot's metadata.
mod clash {
    use super::*;

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Clashing {
        #[serde(skip)]
        pub meta: AggregateMeta<Clashing>,
        pub class_version: u32,
    }

    impl Aggregate for Clashing {
        type Event = v1::ProfileEvent;
        const NAME: &'static str = "Clashing";
        const TOPIC: &'static str = "profiles:Clashing";

        fn meta(&self) -> &AggregateMeta<Self> {
            &self.meta
        }

        fn meta_mut(&mut self, _: &Sealed) -> &mut AggregateMeta<Self> {
            &mut self.meta
        }

        fn construct(_: Uuid, _: v1::ProfileEvent, _: &mut Sealed) -> Result<Self, ApplyError> {
            Ok(Clashing {
                meta: AggregateMeta::new(),
                class_version: 7,
            })
        }

        fn apply(&mut self, _: v1::ProfileEvent, _: &mut Sealed) -> Result<(), ApplyError> {
            Ok(())
        }

        fn snapshot_state(&self) -> Result<Map<String, Value>, DomainError> {
            Snapshot::state_of(self)
        }
    }
}

#[test]
fn a_snapshot_whose_state_clashes_with_its_metadata_is_refused() {
    let clashing =
        clash::Clashing::create_aggregate(Uuid::new_v4(), v1::ProfileEvent::Started).unwrap();
    match clashing.take_snapshot() {
        Err(DomainError::SnapshotState { message, .. }) => {
            assert!(message.contains("\"class_version\""), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn hand_written_aggregates_without_snapshot_support_say_so() {
    // `Clashing` does not override `deserialize_state`: restoring is not supported.
    let mut state = Map::new();
    state.insert("_created_on".into(), json!("2026-12-04T00:00:00Z"));
    state.insert("_modified_on".into(), json!("2026-12-04T00:00:00Z"));
    let snapshot = Snapshot {
        originator_id: Uuid::new_v4(),
        originator_version: 1,
        timestamp: Utc::now(),
        topic: "profiles:Clashing".into(),
        state,
    };
    let error = snapshot.restore::<clash::Clashing>().unwrap_err();
    assert!(
        error.to_string().contains("can't be snapshotted"),
        "{error}"
    );
}
