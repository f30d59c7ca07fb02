//! Tamper-evident history (`HASH_CHAIN`, feature `hash-chain`): each aggregate's events are
//! hash-chained, readers that don't know the chain read them as usual, and
//! `Application::verify_hash_chain` finds a modified, deleted, reordered, re-versioned or
//! forged event, in SQLite and PostgreSQL, plain and encrypted; a clean chain passes on every
//! backend.

use eventsourcing::persistence::hash_chain::ChainFault;
use eventsourcing::persistence::{AesCipher, EventQuery};
use eventsourcing::prelude::*;
use eventsourcing_tests::{backend_tests, Backend};

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dog {
    name: String,
    tricks: Vec<String>,
}

#[aggregate(module = "dogs")]
impl Dog {
    #[created("Registered")]
    pub fn register(name: String) -> Self {
        Dog {
            name,
            tricks: Vec::new(),
        }
    }

    #[event("TrickAdded")]
    pub fn add_trick(&mut self, trick: String) {
        self.tricks.push(trick);
    }
}

/// A dog with three tricks, saved in three saves (so later saves chain to stored events).
fn fido(app: &Application) -> Dog {
    let mut dog = Dog::register("Fido".into());
    dog.add_trick("sit".into());
    app.save(&mut dog).unwrap();
    for trick in ["roll over", "play dead"] {
        let mut dog: Dog = app.repository().get(dog.id()).unwrap();
        dog.add_trick(trick.into());
        app.save(&mut dog).unwrap();
    }
    app.repository().get(dog.id()).unwrap()
}

backend_tests! {
    fn a_clean_chain_passes_and_reads_as_usual(backend) {
        let app = backend.builder("Dogs").hash_chain(true).zlib_compression().build().unwrap();
        let dog = fido(&app);
        assert_eq!(dog.tricks, ["sit", "roll over", "play dead"]);
        assert!(app.verify_hash_chain(dog.id()).unwrap().is_empty());
        // The chain fields come first in the stored JSON, and a reader without the setting
        // reads the events as usual.
        let plain = backend.builder("Dogs").zlib_compression().build().unwrap();
        assert_eq!(plain.repository().get::<Dog>(dog.id()).unwrap(), dog);
        let stored = app.recorder().select_events(dog.id(), &EventQuery::new()).unwrap();
        let state = app.mapper().plain_state(&stored[1].state).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&state).unwrap();
        assert!(state.starts_with(b"{\"__event_hash__\":\""), "{}", String::from_utf8_lossy(&state));
        assert_eq!(json["trick"], "sit");
        // Events saved without the setting are reported as unchained.
        let mut rex = Dog::register("Rex".into());
        plain.save(&mut rex).unwrap();
        assert_eq!(app.verify_hash_chain(rex.id()).unwrap(), [ChainFault::Unchained { version: 1 }]);
        // And chaining to them is refused, plainly.
        let mut rex: Dog = app.repository().get(rex.id()).unwrap();
        rex.add_trick("fetch".into());
        let error = app.save(&mut rex).unwrap_err();
        assert!(error.to_string().contains("not hash-chained"), "{error}");
    }

    fn chains_under_per_aggregate_keys(backend) {
        let app = backend
            .keyed_builder("Dogs", &AesCipher::create_key(32).unwrap())
            .hash_chain(true)
            .build()
            .unwrap();
        let dog = fido(&app);
        assert!(app.verify_hash_chain(dog.id()).unwrap().is_empty());
    }
}

/// Rewrites the stored events of `id` with `sql` (statements with `{table}` and `{id}`), in
/// SQLite or PostgreSQL.
fn tamper(backend: &Backend, id: Uuid, sql: &str) {
    match backend {
        Backend::SqliteFile(db) => {
            let connection = rusqlite::Connection::open(db.path()).unwrap();
            let sql = sql
                .replace("{table}", "stored_events")
                .replace("{id}", &format!("'{}'", id.simple()));
            connection.execute_batch(&sql).unwrap();
        }
        Backend::Postgres(schema) => {
            let mut client = eventsourcing_tests::pg::connect().unwrap();
            let sql = sql
                .replace("{table}", &format!("{}.dogs_events", schema.name()))
                .replace("{id}", &format!("'{id}'"));
            client.batch_execute(&sql).unwrap();
        }
        Backend::Memory { .. } => unreachable!("no raw access to memory"),
    }
}

fn faults_after(backend: &Backend, encrypted: bool, sql: &str) -> Vec<ChainFault> {
    let key = AesCipher::create_key(32).unwrap();
    let builder = backend.builder("Dogs").hash_chain(true);
    let app = if encrypted {
        builder.cipher_key(&key)
    } else {
        builder
    }
    .build()
    .unwrap();
    let dog = fido(&app);
    assert!(app.verify_hash_chain(dog.id()).unwrap().is_empty());
    tamper(backend, dog.id(), sql);
    app.verify_hash_chain(dog.id()).unwrap()
}

fn tampering_is_found(backend: Backend) {
    use ChainFault::*;
    // Modified state (plain: a changed trick).
    let modified = "UPDATE {table} SET state = CAST(REPLACE(CAST(state AS TEXT), 'roll over', 'roll under') AS BLOB) WHERE originator_id = {id} AND originator_version = 3";
    let modified = match backend {
        Backend::Postgres(_) => "UPDATE {table} SET state = convert_to(replace(convert_from(state, 'UTF8'), 'roll over', 'roll under'), 'UTF8') WHERE originator_id = {id} AND originator_version = 3",
        _ => modified,
    };
    assert_eq!(
        faults_after(&backend, false, modified),
        [Altered { version: 3 }]
    );
    // A deleted event.
    let deleted = "DELETE FROM {table} WHERE originator_id = {id} AND originator_version = 2";
    assert_eq!(
        faults_after(&backend, false, deleted),
        [Broken { version: 3 }]
    );
    assert_eq!(
        faults_after(&backend, true, deleted),
        [Broken { version: 3 }]
    );
    // A changed version (the last event moved up one).
    let changed = "UPDATE {table} SET originator_version = 5 WHERE originator_id = {id} AND originator_version = 4";
    assert_eq!(
        faults_after(&backend, false, changed),
        [Altered { version: 5 }]
    );
    assert_eq!(
        faults_after(&backend, true, changed),
        [Altered { version: 5 }]
    );
    // Reordered: versions 2 and 3 swapped (encrypted states decrypt fine under one key).
    let swapped = "UPDATE {table} SET originator_version = 100 WHERE originator_id = {id} AND originator_version = 2; \
                   UPDATE {table} SET originator_version = 2 WHERE originator_id = {id} AND originator_version = 3; \
                   UPDATE {table} SET originator_version = 3 WHERE originator_id = {id} AND originator_version = 100;";
    let expected = [
        Altered { version: 2 },
        Broken { version: 2 },
        Altered { version: 3 },
        Broken { version: 3 },
        Broken { version: 4 },
    ];
    assert_eq!(faults_after(&backend, false, swapped), expected);
    assert_eq!(faults_after(&backend, true, swapped), expected);
    // A forged event: a copy of version 3's state (hash fields and all) inserted as version 5.
    let forged = "INSERT INTO {table} (originator_id, originator_version, topic, state) \
                  SELECT originator_id, 5, topic, state FROM {table} WHERE originator_id = {id} AND originator_version = 3";
    assert_eq!(
        faults_after(&backend, false, forged),
        [Altered { version: 5 }, Broken { version: 5 }]
    );
    assert_eq!(
        faults_after(&backend, true, forged),
        [Altered { version: 5 }, Broken { version: 5 }]
    );
}

#[test]
fn tampering_is_found_in_sqlite() {
    tampering_is_found(Backend::sqlite_file("hash_chain_tamper"));
}

#[test]
fn tampering_is_found_in_postgres() {
    if let Some(backend) = Backend::postgres("hash_chain_tamper") {
        tampering_is_found(backend);
    }
}
