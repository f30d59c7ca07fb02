//! The `eventsourcing` command on PostgreSQL stores written by the examples' applications,
//! each test in a schema of its own (skipped when no server answers, except under CI).

mod common;

use common::*;
use serde_json::Value;

/// A schema of its own, or `None` (the test is skipped) when no server answers.
fn schema(label: &str) -> Option<(TempSchema, Vec<(String, String)>)> {
    let schema = TempSchema::new(label)?;
    let env = schema.env();
    Some((schema, env))
}

#[test]
fn info_lists_the_applications_of_a_schema() {
    let Some((_schema, env)) = schema("cli_info") else {
        return;
    };
    write_worlds(&env);
    write_bank(&env);
    let info = run(&env, &["info", "--json"]).json();
    assert_eq!(info["backend"], "postgres");
    let apps = info["applications"].as_array().unwrap();
    let names: Vec<&str> = apps.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["bankaccounts", "worlds"]);
    assert_eq!(apps[0]["events"], 6);
    assert_eq!(apps[0]["snapshots"], 1);
    assert_eq!(apps[1]["events"], 7);
    assert_eq!(apps[1]["last_notification_id"], 7);

    let one = run(&env, &["info", "--app", "Worlds", "--json"]).json();
    assert_eq!(one["applications"].as_array().unwrap().len(), 1);

    // Without --app, a command on one application asks which.
    let error = run(&env, &["tail"]);
    assert!(error.error().contains("choose one with --app"), "{error:?}");
}

#[test]
fn followers_lag_behind_a_leader_in_the_same_database() {
    let Some((_schema, env)) = schema("cli_lag") else {
        return;
    };
    let (bank, _, _) = write_bank(&env);
    let last = bank.app().recorder().max_notification_id().unwrap();
    let ledger = builder("Ledger", &env).build().unwrap();
    ledger
        .recorder()
        .insert_events_with_tracking(
            &[],
            &[eventsourcing::persistence::Tracking::new("BankAccounts", 4)],
        )
        .unwrap();
    let info = run(&env, &["info", "--app", "Ledger", "--json"]).json();
    let tracking = &info["applications"][0]["tracking"][0];
    assert_eq!(tracking["leader"], "BankAccounts");
    assert_eq!(tracking["position"], 4);
    assert_eq!(tracking["lag"], last - 4);
}

#[test]
fn history_tail_and_verify() {
    let Some((schema, env)) = schema("cli_verify") else {
        return;
    };
    let (_, first, _) = write_worlds(&env);
    let app = ["--app", "Worlds"];
    let history = run(
        &env,
        &[&app[..], &["history", &first.to_string(), "--json"]].concat(),
    );
    let versions: Vec<u64> = history
        .json_lines()
        .iter()
        .map(|e| e["originator_version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    let tail = run(&env, &[&app[..], &["tail", "--json", "-n", "2"]].concat()).json_lines();
    assert_eq!(tail[1]["notification_id"], 7);
    let clean = run(&env, &[&app[..], &["verify", "--json"]].concat()).json();
    assert_eq!(clean["ok"], true, "{clean}");

    let mut client = eventsourcing_tests::pg::connect().unwrap();
    client
        .batch_execute(&format!(
            "UPDATE {s}.worlds_events SET state = '\\x00ff'::bytea WHERE notification_id = 2; \
             DELETE FROM {s}.worlds_events WHERE notification_id = 6;",
            s = schema.name()
        ))
        .unwrap();
    let report = run(&env, &[&app[..], &["verify", "--json"]].concat());
    assert_eq!(report.code, 1, "{report:?}");
    let report: Value = serde_json::from_str(&report.stdout).unwrap();
    let faults: Vec<(&str, u64)> = report["applications"][0]["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap(),
                f["notification_id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(faults, [("undecodable", 2), ("version_gap", 7)]);
}

#[test]
fn an_unknown_application_is_an_error_and_nothing_is_created() {
    let Some((schema, env)) = schema("cli_unknown") else {
        return;
    };
    write_worlds(&env);
    for command in [&["info"][..], &["tail"], &["verify"], &["export"]] {
        let error = run(&env, &[&["--app", "Nope"][..], command].concat());
        let line = error.error();
        assert!(line.contains("no application \"Nope\""), "{line}");
        assert!(line.contains("nope_events"), "{line}");
    }
    let mut client = eventsourcing_tests::pg::connect().unwrap();
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 \
             ORDER BY 1",
            &[&schema.name()],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        tables,
        ["worlds_events", "worlds_snapshots", "worlds_tracking"]
    );

    // An empty schema holds no application.
    let empty = TempSchema::new("cli_empty").unwrap();
    let error = run(&empty.env(), &["verify"]);
    assert!(error.error().contains("holds no application"), "{error:?}");
}

#[test]
fn an_unreachable_database_is_an_error() {
    let Some((_schema, env)) = schema("cli_unreachable") else {
        return;
    };
    // Nothing listens on port 1.
    let env = with(
        &env,
        &[("POSTGRES_PORT", "1"), ("POSTGRES_CONNECT_TIMEOUT", "1")],
    );
    let error = run(&env, &["info"]);
    assert!(
        error.error().contains("can't connect to PostgreSQL"),
        "{error:?}"
    );
}
