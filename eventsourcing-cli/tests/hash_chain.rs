//! `verify` on hash-chained stores (`HASH_CHAIN`): it passes a clean store, and finds each of a
//! corrupted state, a deleted event, a changed version and a forged event, changed by SQL.

mod common;

use common::*;
use eventsourcing::persistence::AesCipher;
use eventsourcing_examples::world::Worlds;
use serde_json::Value;
use uuid::Uuid;

/// A chained store: Worlds, the first world four events, the second three. Returns the ids.
fn write_chained_worlds(env: &[(String, String)]) -> (Uuid, Uuid) {
    let worlds = Worlds::with_builder(builder(Worlds::NAME, env).hash_chain(true))
        .expect("build Worlds with a hash chain");
    let first = worlds.create_world().expect("create");
    worlds.make_it_so(first, "dinosaurs").expect("save");
    worlds.make_it_so(first, "trucks").expect("save");
    let second = worlds.create_world().expect("create");
    worlds.make_it_so(first, "internet").expect("save");
    worlds.make_it_so(second, "fire").expect("save");
    worlds.make_it_so(second, "water").expect("save");
    (first, second)
}

/// The faults `verify --json` reported: kind, aggregate, version.
fn faults(env: &[(String, String)], args: &[&str]) -> Vec<(String, Uuid, u64)> {
    let report = run(env, &[&["verify", "--json"], args].concat());
    assert!(report.code <= 1, "{report:?}");
    let value: Value = serde_json::from_str(&report.stdout).unwrap();
    let faults: Vec<(String, Uuid, u64)> = value["applications"][0]["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["originator_id"].as_str().unwrap().parse().unwrap(),
                f["originator_version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(report.code == 1, !faults.is_empty(), "{report:?}");
    faults
}

fn fault(kind: &str, id: Uuid, version: u64) -> (String, Uuid, u64) {
    (kind.to_string(), id, version)
}

/// A fresh chained SQLite store, changed by `sql` (with `?1` the first world's id and `?2`
/// the second's, as stored); its faults.
fn tampered(label: &str, sql: &str) -> (Vec<(String, Uuid, u64)>, Uuid, Uuid) {
    let db = TempDb::new(label);
    let env = sqlite_env(db.path());
    let (first, second) = write_chained_worlds(&env);
    let connection = rusqlite::Connection::open(db.path()).unwrap();
    let ids = [first.simple().to_string(), second.simple().to_string()];
    let mut statement = connection.prepare(sql).unwrap();
    let changed = match statement.parameter_count() {
        0 => statement.execute([]),
        1 => statement.execute([&ids[0]]),
        _ => statement.execute([&ids[0], &ids[1]]),
    }
    .unwrap();
    assert_eq!(changed, 1, "{sql}");
    (faults(&env, &[]), first, second)
}

#[test]
fn a_clean_chained_store_verifies() {
    let db = TempDb::new("cli-chain-clean");
    let env = sqlite_env(db.path());
    write_chained_worlds(&env);
    assert_eq!(faults(&env, &[]), []);
    assert_eq!(faults(&env, &["--hash-chain"]), []);
    let report = run(&env, &["verify", "--json"]).json();
    assert_eq!(report["applications"][0]["hash_chained_aggregates"], 2);
    let text = run(&env, &["verify"]);
    assert!(
        text.ok().contains("2 hash-chained aggregates: ok"),
        "{text:?}"
    );
}

#[test]
fn a_corrupted_state_is_found() {
    let (faults, first, _) = tampered(
        "cli-chain-state",
        "UPDATE stored_events SET state = CAST(replace(CAST(state AS TEXT), 'dinosaurs', \
         'dinosaurz') AS BLOB) WHERE originator_id = ?1 AND originator_version = 2",
    );
    assert_eq!(faults, [fault("chain_altered", first, 2)]);
}

#[test]
fn a_deleted_event_is_found() {
    let (faults, _, second) = tampered(
        "cli-chain-delete",
        "DELETE FROM stored_events WHERE originator_id = ?2 AND originator_version = 2",
    );
    assert_eq!(
        faults,
        [
            fault("version_gap", second, 3),
            fault("chain_broken", second, 3)
        ]
    );
}

#[test]
fn a_changed_version_is_found() {
    // The last event's version: no gap or duplicate to see, only the chain.
    let (faults, first, _) = tampered(
        "cli-chain-version",
        "UPDATE stored_events SET originator_version = 5 WHERE originator_id = ?1 AND \
         originator_version = 4",
    );
    assert_eq!(
        faults,
        [
            fault("version_gap", first, 5),
            fault("chain_altered", first, 5)
        ]
    );
}

#[test]
fn a_forged_event_is_found() {
    // A copy of an event, inserted at a new version: the versions look right.
    let (faults, first, _) = tampered(
        "cli-chain-forge",
        "INSERT INTO stored_events (originator_id, originator_version, topic, state) SELECT \
         originator_id, 5, topic, state FROM stored_events WHERE originator_id = ?1 AND \
         originator_version = 2",
    );
    assert_eq!(
        faults,
        [
            fault("chain_altered", first, 5),
            fault("chain_broken", first, 5)
        ]
    );
}

#[test]
fn unchained_events_are_faults_in_a_chained_store() {
    let db = TempDb::new("cli-chain-mixed");
    let env = sqlite_env(db.path());
    write_chained_worlds(&env);
    // An aggregate written without the chain.
    let plain = Worlds::with_builder(builder(Worlds::NAME, &env)).unwrap();
    let third = plain.create_world().unwrap();
    plain.make_it_so(third, "moons").unwrap();
    assert_eq!(faults(&env, &[]), [fault("unchained", third, 1)]);
    let text = run(&env, &["verify"]);
    assert!(
        text.stdout
            .contains("versions 1 to 2 are not), and 2 other aggregates of the store are"),
        "{text:?}"
    );
    // Required: each of its events.
    assert_eq!(
        faults(&env, &["--hash-chain"]),
        [fault("unchained", third, 1), fault("unchained", third, 2)]
    );

    // A store without chains passes, unless they are required.
    let db = TempDb::new("cli-chain-none");
    let env = sqlite_env(db.path());
    write_worlds(&env);
    assert_eq!(faults(&env, &[]), []);
    assert_eq!(faults(&with(&env, &[("HASH_CHAIN", "y")]), &[]).len(), 7);
}

#[test]
fn a_chained_encrypted_store_with_per_aggregate_keys_verifies_and_finds_a_forgery() {
    let db = TempDb::new("cli-chain-keyed");
    let key = AesCipher::create_key(32).unwrap();
    let env = with(
        &sqlite_env(db.path()),
        &[
            ("CIPHER_TOPIC", "eventsourcing.cipher:AESCipher"),
            ("CIPHER_KEY", &key),
            (
                "COMPRESSOR_TOPIC",
                "eventsourcing.compressor:ZlibCompressor",
            ),
        ],
    );
    let worlds = Worlds::with_builder(
        builder(Worlds::NAME, &env)
            .hash_chain(true)
            .per_aggregate_keys(true),
    )
    .unwrap();
    let first = worlds.create_world().unwrap();
    worlds.make_it_so(first, "dinosaurs").unwrap();
    worlds.make_it_so(first, "trucks").unwrap();
    let second = worlds.create_world().unwrap();
    worlds.make_it_so(second, "fire").unwrap();
    worlds.app().forget(second).unwrap();
    let report = run(&env, &["verify", "--json"]).json();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["applications"][0]["hash_chained_aggregates"], 1);
    assert_eq!(report["applications"][0]["forgotten_aggregates"], 1);
    // Required, the forgotten aggregate is still not a fault, nor counted as chained.
    let report = run(&env, &["verify", "--json", "--hash-chain"]).json();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["applications"][0]["hash_chained_aggregates"], 1);
    // history shows the state without the chain fields (--json shows them).
    let history = run(&env, &["history", &first.to_string()]);
    assert!(!history.ok().contains("__event_hash__"), "{history:?}");
    let lines = run(&env, &["history", &first.to_string(), "--json"]).json_lines();
    assert!(lines[0]["state"]["__event_hash__"].is_string());
    // A replayed event (same key, so it decrypts).
    let connection = rusqlite::Connection::open(db.path()).unwrap();
    connection
        .execute(
            "INSERT INTO stored_events (originator_id, originator_version, topic, state) \
             SELECT originator_id, 4, topic, state FROM stored_events WHERE originator_id = ?1 \
             AND originator_version = 2",
            [first.simple().to_string()],
        )
        .unwrap();
    assert_eq!(
        faults(&env, &[]),
        [
            fault("chain_altered", first, 4),
            fault("chain_broken", first, 4)
        ]
    );
}
