//! `info`: the applications of a store, what they hold, and how far each follower is behind
//! its leaders.

use std::process::ExitCode;

use eventsourcing::persistence::{DataKeyCounts, Environment};
use eventsourcing::postgres::{POSTGRES_DBNAME, POSTGRES_HOST, POSTGRES_PORT, POSTGRES_SCHEMA};
use eventsourcing::sqlite::SQLITE_DBNAME;
use serde_json::{json, Value};

use crate::error::Failure;
use crate::output;
use crate::store::{backend, Backend, Store};
use crate::StoreArgs;

/// A follower's position in one leader's log.
struct Position {
    leader: String,
    position: u64,
    /// The leader's last notification id, if its store is known.
    leader_last: Option<u64>,
}

/// What `info` says of one application.
struct Report {
    name: String,
    events: u64,
    snapshots: Option<u64>,
    last: u64,
    positions: Vec<Position>,
    /// The rows of the key table (per-aggregate keys), if the application has one.
    data_keys: Option<DataKeyCounts>,
}

pub(crate) fn run(args: &StoreArgs) -> Result<ExitCode, Failure> {
    let store = Store::open(args, false)?;
    let mut reports = Vec::new();
    for app in store.applications()? {
        let in_app = |e| Failure::from(e).context(format!("application {:?}", app.name));
        // Bad cipher or compressor settings are an error here too (and, with per-aggregate
        // keys, no CIPHER_KEY).
        store.decoder(&app)?;
        let recorder = store.events(&app)?;
        let events = store.inspector.count_events(&app.tables).map_err(in_app)?;
        let snapshots = match app.tables.snapshots {
            Some(_) => Some(
                store
                    .inspector
                    .count_snapshots(&app.tables)
                    .map_err(in_app)?,
            ),
            None => None,
        };
        let last = recorder.max_notification_id().map_err(in_app)?;
        let data_keys = match app.tables.data_keys {
            Some(_) => Some(
                store
                    .inspector
                    .count_data_keys(&app.tables)
                    .map_err(in_app)?,
            ),
            None => None,
        };
        let mut positions = Vec::new();
        for tracking in store.inspector.tracking(&app.tables).map_err(in_app)? {
            positions.push(Position {
                leader_last: leader_last(&store, &tracking.application_name),
                leader: tracking.application_name,
                position: tracking.notification_id,
            });
        }
        reports.push(Report {
            name: app.name,
            events,
            snapshots,
            last,
            positions,
            data_keys,
        });
    }
    if args.json {
        output::json(&to_json(&store, &reports))?;
    } else {
        print_tables(&store, &reports)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a store configured by `env` is, as far as telling two stores apart goes.
fn location(env: &Environment) -> Option<(Backend, Vec<Option<String>>)> {
    let backend = backend(env).ok()?;
    let keys: &[&str] = match backend {
        Backend::Sqlite => &[SQLITE_DBNAME],
        Backend::Postgres => &[
            POSTGRES_HOST,
            POSTGRES_PORT,
            POSTGRES_DBNAME,
            POSTGRES_SCHEMA,
        ],
    };
    Some((
        backend,
        keys.iter()
            .map(|k| env.get(k).map(str::to_string))
            .collect(),
    ))
}

/// The last notification id of the application `leader`, found as its follower finds it:
/// in the same PostgreSQL database, or in the store its own variables name
/// (`{LEADER}_SQLITE_DBNAME`, ...). `None` if it can't be found or read.
fn leader_last(store: &Store, leader: &str) -> Option<u64> {
    let leader_env = store.env.for_application(leader);
    let same_store = location(&leader_env) == location(&store.env);
    let read = |store: &Store| -> Option<u64> {
        let tables = store.inspector.application(leader).ok()??;
        let recorder = store.inspector.events(&tables).ok()?;
        recorder.max_notification_id().ok()
    };
    if same_store {
        // An SQLite database holds one application: the leader is elsewhere.
        return match store.backend {
            Backend::Postgres => read(store),
            Backend::Sqlite => None,
        };
    }
    let other = Store::open_env(leader_env, Some(leader.to_string()), false).ok()?;
    read(&other)
}

fn to_json(store: &Store, reports: &[Report]) -> Value {
    let applications: Vec<Value> = reports
        .iter()
        .map(|report| {
            let tracking: Vec<Value> = report
                .positions
                .iter()
                .map(|p| {
                    json!({
                        "leader": p.leader,
                        "position": p.position,
                        "leader_last_notification_id": p.leader_last,
                        "lag": p.leader_last.map(|last| last.saturating_sub(p.position)),
                    })
                })
                .collect();
            json!({
                "name": report.name,
                "events": report.events,
                "snapshots": report.snapshots,
                "last_notification_id": report.last,
                "per_aggregate_keys": report.data_keys.is_some(),
                "data_keys": report.data_keys.map(|c| c.aggregates),
                "forgotten": report.data_keys.map(|c| c.forgotten),
                "tracking": tracking,
            })
        })
        .collect();
    json!({
        "store": store.description,
        "backend": match store.backend { Backend::Sqlite => "sqlite", Backend::Postgres => "postgres" },
        "applications": applications,
    })
}

fn print_tables(store: &Store, reports: &[Report]) -> Result<(), Failure> {
    output::line(&store.description)?;
    if reports.is_empty() {
        output::line("no application (no events table)")?;
        return Ok(());
    }
    let shown = |name: &str| {
        if name.is_empty() {
            "(unnamed)".to_string()
        } else {
            name.to_string()
        }
    };
    // The key columns only for a store with per-aggregate keys.
    let keyed = reports.iter().any(|r| r.data_keys.is_some());
    let rows = reports
        .iter()
        .map(|r| {
            let mut row = vec![
                shown(&r.name),
                r.events.to_string(),
                r.snapshots.map_or("-".into(), |n| n.to_string()),
                r.last.to_string(),
            ];
            if keyed {
                row.push(r.data_keys.map_or("-".into(), |c| c.aggregates.to_string()));
                row.push(r.data_keys.map_or("-".into(), |c| c.forgotten.to_string()));
            }
            row
        })
        .collect();
    output::line("")?;
    let mut header = vec!["application", "events", "snapshots", "last notification"];
    let mut numeric = vec![1, 2, 3];
    if keyed {
        header.extend(["data keys", "forgotten"]);
        numeric.extend([4, 5]);
    }
    output::line(output::table(&header, rows, &numeric))?;
    let positions: Vec<Vec<String>> = reports
        .iter()
        .flat_map(|r| {
            r.positions.iter().map(|p| {
                vec![
                    shown(&r.name),
                    p.leader.clone(),
                    p.position.to_string(),
                    p.leader_last.map_or("?".into(), |n| n.to_string()),
                    p.leader_last
                        .map_or("?".into(), |n| n.saturating_sub(p.position).to_string()),
                ]
            })
        })
        .collect();
    if !positions.is_empty() {
        output::line("")?;
        output::line(output::table(
            &["follower", "leader", "position", "leader's last", "lag"],
            positions,
            &[2, 3, 4],
        ))?;
    }
    Ok(())
}
