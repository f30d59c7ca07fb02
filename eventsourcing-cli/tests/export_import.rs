//! `export` and `import`: a store moved from SQLite to PostgreSQL and back reads the same,
//! byte for byte; an import is all or nothing.

mod common;

use std::path::Path;

use common::*;
use eventsourcing::persistence::{Notification, Tracking};
use eventsourcing_examples::bank_accounts::BankAccounts;
use eventsourcing_examples::world::Worlds;
use serde_json::Value;

/// Every notification of an application, in order.
fn log(app: &eventsourcing::application::Application) -> Vec<Notification> {
    app.recorder().select_notifications(1, usize::MAX).unwrap()
}

fn export(env: &[(String, String)], args: &[&str], file: &Path) {
    let path = file.to_string_lossy();
    let run = run(env, &[&["export"], args, &["--output", &path]].concat());
    run.ok();
    assert!(run.stderr.starts_with("exported "), "{run:?}");
}

fn import(env: &[(String, String)], args: &[&str], file: &Path) -> Run {
    run(
        env,
        &[&["import"], args, &[&file.to_string_lossy()]].concat(),
    )
}

fn lines(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn export_writes_json_lines_with_ids_versions_and_stored_bytes() {
    let dir = TempDir::new("cli-export");
    let db = dir.unique_file("db");
    let env = sqlite_env(&db);
    let (worlds, _, _) = write_worlds(&env);
    worlds
        .app()
        .recorder()
        .insert_events_with_tracking(&[], &[Tracking::new("Upstream", 9)])
        .unwrap();
    let file = dir.unique_file("jsonl");
    export(&env, &["--app", "Worlds", "--decoded"], &file);
    let lines = lines(&file);
    assert_eq!(
        lines[0],
        serde_json::json!({"type": "header", "format": "eventsourcing-export", "version": 1})
    );
    assert_eq!(
        lines[1],
        serde_json::json!({"type": "application", "name": "Worlds"})
    );
    let log = log(worlds.app());
    for (line, notification) in lines[2..9].iter().zip(&log) {
        assert_eq!(line["type"], "event");
        assert_eq!(line["notification_id"], notification.id);
        assert_eq!(line["originator_version"], notification.originator_version);
        use base64::Engine;
        let state = base64::engine::general_purpose::STANDARD
            .decode(line["state"].as_str().unwrap())
            .unwrap();
        assert_eq!(state, notification.state);
        assert!(line["decoded"]["timestamp"].is_object(), "{line}");
    }
    assert_eq!(lines[9]["type"], "snapshot");
    assert_eq!(lines[9]["originator_version"], 3);
    assert_eq!(
        lines[10],
        serde_json::json!({"type": "tracking", "application_name": "Upstream", "notification_id": 9})
    );
    assert_eq!(
        lines[11],
        serde_json::json!({"type": "end", "application": "Worlds", "events": 7, "snapshots": 1, "tracking": 1})
    );
    assert_eq!(lines.len(), 12);
    // To stdout, the same without the decoded states.
    let stdout = run(&env, &["--app", "Worlds", "export"]);
    let first_event: Value = serde_json::from_str(stdout.ok().lines().nth(2).unwrap()).unwrap();
    assert!(first_event.get("decoded").is_none());
}

#[test]
fn sqlite_to_postgres_and_back_reads_the_same_aggregates_in_the_same_order() {
    let Some(schema) = TempSchema::new("cli_move") else {
        return;
    };
    let dir = TempDir::new("cli-move");
    let sqlite = sqlite_env(&dir.unique_file("db"));
    let key = eventsourcing::persistence::AesCipher::create_key(16).unwrap();
    let sealed =
        |env: &[(String, String)]| with(env, &[("CIPHER_KEY", &key), ("COMPRESSOR_TOPIC", "zlib")]);
    let (bank, alice, bob) = write_bank(&sealed(&sqlite));
    bank.app()
        .recorder()
        .insert_events_with_tracking(&[], &[Tracking::new("Payments", 12)])
        .unwrap();
    let file = dir.unique_file("jsonl");
    // Stored bytes are exported as they are: no key needed.
    export(&sqlite, &[], &file);

    // An export from SQLite without --app has no name: PostgreSQL needs one.
    let postgres = schema.env();
    let error = import(&postgres, &[], &file);
    assert!(error.error().contains("--app"), "{error:?}");
    let imported = import(&postgres, &["--app", "BankAccounts"], &file);
    assert!(
        imported
            .ok()
            .starts_with("imported BankAccounts: 6 events, 1 snapshots, 1 tracking"),
        "{imported:?}"
    );

    let moved = BankAccounts::with_builder(
        builder(BankAccounts::NAME, &sealed(&postgres)).snapshotting(true),
    )
    .unwrap();
    for id in [alice, bob] {
        assert_eq!(
            moved.get_account(id).unwrap(),
            bank.get_account(id).unwrap()
        );
    }
    assert_eq!(log(moved.app()), log(bank.app()));
    assert_eq!(
        moved.app().recorder().max_tracking_id("Payments").unwrap(),
        12
    );
    let snapshot = |app: &BankAccounts| {
        app.app()
            .snapshots()
            .unwrap()
            .recorder()
            .select_events(alice, &Default::default())
            .unwrap()
    };
    assert_eq!(snapshot(&moved), snapshot(&bank));
    assert_eq!(
        run(&sealed(&postgres), &["--app", "BankAccounts", "verify"]).code,
        0
    );

    // New events get the ids after the imported ones.
    moved
        .deposit_funds(
            alice,
            eventsourcing_examples::bank_accounts::Decimal::new(1, 0),
        )
        .unwrap();
    assert_eq!(log(moved.app()).last().unwrap().id, 7);

    // And back to another SQLite file: the same export, byte for byte.
    let again = dir.unique_file("jsonl");
    export(&postgres, &["--app", "BankAccounts"], &again);
    let back = sqlite_env(&dir.unique_file("db"));
    import(&back, &["--app", "BankAccounts"], &again).ok();
    let third = dir.unique_file("jsonl");
    // (PostgreSQL names the application after its tables, in lower case.)
    export(&back, &["--app", "bankaccounts"], &third);
    let (again, third) = (
        std::fs::read_to_string(&again).unwrap(),
        std::fs::read_to_string(&third).unwrap(),
    );
    assert!(again == third, "{again}\n{third}");
}

#[test]
fn a_postgres_store_with_several_applications_moves_whole() {
    let (Some(from), Some(to)) = (
        TempSchema::new("cli_all_from"),
        TempSchema::new("cli_all_to"),
    ) else {
        return;
    };
    let (worlds, _, _) = write_worlds(&from.env());
    let (bank, _, _) = write_bank(&from.env());
    let dir = TempDir::new("cli-all");
    let file = dir.unique_file("jsonl");
    export(&from.env(), &[], &file);
    let imported = import(&to.env(), &[], &file);
    assert_eq!(imported.ok().lines().count(), 2, "{imported:?}");
    let moved = Worlds::with_builder(builder(Worlds::NAME, &to.env())).unwrap();
    assert_eq!(log(moved.app()), log(worlds.app()));
    let moved = BankAccounts::with_builder(builder(BankAccounts::NAME, &to.env())).unwrap();
    assert_eq!(log(moved.app()), log(bank.app()));

    // One of them, into SQLite (which holds one application).
    let sqlite = sqlite_env(&dir.unique_file("db"));
    let error = import(&sqlite, &[], &file);
    assert!(error.error().contains("one application"), "{error:?}");
    import(&sqlite, &["--app", "worlds"], &file).ok();
    let moved = Worlds::with_builder(builder(Worlds::NAME, &sqlite)).unwrap();
    assert_eq!(log(moved.app()), log(worlds.app()));
}

#[test]
fn an_import_is_all_or_nothing() {
    let dir = TempDir::new("cli-atomic");
    let source = sqlite_env(&dir.unique_file("db"));
    let (worlds, first, _) = write_worlds(&source);
    let file = dir.unique_file("jsonl");
    export(&source, &["--app", "Worlds"], &file);

    // Into a store that has events: refused, and nothing changes.
    let error = import(&source, &[], &file);
    assert!(error.error().contains("not empty"), "{error:?}");
    assert_eq!(log(worlds.app()).len(), 7);
    // Unless told to replace them.
    worlds.make_it_so(first, "more").unwrap();
    import(&source, &["--replace"], &file).ok();
    assert_eq!(log(worlds.app()).len(), 7);

    // A file cut short: an error naming what is missing, and no database is made.
    let text = std::fs::read_to_string(&file).unwrap();
    let cut = dir.unique_file("jsonl");
    let kept: Vec<&str> = text.lines().take(5).collect();
    std::fs::write(&cut, kept.join("\n")).unwrap();
    let target = dir.unique_file("db");
    let error = import(&sqlite_env(&target), &[], &cut);
    assert!(error.error().contains("cut short"), "{error:?}");
    assert!(!target.exists());

    // A file whose last event the database refuses (a version stored twice): nothing of it.
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut duplicate = lines[8].clone();
    duplicate["notification_id"] = Value::from(100);
    lines.insert(9, duplicate);
    let end = lines.iter_mut().find(|l| l["type"] == "end").unwrap();
    end["events"] = Value::from(8);
    let bad = dir.unique_file("jsonl");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&bad, text).unwrap();
    let error = import(&sqlite_env(&target), &[], &bad);
    assert!(error.error().contains("nothing was imported"), "{error:?}");
    assert!(!target.exists(), "the database the import made is removed");
    if let Some(schema) = TempSchema::new("cli_atomic") {
        let error = import(&schema.env(), &["--app", "Worlds"], &bad);
        assert!(error.error().contains("nothing was imported"), "{error:?}");
        let mut client = eventsourcing_tests::pg::connect().unwrap();
        let count: i64 = client
            .query_one(
                &format!("SELECT COUNT(*) FROM {}.worlds_events", schema.name()),
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(count, 0);
    }

    // Not an export at all.
    let other = dir.unique_file("jsonl");
    std::fs::write(&other, "{\"hello\": 1}\n").unwrap();
    let error = import(&sqlite_env(&target), &[], &other);
    assert!(error.error().contains("line 1"), "{error:?}");
}
