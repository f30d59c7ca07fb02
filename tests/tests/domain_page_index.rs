//! Pages and their name index, with ids derived from names (version 5 UUIDs in the URL
//! namespace): the explicit style (digest §1.14 E), the declarative style (§1.14 F.17), and
//! §1.12.

use eventsourcing::domain::url_id;
use eventsourcing::prelude::*;
use eventsourcing_tests::{load, store};
use serde_json::json;

/// The ids Python computes: `uuid5(NAMESPACE_URL, "/pages/Erth")` and `".../Earth"`.
const ERTH_ID: &str = "c51b7c66-7c30-50d0-81ce-f32424f1de02";
const EARTH_ID: &str = "29d224d6-64b5-5452-9198-9f475b03e36b";

#[test]
fn url_ids_are_python_uuid5_in_the_url_namespace() {
    let erth = url_id("/pages/Erth");
    assert_eq!(erth.to_string(), ERTH_ID);
    assert_eq!(erth.get_version_num(), 5);
    assert_eq!(erth.get_variant(), uuid::Variant::RFC4122);
    assert_eq!(url_id("/pages/Earth").to_string(), EARTH_ID);
    assert_ne!(url_id("/pages/Earth"), erth);
}

/// Digest §1.14 E: `Page.create(name, body="")`, `Index.create(name, ref)` with
/// `create_id(name)`, and the `NameUpdated` / `RefUpdated` events. Adapted: `body` has no
/// default argument in Rust, and `ref` is a keyword, so the argument is `r#ref` (stored as
/// "ref").
mod explicit {
    use eventsourcing::domain::url_id;
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Page {
        pub name: String,
        pub body: String,
    }

    #[aggregate]
    impl Page {
        #[created("Created")]
        pub fn create(name: String, body: String) -> Self {
            Page { name, body }
        }

        pub fn update_name(&mut self, name: &str) {
            self.name_updated(name.to_string());
        }

        #[event("NameUpdated")]
        fn name_updated(&mut self, name: String) {
            self.name = name;
        }
    }

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Index {
        pub name: String,
        pub r#ref: Option<Uuid>,
    }

    #[aggregate]
    impl Index {
        #[created("Created")]
        pub fn create(name: String, r#ref: Uuid) -> Self {
            Index {
                name,
                r#ref: Some(r#ref),
            }
        }

        pub fn create_id(name: &str) -> Uuid {
            url_id(&format!("/pages/{name}"))
        }

        pub fn update_ref(&mut self, r#ref: Option<Uuid>) {
            self.ref_updated(r#ref);
        }

        #[event("RefUpdated")]
        fn ref_updated(&mut self, r#ref: Option<Uuid>) {
            self.r#ref = r#ref;
        }
    }
}

#[test]
fn explicit_page_and_index() {
    use explicit::{Index, IndexEvent, Page};

    let mut page = Page::create("Erth".to_string(), String::new());
    assert_eq!(page.body, "");
    // Page ids are random (version 4).
    assert_eq!(page.id().get_version_num(), 4);

    let index1 = Index::create(page.name.clone(), page.id());
    assert_eq!(Index::create_id("Erth"), index1.id());
    assert_eq!(index1.id().to_string(), ERTH_ID);
    assert_eq!(index1.r#ref, Some(page.id()));

    page.update_name("Earth");
    assert_eq!(page.name, "Earth");
    assert_eq!(page.version(), 2);
    let index2 = Index::create(page.name.clone(), page.id());
    assert_eq!(Index::create_id("Earth"), index2.id());
    assert_eq!(index2.id().to_string(), EARTH_ID);
    assert_eq!(index2.r#ref, Some(page.id()));
    assert_ne!(index2.id(), index1.id());

    // The raw identifier is stored under its plain name.
    let state = store(&index2.pending_events()[0]).state_json();
    assert_eq!(state["ref"], json!(page.id()));
    assert_eq!(state["name"], json!("Earth"));
    let loaded = load::<IndexEvent>(&store(&index2.pending_events()[0])).unwrap();
    assert_eq!(loaded, index2.pending_events()[0]);
}

/// Digest §1.14 F.17: the same aggregates in the dataclass style, where `Index.ref` is
/// `Optional[UUID]` from the start and `update_ref` is the `@event("RefUpdated")` method.
mod declarative {
    use eventsourcing::domain::url_id;
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Page {
        pub name: String,
        pub body: String,
    }

    #[aggregate]
    impl Page {
        #[created]
        pub fn create(name: String, body: String) -> Self {
            Page { name, body }
        }

        #[event("NameUpdated")]
        pub fn update_name(&mut self, name: String) {
            self.name = name;
        }
    }

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Index {
        pub name: String,
        pub r#ref: Option<Uuid>,
    }

    #[aggregate]
    impl Index {
        #[created]
        pub fn create(name: String, r#ref: Option<Uuid>) -> Self {
            Index { name, r#ref }
        }

        pub fn create_id(name: &str) -> Uuid {
            url_id(&format!("/pages/{name}"))
        }

        #[event("RefUpdated")]
        pub fn update_ref(&mut self, r#ref: Option<Uuid>) {
            self.r#ref = r#ref;
        }
    }
}

#[test]
fn declarative_page_and_index() {
    use declarative::{Index, IndexEvent, Page, PageEvent};

    let mut page = Page::create("Erth".to_string(), String::new());
    let mut index1 = Index::create(page.name.clone(), Some(page.id()));
    assert_eq!(Index::create_id("Erth"), index1.id());
    assert_eq!(index1.id().to_string(), ERTH_ID);
    assert_eq!(index1.r#ref, Some(page.id()));
    assert_eq!(index1.name, page.name);

    page.update_name("Earth".to_string());
    index1.update_ref(None);
    assert_eq!(index1.r#ref, None);
    assert_eq!(index1.version(), 2);
    let index2 = Index::create(page.name.clone(), Some(page.id()));
    assert_eq!(Index::create_id("Earth"), index2.id());
    assert_eq!(index2.id().to_string(), EARTH_ID);
    assert_eq!(index2.r#ref, Some(page.id()));
    assert_eq!(index2.name, page.name);

    let page_events = page.collect_events();
    assert!(matches!(
        &page_events[1].payload,
        PageEvent::NameUpdated { name } if name == "Earth"
    ));
    let index_events = index1.collect_events();
    assert_eq!(
        index_events[1].payload,
        IndexEvent::RefUpdated { r#ref: None }
    );
    assert_eq!(store(&index_events[1]).state_json()["ref"], json!(null));

    // Replaying through stored JSON keeps the derived id and the cleared ref.
    let stored: Vec<_> = index_events.iter().map(store).collect();
    let loaded: Vec<_> = stored
        .iter()
        .map(|s| load::<IndexEvent>(s).unwrap())
        .collect();
    let copy = Index::from_events(loaded).unwrap();
    assert_eq!(copy.id(), Index::create_id("Erth"));
    assert_eq!(copy.name, "Erth");
    assert_eq!(copy.r#ref, None);
    assert_eq!(copy, index1);
}
