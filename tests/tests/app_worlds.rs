//! The Worlds application (digest §2.9), its snapshotting configuration (§2.5, the cases that
//! don't touch the process environment: those are in `app_process_env.rs`), and two application
//! objects over one database (§2.6): each against memory and an SQLite file.

use eventsourcing::application::{ApplicationError, NotificationLog};
use eventsourcing::persistence::{EventQuery, Notification};
use eventsourcing::prelude::*;
use eventsourcing_examples::world::{World, WorldEvent, Worlds};
use eventsourcing_tests::{backend_tests, Backend};

fn worlds(backend: &Backend) -> Worlds {
    Worlds::with_builder(backend.configure(Worlds::builder())).unwrap()
}

/// A world where dinosaurs, trucks and the internet happened: version 4.
fn world_of_three(worlds: &Worlds) -> Uuid {
    let world_id = worlds.create_world().unwrap();
    worlds.make_it_so(world_id, "dinosaurs").unwrap();
    worlds.make_it_so(world_id, "trucks").unwrap();
    worlds.make_it_so(world_id, "internet").unwrap();
    world_id
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

backend_tests! {
    /// §2.9: the history, in order.
    fn history(backend) {
        let app = worlds(backend);
        let world_id = world_of_three(&app);
        assert_eq!(
            app.get_world_history(world_id).unwrap(),
            ["dinosaurs", "trucks", "internet"]
        );
    }

    /// §2.9: the repository at each version; "version=5" gives version 4 (there is no 5).
    fn repository_versions(backend) {
        let app = worlds(backend);
        let world_id = world_of_three(&app);
        let repository = app.app().repository();

        let world: World = repository.get(world_id).unwrap();
        assert_eq!(world.version(), 4);
        assert_eq!(world.history().len(), 3);

        let world: World = repository.get_at(world_id, 1).unwrap();
        assert_eq!(world.version(), 1);
        assert!(world.history().is_empty());

        for (version, last) in [(2, "dinosaurs"), (3, "trucks"), (4, "internet")] {
            let world: World = repository.get_at(world_id, version).unwrap();
            assert_eq!(world.version(), version);
            assert_eq!(world.history().len() as u64, version - 1);
            assert_eq!(world.history().last().map(String::as_str), Some(last));
        }

        let world: World = repository.get_at(world_id, 5).unwrap();
        assert_eq!(world.version(), 4);
        assert_eq!(world.history().len(), 3);
        assert_eq!(world.history()[2], "internet");

        // No events at or below version 0, and no such aggregate at all: not found.
        let error = repository.get_at::<World>(world_id, 0).unwrap_err();
        assert!(error.is_not_found(), "{error}");
        assert!(matches!(
            error,
            ApplicationError::AggregateNotFound { id, version: Some(0) } if id == world_id
        ));
        let missing = Uuid::new_v4();
        let error = repository.get::<World>(missing).unwrap_err();
        assert!(matches!(
            error,
            ApplicationError::AggregateNotFound { id, version: None } if id == missing
        ));
        assert_eq!(error.to_string(), format!("aggregate {missing} not found"));
    }

    /// §2.9: the notification log's first section, its items' topics and states, and the
    /// mapper turning notifications back into domain events.
    fn notification_log(backend) {
        let app = worlds(backend);
        let world_id = world_of_three(&app);

        let section = app.app().log().section("1,10").unwrap();
        assert_eq!(section.items.len(), 4);
        assert_eq!(section.id.as_deref(), Some("1,4"));
        assert_eq!(section.next_id, None);
        let _: &Notification = &section.items[0];
        for (i, item) in section.items.iter().enumerate() {
            assert_eq!(item.id, i as u64 + 1);
            assert_eq!(item.originator_id, world_id);
            assert_eq!(item.originator_version, i as u64 + 1);
        }
        assert!(section.items[0].topic.contains("World.Created"));
        for item in &section.items[1..] {
            assert!(item.topic.contains("World.SomethingHappened"), "{}", item.topic);
        }
        assert!(contains(&section.items[1].state, b"dinosaurs"));
        assert!(contains(&section.items[2].state, b"trucks"));
        assert!(contains(&section.items[3].state, b"internet"));

        let mapper = app.app().mapper();
        let domain_event: DomainEvent<WorldEvent> =
            mapper.to_domain_event(&section.items[0]).unwrap();
        assert!(matches!(domain_event.payload, WorldEvent::Created));
        assert_eq!(domain_event.originator_id, world_id);
        let domain_event: DomainEvent<WorldEvent> =
            mapper.to_domain_event(&section.items[3]).unwrap();
        assert_eq!(
            domain_event.payload,
            WorldEvent::SomethingHappened {
                what: "internet".to_string()
            }
        );
    }

    /// §2.5: snapshotting is off by default, and on when configured in code.
    fn snapshotting_configuration(backend) {
        assert!(worlds(backend).app().snapshots().is_none());

        let app = Worlds::with_builder(backend.configure(Worlds::builder()).snapshotting(true));
        assert!(app.unwrap().app().snapshots().is_some());

        let app = Worlds::with_builder(
            backend
                .configure(Worlds::builder())
                .env("IS_SNAPSHOTTING_ENABLED", "y"),
        );
        assert!(app.unwrap().app().snapshots().is_some());

        // The reference's class attribute `is_snapshotting_enabled = True` is a default, which
        // the application's env argument overrides.
        let enabled_by_default = || {
            backend
                .configure(Worlds::builder())
                .default_env("IS_SNAPSHOTTING_ENABLED", "y")
        };
        let app = Worlds::with_builder(enabled_by_default()).unwrap();
        assert!(app.app().snapshots().is_some());
        let app =
            Worlds::with_builder(enabled_by_default().env("IS_SNAPSHOTTING_ENABLED", "n")).unwrap();
        assert!(app.app().snapshots().is_none());

        // So does an automatic snapshotting interval (the reference's `snapshotting_intervals`).
        let with_interval = || {
            backend
                .configure(Worlds::builder())
                .snapshotting_interval::<World>(2)
        };
        assert!(Worlds::with_builder(with_interval()).unwrap().app().snapshots().is_some());
        let app = Worlds::with_builder(with_interval().env("IS_SNAPSHOTTING_ENABLED", "n")).unwrap();
        assert!(app.app().snapshots().is_none());
        // With snapshotting off, the interval does nothing and saving still works.
        let world_id = world_of_three(&app);
        assert_eq!(app.get_world_history(world_id).unwrap().len(), 3);
    }

    /// §2.5: a manual snapshot, at version 4; taking it again at the same version conflicts;
    /// the repository then starts from it.
    fn manual_snapshot(backend) {
        let app = Worlds::with_builder(
            backend
                .configure(Worlds::builder())
                .env("IS_SNAPSHOTTING_ENABLED", "y"),
        )
        .unwrap();
        let world_id = world_of_three(&app);
        app.take_snapshot(world_id).unwrap();

        let snapshots = app.app().snapshots().unwrap();
        let stored = snapshots
            .recorder()
            .select_events(world_id, &EventQuery::new().desc().limit(1))
            .unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].originator_id, world_id);
        assert_eq!(stored[0].originator_version, 4);
        let snapshot = app.app().mapper().to_snapshot(&stored[0]).unwrap();
        assert_eq!(snapshot.topic, <World as Aggregate>::TOPIC);
        assert_eq!(
            snapshot.state["history"],
            serde_json::json!(["dinosaurs", "trucks", "internet"])
        );

        let error = app.take_snapshot(world_id).unwrap_err();
        assert!(error.is_integrity(), "{error}");

        // Taking one at an earlier version reads that version from the events.
        app.app().take_snapshot::<World>(world_id, Some(2)).unwrap();
        let versions: Vec<u64> = snapshots
            .recorder()
            .select_events(world_id, &EventQuery::new())
            .unwrap()
            .iter()
            .map(|s| s.originator_version)
            .collect();
        assert_eq!(versions, [2, 4]);

        // Later events are applied on top of the snapshot.
        app.make_it_so(world_id, "rockets").unwrap();
        let world = app.get_world(world_id).unwrap();
        assert_eq!(world.version(), 5);
        assert_eq!(world.history(), ["dinosaurs", "trucks", "internet", "rockets"]);
        let world: World = app.app().repository().get_at(world_id, 3).unwrap();
        assert_eq!(world.history(), ["dinosaurs", "trucks"]);
    }

    /// §2.5: without a snapshot store, taking a snapshot is an error that says how to enable
    /// snapshotting.
    fn snapshot_without_snapshotting(backend) {
        let app = worlds(backend);
        let world_id = app.create_world().unwrap();
        let error = app.take_snapshot(world_id).unwrap_err();
        assert!(matches!(error, ApplicationError::SnapshottingDisabled));
        assert!(error.to_string().contains("IS_SNAPSHOTTING_ENABLED"), "{error}");
    }

    /// §2.5: automatic snapshots every 2 events: at versions 2 and 4.
    fn automatic_snapshots(backend) {
        let app = Worlds::with_builder(
            backend
                .configure(Worlds::builder())
                .snapshotting_interval::<World>(2),
        )
        .unwrap();
        let world_id = world_of_three(&app);
        let stored = app
            .app()
            .snapshots()
            .unwrap()
            .get_snapshots(world_id, &EventQuery::new())
            .unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[0].topic, <World as Aggregate>::TOPIC);
        assert_eq!(stored[0].originator_id, world_id);
        assert_eq!(stored[0].originator_version, 2);
        assert_eq!(stored[1].originator_id, world_id);
        assert_eq!(stored[1].originator_version, 4);

        // Several events in one save: the snapshot is taken at the multiple in between too.
        let mut world = app.get_world(world_id).unwrap();
        for what in ["rockets", "poetry", "jazz"] {
            world.make_it_so(what.to_string());
        }
        app.app().save(&mut world).unwrap();
        let versions: Vec<u64> = app
            .app()
            .snapshots()
            .unwrap()
            .get_snapshots(world_id, &EventQuery::new())
            .unwrap()
            .iter()
            .map(|s| s.originator_version)
            .collect();
        assert_eq!(versions, [2, 4, 6]);
        assert_eq!(app.get_world(world_id).unwrap().version(), 7);
    }

    /// §2.6: a second application object over the same database sees what the first stored.
    fn second_application_sees_the_state(backend) {
        let first = worlds(backend);
        let world_id = world_of_three(&first);
        drop(first);
        let second = worlds(backend);
        assert_eq!(
            second.get_world_history(world_id).unwrap(),
            ["dinosaurs", "trucks", "internet"]
        );
        let section = second.app().log().section("1,10").unwrap();
        assert_eq!(section.id.as_deref(), Some("1,4"));
    }

    /// §2.6 and optimistic concurrency: when another application object saved the same
    /// version first, saving is a conflict naming the aggregate and version (an integrity
    /// error) and stores nothing; the aggregate keeps its pending events; getting it again and
    /// retrying succeeds.
    fn concurrent_writer_conflicts_then_retry_succeeds(backend) {
        let first = worlds(backend);
        let second = worlds(backend);
        let world_id = first.create_world().unwrap();

        let mut mine: World = first.app().repository().get(world_id).unwrap();
        let mut theirs: World = second.app().repository().get(world_id).unwrap();
        theirs.make_it_so("trucks".to_string());
        second.app().save(&mut theirs).unwrap();

        mine.make_it_so("dinosaurs".to_string());
        let error = first.app().save(&mut mine).unwrap_err();
        assert!(error.is_integrity(), "{error}");
        assert!(!error.is_not_found());
        assert_eq!(error.conflict(), Some((world_id, 2)), "{error:?}");
        assert_eq!(
            error.to_string(),
            format!("conflict: aggregate {world_id} already has version 2")
        );
        assert_eq!(mine.pending_events().len(), 1);
        assert_eq!(first.get_world_history(world_id).unwrap(), ["trucks"]);

        // Retry: get the aggregate again and run the command again.
        let mut mine: World = first.app().repository().get(world_id).unwrap();
        mine.make_it_so("dinosaurs".to_string());
        first.app().save(&mut mine).unwrap();
        assert!(mine.pending_events().is_empty());
        assert_eq!(
            second.get_world_history(world_id).unwrap(),
            ["trucks", "dinosaurs"]
        );
        let section = second.app().log().section("1,10").unwrap();
        let versions: Vec<u64> = section.items.iter().map(|n| n.originator_version).collect();
        assert_eq!(versions, [1, 2, 3]);
        if backend.name() != "postgres" {
            // PostgreSQL's sequence leaves a gap where the conflicting insert was rolled back.
            assert_eq!(section.id.as_deref(), Some("1,3"));
        }
    }

    /// Saving several aggregates at once, the conflict names the one that conflicted (here
    /// the second, whose third and fourth events another writer saved first), and nothing of
    /// the others is stored.
    fn a_conflict_in_a_save_of_several_names_the_aggregate(backend) {
        let first = worlds(backend);
        let second = worlds(backend);
        let stale_id = world_of_three(&first);
        let mut stale: World = first.app().repository().get_at(stale_id, 2).unwrap();
        let mut fresh = World::create();
        fresh.make_it_so("jazz".to_string());
        stale.make_it_so("late".to_string());
        stale.make_it_so("later".to_string());
        let error = second.app().save((&mut fresh, &mut stale)).unwrap_err();
        assert_eq!(error.conflict(), Some((stale_id, 3)), "{error:?}");
        assert!(second
            .app()
            .repository()
            .get::<World>(fresh.id())
            .unwrap_err()
            .is_not_found());
        assert_eq!(fresh.pending_events().len(), 2);

        // Errors that are not conflicts say so.
        assert_eq!(second.get_world(Uuid::new_v4()).unwrap_err().conflict(), None);
    }

    /// A named world: a version 5 id from its name; creating it twice conflicts; opening it
    /// gets it or creates it.
    fn named_worlds(backend) {
        let app = worlds(backend);
        let id = Worlds::named_world_id("Earth");
        assert_eq!(id.get_version_num(), 5);
        assert_eq!(id, eventsourcing::domain::url_id("/worlds/Earth"));
        assert_eq!(app.open_named_world("Earth").unwrap(), id);
        app.make_it_so(id, "dinosaurs").unwrap();
        assert_eq!(app.open_named_world("Earth").unwrap(), id);
        assert!(app.create_named_world("Earth").unwrap_err().is_integrity());
        assert_eq!(app.get_world_history(id).unwrap(), ["dinosaurs"]);
        assert_ne!(app.open_named_world("Mars").unwrap(), id);
    }

    /// The `worlds` program's logic: the second run, over the same database, shows the first
    /// run's events.
    fn demo_runs_continue(backend) {
        let mut out = Vec::new();
        eventsourcing_examples::world::demo(&worlds(backend), "Earth", None, &mut out).unwrap();
        let first = String::from_utf8(out).unwrap();
        assert!(first.contains("History of \"Earth\", 2 events"), "{first}");
        assert!(first.contains("dinosaurs happened"), "{first}");

        let mut out = Vec::new();
        eventsourcing_examples::world::demo(&worlds(backend), "Earth", Some("jazz"), &mut out)
            .unwrap();
        let second = String::from_utf8(out).unwrap();
        assert!(second.contains("History of \"Earth\", 3 events"), "{second}");
        assert!(second.contains("dinosaurs happened"), "{second}");
        assert!(second.contains("jazz happened"), "{second}");
        assert!(second.contains("So far: dinosaurs, jazz"), "{second}");
    }
}

#[test]
fn notification_log_trait_is_usable_as_an_object() {
    let app = Worlds::with_builder(Worlds::builder().without_process_env()).unwrap();
    let log: &dyn NotificationLog = app.app().log();
    assert_eq!(log.section("1,10").unwrap().id, None);
}
