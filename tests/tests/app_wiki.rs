//! The Wiki application (digest §2.10): a page and its name index saved together atomically;
//! name uniqueness through ids derived from names, enforced by the event store; both conflicts
//! leave nothing behind. Against memory and an SQLite file.

use eventsourcing::prelude::*;
use eventsourcing_examples::wiki::{Index, Page, Wiki, WikiError};
use eventsourcing_tests::{backend_tests, Backend};

fn wiki(backend: &Backend) -> Wiki {
    Wiki::with_builder(backend.configure(Wiki::builder())).unwrap()
}

/// How many notifications the log holds (counted, not the highest id: PostgreSQL's ids have a
/// gap where an insert was rolled back).
fn notification_count(wiki: &Wiki) -> u64 {
    wiki.app()
        .log()
        .recorder()
        .select_notifications(1, 1000)
        .unwrap()
        .len() as u64
}

backend_tests! {
    /// §2.10, step by step.
    fn pages_names_and_conflicts(backend) {
        let wiki = wiki(backend);

        wiki.create_page("Erth", "Lorem ipsum...").unwrap();
        assert_eq!(wiki.get_page("Erth").unwrap().body(), "Lorem ipsum...");
        // The page and its index, in one insert, in the order given.
        let section = wiki.app().log().section("1,10").unwrap();
        assert_eq!(section.id.as_deref(), Some("1,2"));
        assert!(section.items[0].topic.ends_with("Page.Created"), "{}", section.items[0].topic);
        assert!(section.items[1].topic.ends_with("Index.Created"), "{}", section.items[1].topic);
        assert_eq!(section.items[1].originator_id, Index::create_id("Erth"));

        wiki.rename_page("Erth", "Earth").unwrap();
        let earth = wiki.get_page("Earth").unwrap();
        assert_eq!(earth.body(), "Lorem ipsum...");
        assert_eq!(earth.name(), "Earth");
        assert_eq!(earth.version(), 2);
        assert_eq!(notification_count(&wiki), 4);

        // A second page named "Earth": the store refuses it, and nothing is stored.
        let error = wiki.create_page("Earth", "Neque porro quisquam...").unwrap_err();
        assert!(error.is_conflict(), "{error}");
        assert!(matches!(&error, WikiError::Application(e) if e.is_integrity()));
        assert_eq!(wiki.get_page("Earth").unwrap().body(), "Lorem ipsum...");
        assert_eq!(notification_count(&wiki), 4);

        // Renaming another page to "Earth": refused too, and the rename is rolled back with
        // the index: Mars keeps its name and version.
        let mars_id = wiki.create_page("Mars", "Neque porro quisquam...").unwrap();
        assert_eq!(notification_count(&wiki), 6);
        let error = wiki.rename_page("Mars", "Earth").unwrap_err();
        assert!(error.is_conflict(), "{error}");
        assert_eq!(notification_count(&wiki), 6);
        assert_eq!(wiki.get_page("Earth").unwrap().body(), "Lorem ipsum...");
        let mars = wiki.get_page("Mars").unwrap();
        assert_eq!(mars.body(), "Neque porro quisquam...");
        assert_eq!(mars.name(), "Mars");
        assert_eq!(mars.version(), 1);
        assert_eq!(mars.id(), mars_id);
        let mars_again: Page = wiki.app().repository().get(mars_id).unwrap();
        assert_eq!(mars_again.version(), 1);
        let earth_index: Index = wiki.app().repository().get(Index::create_id("Earth")).unwrap();
        assert_eq!(earth_index.page_id(), earth.id());
        assert_eq!(earth_index.version(), 1);
    }

    /// Old names keep leading to the renamed page, and stay taken.
    fn old_names_redirect(backend) {
        let wiki = wiki(backend);
        let id = wiki.create_page("Erth", "Lorem ipsum...").unwrap();
        wiki.rename_page("Erth", "Earth").unwrap();
        assert_eq!(wiki.get_page("Erth").unwrap().id(), id);
        assert_eq!(wiki.get_page("Erth").unwrap().name(), "Earth");
        assert!(wiki.create_page("Erth", "").unwrap_err().is_conflict());
    }

    /// A name no page has: `PageNotFound`, naming it. Renaming a missing page stores nothing.
    fn missing_pages(backend) {
        let wiki = wiki(backend);
        match wiki.get_page("Venus") {
            Err(WikiError::PageNotFound(name)) => assert_eq!(name, "Venus"),
            other => panic!("expected PageNotFound, got {other:?}"),
        }
        let error = wiki.rename_page("Venus", "Vesta").unwrap_err();
        assert_eq!(error.to_string(), "there is no page named \"Venus\"");
        assert!(!error.is_conflict());
        assert_eq!(notification_count(&wiki), 0);
    }

    /// Another application object over the same database sees the pages, and its writes
    /// conflict with the first's.
    fn two_wikis(backend) {
        let first = wiki(backend);
        let second = wiki(backend);
        first.create_page("Erth", "Lorem ipsum...").unwrap();
        second.rename_page("Erth", "Earth").unwrap();
        assert_eq!(first.get_page("Earth").unwrap().version(), 2);
        assert!(second.create_page("Earth", "again").unwrap_err().is_conflict());
        first.update_body("Earth", "Dolor sit amet.").unwrap();
        assert_eq!(second.get_page("Earth").unwrap().body(), "Dolor sit amet.");
    }

    /// The `wiki` program's logic: the first run creates and renames, the second continues.
    fn demo_runs_continue(backend) {
        let mut out = Vec::new();
        eventsourcing_examples::wiki::demo(&wiki(backend), &mut out).unwrap();
        let first = String::from_utf8(out).unwrap();
        assert!(first.contains("Renamed \"Erth\" to \"Earth\""), "{first}");
        assert!(first.contains("was refused"), "{first}");

        let mut out = Vec::new();
        eventsourcing_examples::wiki::demo(&wiki(backend), &mut out).unwrap();
        let second = String::from_utf8(out).unwrap();
        assert!(!second.contains("Renamed"), "{second}");
        assert!(second.contains("version 4"), "{second}");
        assert!(second.contains("Edit number 2.") && second.contains("Edit number 3."), "{second}");
    }
}
