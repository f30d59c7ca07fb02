//! `verify`: reads everything an application stored and checks it.
//!
//! Every event (in notification order) and then every snapshot is decoded once, with
//! [`decode_state`], and handed with what decoding gave to each [`Check`]; each check reports
//! the [`Fault`]s it finds. The checks are independent of each other: a new one (the hash
//! chain of a tamper-evident store) is a type implementing [`Check`], added to [`checks`].

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;

use clap::Args;
use eventsourcing::persistence::{Mapper, Notification, StoredEvent, SUBSCRIPTION_PAGE};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::decode::{decode_state, DecodeFault, Decoded};
use crate::error::Failure;
use crate::output;
use crate::store::{App, Store};
use crate::StoreArgs;

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The version aggregates' first events have (0 for aggregates declared with
    /// `#[aggregate(initial_version = 0)]`).
    #[arg(long, default_value_t = 1, value_name = "VERSION")]
    initial_version: u64,
}

/// Where a fault is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Place {
    /// A stored event.
    Event {
        notification_id: u64,
        originator_id: Uuid,
        originator_version: u64,
    },
    /// A stored snapshot.
    Snapshot {
        originator_id: Uuid,
        originator_version: u64,
    },
}

impl Place {
    fn of_event(event: &Notification) -> Place {
        Place::Event {
            notification_id: event.id,
            originator_id: event.originator_id,
            originator_version: event.originator_version,
        }
    }

    fn of_snapshot(snapshot: &StoredEvent) -> Place {
        Place::Snapshot {
            originator_id: snapshot.originator_id,
            originator_version: snapshot.originator_version,
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Event {
                notification_id,
                originator_id,
                originator_version,
            } => write!(
                f,
                "notification {notification_id} (aggregate {originator_id} version \
                 {originator_version})"
            ),
            Place::Snapshot {
                originator_id,
                originator_version,
            } => write!(
                f,
                "snapshot of aggregate {originator_id} at version {originator_version}"
            ),
        }
    }
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Problem {
    /// The state does not decode.
    Undecodable(DecodeFault),
    /// The notification id is not above the one before it.
    NotificationOrder { previous: u64 },
    /// The aggregate's first event does not have the initial version.
    FirstVersion { expected: u64 },
    /// Versions are missing between the aggregate's previous event and this one.
    VersionGap { previous: u64 },
    /// The version is not above the aggregate's previous event's.
    VersionOrder { previous: u64 },
    /// A snapshot's state is not a snapshot's (a topic and a state).
    NotASnapshot(String),
    /// A snapshot of an aggregate with no events.
    SnapshotWithoutEvents,
    /// A snapshot at a version the aggregate's events do not reach.
    SnapshotBeyondEvents { last: u64 },
}

impl Problem {
    /// A name for scripts (the `kind` of a fault in `--json`).
    fn kind(&self) -> &'static str {
        match self {
            Problem::Undecodable(_) => "undecodable",
            Problem::NotificationOrder { .. } => "notification_order",
            Problem::FirstVersion { .. } => "first_version",
            Problem::VersionGap { .. } => "version_gap",
            Problem::VersionOrder { .. } => "version_order",
            Problem::NotASnapshot(_) => "not_a_snapshot",
            Problem::SnapshotWithoutEvents => "snapshot_without_events",
            Problem::SnapshotBeyondEvents { .. } => "snapshot_beyond_events",
        }
    }

    fn describe(&self, version: u64) -> String {
        match self {
            Problem::Undecodable(fault) => fault.to_string(),
            Problem::NotificationOrder { previous } => {
                format!("the notification id is not above the previous one, {previous}")
            }
            Problem::FirstVersion { expected } => format!(
                "the aggregate's first event has version {version}, not {expected} (events \
                 before it are missing)"
            ),
            Problem::VersionGap { previous } => {
                let (from, to) = (previous + 1, version - 1);
                if from == to {
                    format!("version {from} is missing (the previous event is version {previous})")
                } else {
                    format!(
                        "versions {from} to {to} are missing (the previous event is version \
                         {previous})"
                    )
                }
            }
            Problem::VersionOrder { previous } => format!(
                "the version is not above the aggregate's previous event's, version {previous} \
                 (a duplicate or a changed version)"
            ),
            Problem::NotASnapshot(what) => format!("the state is not a snapshot's: {what}"),
            Problem::SnapshotWithoutEvents => "the aggregate has no events".to_string(),
            Problem::SnapshotBeyondEvents { last } => {
                format!("the aggregate's events end at version {last} (later events are missing)")
            }
        }
    }
}

/// A fault: where, and what.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fault {
    pub(crate) place: Place,
    pub(crate) problem: Problem,
}

impl Fault {
    fn describe(&self) -> String {
        let version = match self.place {
            Place::Event {
                originator_version, ..
            }
            | Place::Snapshot {
                originator_version, ..
            } => originator_version,
        };
        format!("{}: {}", self.place, self.problem.describe(version))
    }

    fn to_json(&self) -> Value {
        let mut value = match self.place {
            Place::Event {
                notification_id,
                originator_id,
                originator_version,
            } => json!({
                "notification_id": notification_id,
                "originator_id": originator_id,
                "originator_version": originator_version,
            }),
            Place::Snapshot {
                originator_id,
                originator_version,
            } => json!({
                "snapshot": true,
                "originator_id": originator_id,
                "originator_version": originator_version,
            }),
        };
        value["kind"] = json!(self.problem.kind());
        value["problem"] = json!(self.describe());
        value
    }
}

/// What decoding a stored state gave.
pub(crate) type State = Result<Decoded, DecodeFault>;

/// A check of an application's stored events and snapshots.
pub(crate) trait Check {
    /// An event, in notification order, with its decoded state.
    fn event(&mut self, event: &Notification, state: &State, faults: &mut Vec<Fault>);

    /// A snapshot (after every event), with its decoded state.
    fn snapshot(&mut self, _snapshot: &StoredEvent, _state: &State, _faults: &mut Vec<Fault>) {}
}

/// Every event and snapshot decodes; a snapshot's state is a snapshot's.
#[derive(Default)]
struct Decodes;

impl Check for Decodes {
    fn event(&mut self, event: &Notification, state: &State, faults: &mut Vec<Fault>) {
        if let Err(fault) = state {
            faults.push(Fault {
                place: Place::of_event(event),
                problem: Problem::Undecodable(fault.clone()),
            });
        }
    }

    fn snapshot(&mut self, snapshot: &StoredEvent, state: &State, faults: &mut Vec<Fault>) {
        let problem = match state {
            Err(fault) => Problem::Undecodable(fault.clone()),
            Ok(decoded) => {
                let Some(json) = decoded.json() else { return };
                if !json.get("topic").is_some_and(Value::is_string) {
                    Problem::NotASnapshot("it has no \"topic\" string".into())
                } else if !json.get("state").is_some_and(Value::is_object) {
                    Problem::NotASnapshot("it has no \"state\" object".into())
                } else {
                    return;
                }
            }
        };
        faults.push(Fault {
            place: Place::of_snapshot(snapshot),
            problem,
        });
    }
}

/// Notification ids increase.
#[derive(Default)]
struct NotificationIds {
    previous: Option<u64>,
}

impl Check for NotificationIds {
    fn event(&mut self, event: &Notification, _state: &State, faults: &mut Vec<Fault>) {
        if let Some(previous) = self.previous {
            if event.id <= previous {
                faults.push(Fault {
                    place: Place::of_event(event),
                    problem: Problem::NotificationOrder { previous },
                });
            }
        }
        self.previous = Some(self.previous.map_or(event.id, |p| p.max(event.id)));
    }
}

/// Each aggregate's versions start at the initial version and go up by one, in notification
/// order; snapshots are of versions its events reach.
struct Versions {
    initial: u64,
    last: HashMap<Uuid, u64>,
}

impl Check for Versions {
    fn event(&mut self, event: &Notification, _state: &State, faults: &mut Vec<Fault>) {
        let version = event.originator_version;
        let problem = match self.last.get(&event.originator_id) {
            None if version != self.initial => Some(Problem::FirstVersion {
                expected: self.initial,
            }),
            None => None,
            Some(&previous) if version <= previous => Some(Problem::VersionOrder { previous }),
            Some(&previous) if version > previous + 1 => Some(Problem::VersionGap { previous }),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            faults.push(Fault {
                place: Place::of_event(event),
                problem,
            });
        }
        let last = self.last.entry(event.originator_id).or_insert(version);
        *last = (*last).max(version);
    }

    fn snapshot(&mut self, snapshot: &StoredEvent, _state: &State, faults: &mut Vec<Fault>) {
        let problem = match self.last.get(&snapshot.originator_id) {
            None => Problem::SnapshotWithoutEvents,
            Some(&last) if snapshot.originator_version > last => {
                Problem::SnapshotBeyondEvents { last }
            }
            Some(_) => return,
        };
        faults.push(Fault {
            place: Place::of_snapshot(snapshot),
            problem,
        });
    }
}

/// The checks `verify` runs.
fn checks(args: &VerifyArgs) -> Vec<Box<dyn Check>> {
    vec![
        Box::new(Decodes),
        Box::new(NotificationIds::default()),
        Box::new(Versions {
            initial: args.initial_version,
            last: HashMap::new(),
        }),
    ]
}

/// What verifying one application found.
struct Report {
    name: String,
    events: u64,
    snapshots: u64,
    aggregates: usize,
    faults: Vec<Fault>,
}

fn verify_application(
    store: &Store,
    app: &App,
    mapper: &Mapper,
    checks: &mut [Box<dyn Check>],
) -> Result<Report, Failure> {
    let in_app = |e| Failure::from(e).context(format!("application {:?}", app.name));
    let recorder = store.events(app)?;
    let total = store.inspector.count_events(&app.tables).map_err(in_app)?
        + store
            .inspector
            .count_snapshots(&app.tables)
            .map_err(in_app)?;
    let bar = output::progress(Some(total), &format!("verifying {}", app.name));
    let mut report = Report {
        name: app.name.clone(),
        events: 0,
        snapshots: 0,
        aggregates: 0,
        faults: Vec::new(),
    };
    let mut aggregates = HashSet::new();
    let mut decoded = 0u64;
    let mut first_fault: Option<(Place, DecodeFault)> = None;
    // The events committed before verifying began.
    let max = recorder.max_notification_id().map_err(in_app)?;
    let mut start = 1;
    while start <= max {
        let page = recorder
            .select_notifications(start, SUBSCRIPTION_PAGE)
            .map_err(in_app)?;
        let Some(end) = page.last().map(|n| n.id) else {
            break;
        };
        for event in page.iter().filter(|n| n.id <= max) {
            let state = decode_state(mapper, &event.state);
            match &state {
                Ok(_) => decoded += 1,
                Err(fault) if first_fault.is_none() => {
                    first_fault = Some((Place::of_event(event), fault.clone()));
                }
                Err(_) => {}
            }
            for check in checks.iter_mut() {
                check.event(event, &state, &mut report.faults);
            }
            aggregates.insert(event.originator_id);
            report.events += 1;
            bar.inc(1);
        }
        start = end + 1;
    }
    let mut after = None;
    loop {
        let page = store
            .inspector
            .select_snapshots(&app.tables, after, SUBSCRIPTION_PAGE)
            .map_err(in_app)?;
        let Some(last) = page.last() else { break };
        after = Some((last.originator_id, last.originator_version));
        for snapshot in &page {
            let state = decode_state(mapper, &snapshot.state);
            for check in checks.iter_mut() {
                check.snapshot(snapshot, &state, &mut report.faults);
            }
            report.snapshots += 1;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    if let (0, Some((place, fault))) = (decoded, first_fault) {
        // Nothing decodes: the configuration is wrong, rather than every event.
        return Err(Failure::new(format!(
            "no event of {} decodes, so its settings must be wrong ({place}: {fault})",
            if app.name.is_empty() {
                store.description.clone()
            } else {
                format!("the application {:?}", app.name)
            },
        )));
    }
    report.aggregates = aggregates.len();
    Ok(report)
}

pub(crate) fn run(args: &StoreArgs, command: &VerifyArgs) -> Result<ExitCode, Failure> {
    let store = Store::open(args, false)?;
    let apps = store.applications()?;
    if apps.is_empty() {
        return Err(Failure::new(format!(
            "{} holds no application (it has no events table)",
            store.description
        )));
    }
    let mut reports = Vec::new();
    for app in &apps {
        let mapper = store.mapper(app)?;
        reports.push(verify_application(
            &store,
            app,
            &mapper,
            &mut checks(command),
        )?);
    }
    let faults: usize = reports.iter().map(|r| r.faults.len()).sum();
    if args.json {
        let applications: Vec<Value> = reports
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "events": r.events,
                    "snapshots": r.snapshots,
                    "aggregates": r.aggregates,
                    "faults": r.faults.iter().map(Fault::to_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        output::json(&json!({
            "store": store.description,
            "ok": faults == 0,
            "faults": faults,
            "applications": applications,
        }))?;
    } else {
        for report in &reports {
            let name = if report.name.is_empty() {
                "(unnamed)"
            } else {
                &report.name
            };
            let verdict = match report.faults.len() {
                0 => "ok".to_string(),
                1 => "1 fault".to_string(),
                n => format!("{n} faults"),
            };
            output::line(format!(
                "{name}: {} events of {} aggregates, {} snapshots: {verdict}",
                report.events, report.aggregates, report.snapshots
            ))?;
            for fault in &report.faults {
                output::line(format!("  {}", fault.describe()))?;
            }
        }
        output::line(match faults {
            0 => format!("{}: no faults", store.description),
            n => format!(
                "{}: {n} fault{}",
                store.description,
                if n == 1 { "" } else { "s" }
            ),
        })?;
    }
    Ok(if faults == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64, aggregate: u128, version: u64) -> Notification {
        Notification {
            id,
            stored: StoredEvent {
                originator_id: Uuid::from_u128(aggregate),
                originator_version: version,
                topic: "t".into(),
                state: b"{}".to_vec(),
            },
        }
    }

    fn run_checks(events: &[Notification]) -> Vec<Problem> {
        let mut checks = checks(&VerifyArgs { initial_version: 1 });
        let mut faults = Vec::new();
        for e in events {
            let state = decode_state(&Mapper::default(), &e.state);
            for check in checks.iter_mut() {
                check.event(e, &state, &mut faults);
            }
        }
        faults.into_iter().map(|f| f.problem).collect()
    }

    #[test]
    fn contiguous_versions_pass() {
        assert!(run_checks(&[event(1, 1, 1), event(2, 2, 1), event(3, 1, 2)]).is_empty());
    }

    #[test]
    fn gaps_order_and_first_versions_are_faults() {
        assert_eq!(
            run_checks(&[event(1, 1, 1), event(2, 1, 3)]),
            [Problem::VersionGap { previous: 1 }]
        );
        assert_eq!(
            run_checks(&[event(1, 1, 1), event(2, 1, 1)]),
            [Problem::VersionOrder { previous: 1 }]
        );
        assert_eq!(
            run_checks(&[event(1, 1, 2)]),
            [Problem::FirstVersion { expected: 1 }]
        );
        assert_eq!(
            run_checks(&[event(2, 1, 1), event(2, 2, 1)]),
            [Problem::NotificationOrder { previous: 2 }]
        );
    }
}
