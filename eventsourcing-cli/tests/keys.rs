//! The `eventsourcing` command on stores written with per-aggregate keys (SQLite and
//! PostgreSQL), one aggregate forgotten: `history`, `tail`, `verify`, `info`, faults of the
//! key table injected by SQL, a keyed store read without `CIPHER_KEY`, and an export from
//! SQLite imported into PostgreSQL that the application reads the same.

mod common;

use std::path::Path;

use common::*;
use eventsourcing::persistence::AesCipher;
use eventsourcing_examples::world::Worlds;
use serde_json::Value;
use uuid::Uuid;

/// A keyed store: Worlds with snapshots and per-aggregate keys, the first world four events
/// (snapshotted at version 3), the second three events, then forgotten. Returns the
/// application and the ids.
fn write_keyed_worlds(env: &[(String, String)]) -> (Worlds, Uuid, Uuid) {
    let worlds = Worlds::with_builder(
        builder(Worlds::NAME, env)
            .snapshotting(true)
            .per_aggregate_keys(true),
    )
    .expect("build Worlds with per-aggregate keys");
    let first = worlds.create_world().expect("create");
    worlds.make_it_so(first, "dinosaurs").expect("save");
    worlds.make_it_so(first, "trucks").expect("save");
    worlds.take_snapshot(first).expect("snapshot");
    let second = worlds.create_world().expect("create");
    worlds.make_it_so(first, "internet").expect("save");
    worlds.make_it_so(second, "fire").expect("save");
    worlds.make_it_so(second, "water").expect("save");
    worlds.app().forget(second).expect("forget");
    (worlds, first, second)
}

/// The variables of a store, with an application key.
fn keyed(env: &[(String, String)], key: &str) -> Vec<(String, String)> {
    with(
        env,
        &[
            ("CIPHER_TOPIC", "eventsourcing.cipher:AESCipher"),
            ("CIPHER_KEY", key),
        ],
    )
}

/// The store's variables without the application key.
fn without_key(env: &[(String, String)]) -> Vec<(String, String)> {
    env.iter()
        .filter(|(k, _)| !k.starts_with("CIPHER_"))
        .cloned()
        .collect()
}

/// What `history`, `tail`, `verify` and `info` say of a keyed store written by
/// [`write_keyed_worlds`] (`app` selects Worlds where the store has several applications).
fn check_keyed_store(env: &[(String, String)], app: &[&str], first: Uuid, second: Uuid) {
    let args = |more: &[&str]| -> Vec<String> {
        app.iter()
            .chain(more.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let call = |more: &[&str]| {
        let args = args(more);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(env, &args)
    };
    // The history of an aggregate that is not forgotten: decrypted under its key.
    let history = call(&["history", &first.to_string(), "--json"]).json_lines();
    let whats: Vec<Value> = history.iter().map(|e| e["state"]["what"].clone()).collect();
    assert_eq!(whats[1..], ["dinosaurs", "trucks", "internet"]);

    // A forgotten aggregate's: said, its events listed without state, exit 0.
    let forgotten = call(&["history", &second.to_string()]);
    let text = forgotten.ok();
    assert!(
        text.starts_with(&format!("aggregate {second} was forgotten")),
        "{forgotten:?}"
    );
    assert_eq!(text.matches("forgotten").count(), 4, "{text}");
    let lines = call(&["history", &second.to_string(), "--json"]).json_lines();
    assert_eq!(lines.len(), 3);
    assert!(lines
        .iter()
        .all(|l| l["forgotten"] == true && l["state"].is_null()));
    assert_eq!(lines[2]["originator_version"], 3);

    // The log: forgotten notifications as such, the others decoded.
    let tail = call(&["tail", "--json", "-n", "100"]).json_lines();
    assert_eq!(tail.len(), 7);
    for line in &tail {
        let is_second = line["originator_id"] == second.to_string();
        assert_eq!(line["forgotten"] == true, is_second, "{line}");
        assert_eq!(line["state"].is_object(), !is_second, "{line}");
    }
    let text = call(&["tail"]);
    assert_eq!(text.ok().matches("  forgotten").count(), 3, "{text:?}");

    // verify passes, and counts the forgotten.
    let report = call(&["verify", "--json"]).json();
    assert_eq!(report["ok"], true, "{report}");
    let worlds = &report["applications"][0];
    assert_eq!(worlds["events"], 7);
    assert_eq!(worlds["snapshots"], 1);
    assert_eq!(worlds["data_keys"], 2);
    assert_eq!(worlds["forgotten_aggregates"], 1);
    assert_eq!(worlds["forgotten_events"], 3);
    let text = call(&["verify"]);
    assert!(
        text.ok()
            .contains("2 data keys, 1 forgotten aggregate, 3 forgotten events: ok"),
        "{text:?}"
    );

    // info counts the keys.
    let info = call(&["info", "--json"]).json();
    let worlds = &info["applications"][0];
    assert_eq!(worlds["per_aggregate_keys"], true);
    assert_eq!(worlds["data_keys"], 2);
    assert_eq!(worlds["forgotten"], 1);
    let text = call(&["info"]);
    assert!(text.ok().contains("FORGOTTEN"), "{text:?}");

    // Without the application key: a clear one-line error, exit 2, from every reader.
    let env = without_key(env);
    for command in [
        &["history", &first.to_string()][..],
        &["tail"],
        &["verify"],
        &["info"],
    ] {
        let args = args(command);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let error = run(&env, &args);
        let line = error.error();
        assert!(
            line.contains("has per-aggregate keys") && line.contains("no CIPHER_KEY"),
            "{line}"
        );
    }
    // With the wrong one: verify says the settings are wrong.
    let wrong = keyed(&env, &AesCipher::create_key(32).unwrap());
    let args = args(&["verify"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let error = run(&wrong, &args);
    assert!(error.error().contains("data key"), "{error:?}");
}

#[test]
fn a_keyed_sqlite_store_shows_forgotten_aggregates_as_forgotten() {
    let db = TempDb::new("cli-keyed");
    let key = AesCipher::create_key(32).unwrap();
    let env = keyed(&sqlite_env(db.path()), &key);
    let (_worlds, first, second) = write_keyed_worlds(&env);
    check_keyed_store(&env, &[], first, second);
}

#[test]
fn a_keyed_postgres_store_shows_forgotten_aggregates_as_forgotten() {
    let Some(schema) = TempSchema::new("cli_keyed") else {
        return;
    };
    let key = AesCipher::create_key(32).unwrap();
    let env = keyed(&schema.env(), &key);
    let (worlds, first, second) = write_keyed_worlds(&env);
    // Another application beside it, without keys.
    write_bank(&env);
    check_keyed_store(&env, &["--app", "Worlds"], first, second);

    // An orphan key and keyless events (of a third world), by SQL.
    let third = worlds.create_world().unwrap();
    worlds.make_it_so(third, "moons").unwrap();
    let orphan = Uuid::new_v4();
    let mut client = eventsourcing_tests::pg::connect().unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO {s}.worlds_data_keys VALUES ('{orphan}', '\\x00ff'::bytea); \
             DELETE FROM {s}.worlds_data_keys WHERE originator_id = '{third}';",
            s = schema.name()
        ))
        .unwrap();
    let report = run(&env, &["--app", "Worlds", "verify", "--json"]);
    assert_eq!(report.code, 1, "{report:?}");
    let kinds = fault_kinds(&report);
    assert!(
        kinds.contains(&("orphan_data_key".into(), orphan.to_string())),
        "{kinds:?}"
    );
    // The third world's two events have no key.
    let keyless = kinds
        .iter()
        .filter(|(kind, id)| kind == "no_data_key" && *id == third.to_string())
        .count();
    assert_eq!(keyless, 2, "{kinds:?}");
    assert_eq!(kinds.len(), 3, "{kinds:?}");
}

/// The kinds of the faults `verify --json` reported, with their aggregates.
fn fault_kinds(report: &Run) -> Vec<(String, String)> {
    let report: Value = serde_json::from_str(&report.stdout).unwrap();
    report["applications"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["faults"].as_array().unwrap().clone())
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["originator_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn keyless_events_and_orphan_keys_are_faults_in_sqlite() {
    let db = TempDb::new("cli-keyless");
    let key = AesCipher::create_key(32).unwrap();
    let env = keyed(&sqlite_env(db.path()), &key);
    let (worlds, first, second) = write_keyed_worlds(&env);
    drop(worlds);
    let orphan = Uuid::new_v4();
    let connection = rusqlite::Connection::open(db.path()).unwrap();
    connection
        .execute(
            "INSERT INTO stored_data_keys VALUES (?1, NULL)",
            [orphan.simple().to_string()],
        )
        .unwrap();
    let report = run(&env, &["verify", "--json"]);
    assert_eq!(report.code, 1, "{report:?}");
    assert_eq!(
        fault_kinds(&report),
        [("orphan_data_key".to_string(), orphan.to_string())]
    );
    let text = run(&env, &["verify"]);
    assert!(
        text.stdout.contains(&format!(
            "data key of aggregate {orphan}: the aggregate has no events"
        )),
        "{text:?}"
    );

    // A forgotten aggregate's key row removed: its events are keyless.
    connection
        .execute(
            "DELETE FROM stored_data_keys WHERE originator_id = ?1",
            [second.simple().to_string()],
        )
        .unwrap();
    let report = run(&env, &["verify", "--json"]);
    let kinds = fault_kinds(&report);
    assert_eq!(
        kinds
            .iter()
            .filter(|(kind, id)| kind == "no_data_key" && *id == second.to_string())
            .count(),
        3,
        "{kinds:?}"
    );
    // history and tail say so in one line.
    let error = run(&env, &["history", &second.to_string()]);
    assert!(error.error().contains("no data key"), "{error:?}");
    assert!(run(&env, &["history", &first.to_string()]).code == 0);
}

fn lines(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_keyed_export_from_sqlite_imports_into_postgres_and_reads_the_same() {
    let Some(schema) = TempSchema::new("cli_keyed_import") else {
        return;
    };
    let dir = TempDir::new("cli-keyed-export");
    let db = TempDb::new("cli-keyed-export");
    let key = AesCipher::create_key(32).unwrap();
    let source = keyed(&sqlite_env(db.path()), &key);
    let (worlds, first, second) = write_keyed_worlds(&source);
    let file = dir.unique_file("jsonl");
    let path = file.to_string_lossy().into_owned();
    // No key is needed to export the stored bytes.
    let export = run(
        &without_key(&source),
        &["--app", "Worlds", "export", "--output", &path],
    );
    export.ok();
    assert!(
        export
            .stderr
            .contains("7 events, 1 snapshots, 0 tracking positions, 2 data keys"),
        "{export:?}"
    );
    let records = lines(&file);
    assert_eq!(records[0]["version"], 2);
    let keys: Vec<&Value> = records.iter().filter(|r| r["type"] == "data_key").collect();
    assert_eq!(keys.len(), 2);
    let forgotten = keys
        .iter()
        .find(|k| k["originator_id"] == second.to_string())
        .unwrap();
    assert!(forgotten["data_key"].is_null());
    assert_eq!(records.last().unwrap()["data_keys"], 2);

    let target = keyed(&schema.env(), &key);
    let import = run(&target, &["import", &path]);
    assert!(import.ok().contains("2 data keys"), "{import:?}");
    // The application reads the same aggregates; the forgotten one stays forgotten.
    let moved = Worlds::with_builder(
        builder(Worlds::NAME, &target)
            .snapshotting(true)
            .per_aggregate_keys(true),
    )
    .unwrap();
    assert_eq!(
        moved.get_world_history(first).unwrap(),
        worlds.get_world_history(first).unwrap()
    );
    assert_eq!(
        moved.get_world_history(first).unwrap(),
        ["dinosaurs", "trucks", "internet"]
    );
    let error = moved.get_world(second).unwrap_err();
    assert!(error.is_forgotten(), "{error:?}");
    // And it carries on: new events of the first world, and new aggregates.
    moved.make_it_so(first, "rockets").unwrap();
    let third = moved.create_world().unwrap();
    moved.make_it_so(third, "moons").unwrap();
    assert_eq!(moved.get_world_history(third).unwrap(), ["moons"]);
    let report = run(&target, &["--app", "Worlds", "verify", "--json"]).json();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["applications"][0]["forgotten_aggregates"], 1);
    assert_eq!(report["applications"][0]["data_keys"], 3);

    // A second import is refused (the application has data keys now), and --replace works.
    let again = run(&target, &["import", &path]);
    assert!(again.error().contains("not empty"), "{again:?}");
    run(&target, &["import", "--replace", &path]).ok();
    let info = run(&target, &["--app", "Worlds", "info", "--json"]).json();
    assert_eq!(info["applications"][0]["data_keys"], 2);
    assert_eq!(info["applications"][0]["events"], 7);
}
