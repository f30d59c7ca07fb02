//! The `eventsourcing` command on SQLite stores written by the examples' applications: each
//! command's output, `verify` on clean and tampered stores, `tail --follow`.

mod common;

use std::io::BufRead;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use eventsourcing::domain::EventMetadata;
use eventsourcing::prelude::*;
use serde_json::Value;

/// Runs `sql` on the SQLite file directly (as someone tampering with it would).
fn tamper(db: &TempDb, sql: &str) {
    let connection = rusqlite::Connection::open(db.path()).expect("open");
    connection.execute_batch(sql).expect("tamper");
}

#[test]
fn info_counts_events_snapshots_and_the_last_notification() {
    let db = TempDb::new("cli-info");
    let env = sqlite_env(db.path());
    write_worlds(&env);
    let info = run(&env, &["info", "--json"]).json();
    let app = &info["applications"][0];
    assert_eq!(info["backend"], "sqlite");
    assert_eq!(app["events"], 7);
    assert_eq!(app["snapshots"], 1);
    assert_eq!(app["last_notification_id"], 7);
    assert_eq!(app["tracking"], Value::Array(vec![]));

    let text = run(&env, &["info", "--app", "Worlds"]);
    let lines: Vec<&str> = text.ok().lines().collect();
    assert!(lines[0].starts_with("SQLite database "), "{lines:?}");
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["APPLICATION", "EVENTS", "SNAPSHOTS", "LAST", "NOTIFICATION"]
    );
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["Worlds", "7", "1", "7"]
    );
}

#[test]
fn info_shows_followers_positions_and_lag() {
    let dir = TempDir::new("cli-lag");
    let (leader, follower) = (dir.unique_file("db"), dir.unique_file("db"));
    let (bank, _, _) = write_bank(&sqlite_env(&leader));
    let last = bank.app().recorder().max_notification_id().unwrap();
    // A follower of the bank that has processed its notifications up to 2.
    let ledger = builder("Ledger", &sqlite_env(&follower)).build().unwrap();
    ledger
        .recorder()
        .insert_events_with_tracking(
            &[],
            &[eventsourcing::persistence::Tracking::new("BankAccounts", 2)],
        )
        .unwrap();
    // The leader's store is found as the follower finds it: BANKACCOUNTS_SQLITE_DBNAME.
    let env = with(
        &sqlite_env(&follower),
        &[("BANKACCOUNTS_SQLITE_DBNAME", &leader.to_string_lossy())],
    );
    let info = run(&env, &["info", "--app", "Ledger", "--json"]).json();
    let tracking = &info["applications"][0]["tracking"][0];
    assert_eq!(tracking["leader"], "BankAccounts");
    assert_eq!(tracking["position"], 2);
    assert_eq!(tracking["leader_last_notification_id"], last);
    assert_eq!(tracking["lag"], last - 2);
    let text = run(&env, &["info", "--app", "Ledger"]);
    let row = text
        .ok()
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(
        row,
        [
            "Ledger",
            "BankAccounts",
            "2",
            &last.to_string(),
            &(last - 2).to_string()
        ]
    );

    // Without the leader's store, the lag is unknown.
    let info = run(&sqlite_env(&follower), &["info", "--json"]).json();
    assert_eq!(info["applications"][0]["tracking"][0]["lag"], Value::Null);
}

#[test]
fn history_decodes_an_aggregates_events() {
    let db = TempDb::new("cli-history");
    let env = sqlite_env(db.path());
    let (_, first, second) = write_worlds(&env);
    let events = run(&env, &["history", &first.to_string(), "--json"]).json_lines();
    let versions: Vec<u64> = events
        .iter()
        .map(|e| e["originator_version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    assert!(events[0]["topic"]
        .as_str()
        .unwrap()
        .ends_with("World.Created"));
    assert_eq!(events[1]["state"]["what"], "dinosaurs");
    assert!(events[1]["timestamp"].as_str().unwrap().ends_with("+00:00"));

    let at = run(
        &env,
        &["history", &first.to_string(), "--at", "2", "--json"],
    )
    .json_lines();
    assert_eq!(at.len(), 2);

    let text = run(&env, &["history", &second.to_string()]);
    let lines: Vec<&str> = text.ok().lines().collect();
    assert_eq!(lines[0], format!("aggregate {second}"));
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["VERSION", "TIMESTAMP", "TOPIC", "STATE"]
    );
    assert!(lines[3].contains(r#"{"what":"fire"}"#), "{lines:?}");
    // The columns line up: each row's topic starts where the header's does.
    let column = lines[1].find("TOPIC").unwrap();
    assert!(lines[2][column..].starts_with("eventsourcing_examples::world:World.Created"));

    let missing = run(&env, &["history", &uuid::Uuid::new_v4().to_string()]);
    assert!(missing.error().contains("has no events"));
}

#[test]
fn tail_shows_the_last_events_or_those_from_an_id() {
    let db = TempDb::new("cli-tail");
    let env = sqlite_env(db.path());
    write_worlds(&env);
    let ids = |run: Run| -> Vec<u64> {
        run.json_lines()
            .iter()
            .map(|n| n["notification_id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(run(&env, &["tail", "--json", "-n", "3"])), [5, 6, 7]);
    assert_eq!(ids(run(&env, &["tail", "--json"])), [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(ids(run(&env, &["tail", "--json", "--from", "6"])), [6, 7]);
    assert_eq!(
        ids(run(
            &env,
            &["tail", "--json", "--from", "2", "--limit", "2"]
        )),
        [2, 3]
    );
    let text = run(&env, &["tail", "-n", "1"]);
    let lines: Vec<&str> = text.ok().lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["ID", "AGGREGATE", "VERSION", "TIMESTAMP", "TOPIC", "STATE"]
    );
    assert!(lines[1].trim_start().starts_with("7 "), "{lines:?}");
    assert!(lines[1].ends_with(r#"{"what":"water"}"#), "{lines:?}");
}

#[test]
fn tail_follow_prints_events_as_they_are_committed() {
    let db = TempDb::new("cli-follow");
    let env = sqlite_env(db.path());
    let (worlds, first, _) = write_worlds(&env);
    let mut child = command(&env, &["tail", "--follow", "--json", "-n", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().unwrap();
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if send.send(line.expect("line")).is_err() {
                break;
            }
        }
    });
    let next = || -> Value {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a line from tail --follow");
        serde_json::from_str(&line).expect("JSON")
    };
    assert_eq!(next()["notification_id"], 7);
    worlds.make_it_so(first, "the moon").unwrap();
    let new = next();
    assert_eq!(new["notification_id"], 8);
    assert_eq!(new["state"]["what"], "the moon");
    worlds.make_it_so(first, "mars").unwrap();
    assert_eq!(next()["notification_id"], 9);
    child.kill().expect("kill");
    child.wait().expect("wait");
}

#[test]
fn verify_passes_a_clean_store() {
    let db = TempDb::new("cli-verify-clean");
    let env = sqlite_env(db.path());
    write_bank(&env);
    let report = run(&env, &["verify", "--json"]).json();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["applications"][0]["events"], 6);
    assert_eq!(report["applications"][0]["aggregates"], 2);
    assert_eq!(report["applications"][0]["snapshots"], 1);
    let text = run(&env, &["verify"]);
    assert!(text.ok().ends_with("no faults\n"), "{text:?}");
}

/// The faults `verify --json` reports (it exits with status 1).
fn faults(env: &[(String, String)]) -> Vec<Value> {
    let run = run(env, &["verify", "--json"]);
    assert_eq!(run.code, 1, "{run:#?}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["ok"], false);
    report["applications"][0]["faults"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn verify_finds_a_corrupted_state() {
    let db = TempDb::new("cli-verify-corrupt");
    let env = sqlite_env(db.path());
    let (_, first, _) = write_worlds(&env);
    tamper(
        &db,
        "UPDATE stored_events SET state = X'7b226e6f7420' WHERE rowid = 3",
    );
    let faults = faults(&env);
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0]["kind"], "undecodable");
    assert_eq!(faults[0]["notification_id"], 3);
    assert_eq!(faults[0]["originator_id"], first.to_string());
    assert_eq!(faults[0]["originator_version"], 3);
    let text = run(&env, &["verify"]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.contains(&format!(
            "  notification 3 (aggregate {first} version 3): the state is not JSON"
        )),
        "{text:?}"
    );
    assert!(text.stdout.ends_with(": 1 fault\n"), "{text:?}");
}

#[test]
fn verify_finds_a_deleted_event() {
    let db = TempDb::new("cli-verify-deleted");
    let env = sqlite_env(db.path());
    let (_, first, _) = write_worlds(&env);
    tamper(&db, "DELETE FROM stored_events WHERE rowid = 2");
    let faults = faults(&env);
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0]["kind"], "version_gap");
    assert_eq!(faults[0]["notification_id"], 3);
    assert_eq!(faults[0]["originator_id"], first.to_string());
    assert!(
        faults[0]["problem"]
            .as_str()
            .unwrap()
            .contains("version 2 is missing"),
        "{faults:?}"
    );
}

#[test]
fn verify_finds_a_deleted_last_event_below_a_snapshot() {
    let db = TempDb::new("cli-verify-deleted-last");
    let env = sqlite_env(db.path());
    let (_, _, _) = write_worlds(&env);
    // The first world's snapshot is at version 3; its events 3 and 4 are notifications 3 and 5.
    tamper(&db, "DELETE FROM stored_events WHERE rowid IN (3, 5)");
    let faults = faults(&env);
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0]["kind"], "snapshot_beyond_events");
    assert_eq!(faults[0]["snapshot"], true);
    assert_eq!(faults[0]["originator_version"], 3);
}

#[test]
fn verify_finds_a_changed_version() {
    let db = TempDb::new("cli-verify-version");
    let env = sqlite_env(db.path());
    write_worlds(&env);
    tamper(
        &db,
        "UPDATE stored_events SET originator_version = 9 WHERE rowid = 2",
    );
    let faults = faults(&env);
    let found: Vec<(&str, u64, u64)> = faults
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap(),
                f["notification_id"].as_u64().unwrap(),
                f["originator_version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("version_gap", 2, 9),
            ("version_order", 3, 3),
            ("version_order", 5, 4)
        ]
    );
}

#[test]
fn an_encrypted_and_compressed_store_reads_with_its_settings_only() {
    let db = TempDb::new("cli-encrypted");
    let key = eventsourcing::persistence::AesCipher::create_key(32).unwrap();
    let env = sqlite_env(db.path());
    let sealed = with(
        &env,
        &[
            ("CIPHER_KEY", &key),
            (
                "COMPRESSOR_TOPIC",
                "eventsourcing.compressor:ZlibCompressor",
            ),
        ],
    );
    let (_, first, _) = write_worlds(&sealed);
    let events = run(&sealed, &["history", &first.to_string(), "--json"]).json_lines();
    assert_eq!(events[1]["state"]["what"], "dinosaurs");
    assert_eq!(run(&sealed, &["verify"]).code, 0);
    // The flags say the same as the variables.
    let flags = run(
        &env,
        &[
            "--cipher-key",
            &key,
            "--compressor-topic",
            "eventsourcing.compressor:ZlibCompressor",
            "tail",
            "--json",
        ],
    );
    assert_eq!(flags.json_lines().len(), 7);
    // With the application's prefix, as the application reads them.
    let prefixed = with(
        &env,
        &[
            ("WORLDS_CIPHER_KEY", &key),
            ("WORLDS_COMPRESSOR_TOPIC", "zlib"),
        ],
    );
    assert_eq!(run(&prefixed, &["--app", "Worlds", "verify"]).code, 0);

    // Without the key: the state is not JSON, and not text.
    let error = run(&env, &["history", &first.to_string()]);
    assert!(error.error().contains("set CIPHER_KEY"), "{error:?}");
    // With another key: decryption fails.
    let other = eventsourcing::persistence::AesCipher::create_key(32).unwrap();
    let wrong = with(&env, &[("CIPHER_KEY", &other)]);
    let error = run(&wrong, &["tail"]);
    assert!(error.error().contains("authentication failed"), "{error:?}");
    assert_eq!(error.stdout, "", "nothing is printed before the error");
    let error = run(&wrong, &["verify"]);
    assert!(error.error().contains("no event of"), "{error:?}");
    // With the key but not the compressor: zlib bytes.
    let uncompressed = with(&env, &[("CIPHER_KEY", &key)]);
    let error = run(&uncompressed, &["history", &first.to_string()]);
    assert!(error.error().contains("set COMPRESSOR_TOPIC"), "{error:?}");
    // A key that is not a key.
    let error = run(&with(&env, &[("CIPHER_KEY", "not base64!")]), &["info"]);
    assert!(error.error().contains("CIPHER_KEY"), "{error:?}");
}

#[test]
fn a_compressed_store_read_without_the_compressor_says_so() {
    let db = TempDb::new("cli-compressed");
    let env = sqlite_env(db.path());
    let compressed = with(&env, &[("COMPRESSOR_TOPIC", "zlib")]);
    let (_, first, _) = write_worlds(&compressed);
    let error = run(&env, &["history", &first.to_string()]);
    assert!(error.error().contains("zlib-compressed"), "{error:?}");
    // And a plain store read with a compressor.
    let plain = TempDb::new("cli-plain");
    let (_, first, _) = write_worlds(&sqlite_env(plain.path()));
    let error = run(
        &with(&sqlite_env(plain.path()), &[("COMPRESSOR_TOPIC", "zlib")]),
        &["history", &first.to_string()],
    );
    assert!(error.error().contains("can't decompress"), "{error:?}");
}

/// A note, saved with a correlation id.
#[aggregate]
#[derive(Debug)]
pub struct Note {
    text: String,
}

#[aggregate]
impl Note {
    /// A new note.
    #[created]
    pub fn create(text: String) -> Self {
        Note { text }
    }
}

#[test]
fn history_and_tail_show_causation_and_correlation_ids() {
    let db = TempDb::new("cli-correlation");
    let env = sqlite_env(db.path());
    let app = builder("Notes", &env).build().unwrap();
    let request = Uuid::new_v4();
    let mut note = Note::create("x".into());
    app.save_with(&mut note, &EventMetadata::correlated(request))
        .unwrap();
    let text = run(&env, &["history", &note.id().to_string()]);
    assert!(
        text.ok().contains(&format!("(correlation {request})")),
        "{}",
        text.ok()
    );
    assert!(!text.ok().contains("__correlation_id__"));
    let tail = run(&env, &["tail", "--json"]).json_lines();
    assert_eq!(tail[0]["correlation_id"], request.to_string());
    assert_eq!(tail[0]["causation_id"], serde_json::Value::Null);
}
