//! `verify`: reads everything an application stored and checks it.
//!
//! Every event (in notification order) and then every snapshot is decoded once, by the
//! application's [`Decoder`] (with per-aggregate keys, under each aggregate's data key), and
//! handed with what decoding gave to each [`Check`]; then every row of the key table, if the
//! application has one. Each check reports the [`Fault`]s it finds. The checks are
//! independent of each other: a new one is a type implementing [`Check`], added to [`checks`].
//!
//! Forgotten aggregates (per-aggregate keys) are not faults: their events are counted and
//! reported as forgotten.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::ExitCode;

use clap::Args;
use eventsourcing::persistence::hash_chain::{check_chain, link, ChainFault, ChainLink};
use eventsourcing::persistence::{Notification, StoredDataKey, StoredEvent};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::decode::{DecodeFault, Decoded, Decoder, State, Step};
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
    /// Require every event to be hash-chained (as HASH_CHAIN does). Without it (and without
    /// HASH_CHAIN), the chain of each aggregate whose events carry one is checked, and
    /// aggregates without one are faults only in a store where others have one.
    #[arg(long)]
    hash_chain: bool,
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
    /// A row of the key table (per-aggregate keys).
    DataKey { originator_id: Uuid },
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
            Place::DataKey { originator_id } => {
                write!(f, "data key of aggregate {originator_id}")
            }
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
    /// A snapshot of a forgotten aggregate (forgetting removes them).
    ForgottenSnapshot,
    /// A row of the key table whose aggregate has no events.
    OrphanKey,
    /// The hash chain of the aggregate is wrong at this event.
    Chain(ChainFault),
    /// The aggregate's events from this one to version `to` are not hash-chained, in a store
    /// whose other events are (`chained` aggregates), or whose later events are.
    Unchained {
        to: u64,
        chained: usize,
        later: bool,
    },
}

impl Problem {
    /// A name for scripts (the `kind` of a fault in `--json`).
    fn kind(&self) -> &'static str {
        match self {
            Problem::Undecodable(fault) if fault.step == Step::NoKey => "no_data_key",
            Problem::Undecodable(fault) if fault.step == Step::Key => "bad_data_key",
            Problem::Undecodable(_) => "undecodable",
            Problem::NotificationOrder { .. } => "notification_order",
            Problem::FirstVersion { .. } => "first_version",
            Problem::VersionGap { .. } => "version_gap",
            Problem::VersionOrder { .. } => "version_order",
            Problem::NotASnapshot(_) => "not_a_snapshot",
            Problem::SnapshotWithoutEvents => "snapshot_without_events",
            Problem::SnapshotBeyondEvents { .. } => "snapshot_beyond_events",
            Problem::ForgottenSnapshot => "forgotten_snapshot",
            Problem::OrphanKey => "orphan_data_key",
            Problem::Chain(ChainFault::Unchained { .. }) | Problem::Unchained { .. } => "unchained",
            Problem::Chain(ChainFault::Altered { .. }) => "chain_altered",
            Problem::Chain(ChainFault::Broken { .. }) => "chain_broken",
            Problem::Chain(_) => "chain",
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
            Problem::ForgottenSnapshot => "the aggregate was forgotten, and forgetting removes \
                                           its snapshots"
                .to_string(),
            Problem::OrphanKey => "the aggregate has no events (a key without the events it \
                                   was made for)"
                .to_string(),
            Problem::Chain(fault) => format!("hash chain: {fault}"),
            Problem::Unchained { to, chained, later } => {
                let versions = if *to == version {
                    format!("version {version} is")
                } else {
                    format!("versions {version} to {to} are")
                };
                if *later {
                    format!(
                        "hash chain: {versions} not hash-chained, and the aggregate's later \
                         events are (the chain fields were removed, or the events replaced)"
                    )
                } else {
                    format!(
                        "hash chain: the aggregate is not hash-chained ({versions} not), and \
                         {chained} other aggregate{} of the store {}",
                        if *chained == 1 { "" } else { "s" },
                        if *chained == 1 { "is" } else { "are" }
                    )
                }
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
            Place::DataKey { .. } => 0,
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
            Place::DataKey { originator_id } => json!({
                "data_key": true,
                "originator_id": originator_id,
            }),
        };
        value["kind"] = json!(self.problem.kind());
        value["problem"] = json!(self.describe());
        value
    }
}

/// A count a check reports, beside its faults ("3 forgotten events").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    /// The key in `--json`.
    key: &'static str,
    count: u64,
    /// What is counted, for people: singular and plural.
    what: (&'static str, &'static str),
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.count == 1 {
            self.what.0
        } else {
            self.what.1
        };
        write!(f, "{} {what}", self.count)
    }
}

/// A check of an application's stored events, snapshots and data keys.
pub(crate) trait Check {
    /// An event, in notification order, with its decoded state.
    fn event(&mut self, event: &Notification, state: &State, faults: &mut Vec<Fault>);

    /// A snapshot (after every event), with its decoded state.
    fn snapshot(&mut self, _snapshot: &StoredEvent, _state: &State, _faults: &mut Vec<Fault>) {}

    /// A row of the key table (after every snapshot), with per-aggregate keys.
    fn data_key(&mut self, _key: &StoredDataKey, _faults: &mut Vec<Fault>) {}

    /// After everything was read: faults that only the whole shows.
    fn finish(&mut self, _faults: &mut Vec<Fault>) {}

    /// What the check counted, to report beside the faults.
    fn notes(&self) -> Vec<Note> {
        Vec::new()
    }
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
            Ok(Decoded::Forgotten) => Problem::ForgottenSnapshot,
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

/// Per-aggregate keys: forgotten events are counted (not faults); every row of the key table
/// is of an aggregate with events. (An event without a key is a fault of decoding.)
#[derive(Default)]
struct DataKeys {
    /// The aggregates with events.
    aggregates: HashSet<Uuid>,
    forgotten_events: u64,
    forgotten_aggregates: HashSet<Uuid>,
    keys: u64,
    keyed: bool,
}

impl Check for DataKeys {
    fn event(&mut self, event: &Notification, state: &State, _faults: &mut Vec<Fault>) {
        self.aggregates.insert(event.originator_id);
        if matches!(state, Ok(Decoded::Forgotten)) {
            self.forgotten_events += 1;
            self.forgotten_aggregates.insert(event.originator_id);
        }
    }

    fn data_key(&mut self, key: &StoredDataKey, faults: &mut Vec<Fault>) {
        self.keys += 1;
        if !self.aggregates.contains(&key.originator_id) {
            faults.push(Fault {
                place: Place::DataKey {
                    originator_id: key.originator_id,
                },
                problem: Problem::OrphanKey,
            });
        }
    }

    fn notes(&self) -> Vec<Note> {
        if !self.keyed {
            return Vec::new();
        }
        vec![
            Note {
                key: "data_keys",
                count: self.keys,
                what: ("data key", "data keys"),
            },
            Note {
                key: "forgotten_aggregates",
                count: self.forgotten_aggregates.len() as u64,
                what: ("forgotten aggregate", "forgotten aggregates"),
            },
            Note {
                key: "forgotten_events",
                count: self.forgotten_events,
                what: ("forgotten event", "forgotten events"),
            },
        ]
    }
}

/// What a hash chain is to be to the aggregate before its next event.
enum ChainHead {
    /// No event of the aggregate yet.
    Start,
    /// Its last event could not be read: the next one's link to it can't be checked.
    Unknown,
    /// Its last event: version and link.
    Seen(u64, Option<ChainLink>),
}

/// One aggregate, as the hash-chain check follows it.
struct ChainState {
    head: ChainHead,
    /// Whether its events are checked: with the chain required, always; else once one of its
    /// events is chained.
    checked: bool,
    /// Its events before any chained one, while not checked: the place of the first, and the
    /// last version.
    unchained: Option<(Place, u64)>,
    forgotten: bool,
}

/// The hash chain (feature `hash-chain` of the library; `HASH_CHAIN`): each aggregate's
/// events chained, unaltered, each chained to the one before it (the first, of the initial
/// version, to nothing), with `hash_chain::check_chain`. Events are followed in notification
/// order, one link per aggregate kept.
///
/// With the chain required (`--hash-chain`, `HASH_CHAIN`), every event must be chained.
/// Otherwise an aggregate is checked once one of its events carries the chain fields (and its
/// earlier events without them are faults); aggregates without any are faults only when other
/// aggregates of the store are chained. Forgotten aggregates are not checked.
struct HashChain {
    required: bool,
    initial: u64,
    aggregates: HashMap<Uuid, ChainState>,
}

/// The faults of `current` alone, following `head` (as `check_chain` gives them for the
/// whole sequence).
fn chain_faults(
    head: &ChainHead,
    initial: u64,
    current: (u64, Option<ChainLink>),
) -> Vec<ChainFault> {
    // An event before `current` that is itself faultless and chains to `hash`.
    let chained_to = |hash: &str| {
        (
            1,
            Some(ChainLink {
                event_hash: hash.to_string(),
                previous_hash: String::new(),
                intact: true,
            }),
        )
    };
    let previous = match head {
        ChainHead::Start if current.0 == initial => chained_to(""),
        // Its first events are missing: it chains to none that is here.
        ChainHead::Start => (1, None),
        ChainHead::Unknown => {
            let hash = current.1.as_ref().map_or("", |l| l.previous_hash.as_str());
            chained_to(hash)
        }
        ChainHead::Seen(version, link) => (*version, link.clone()),
    };
    let own = check_chain(std::slice::from_ref(&previous)).len();
    let mut faults = check_chain(&[previous, current]);
    faults.drain(..own);
    faults
}

impl HashChain {
    /// How many aggregates' chains were checked (forgotten ones are not).
    fn chained(&self) -> usize {
        self.aggregates
            .values()
            .filter(|a| a.checked && !a.forgotten)
            .count()
    }
}

impl Check for HashChain {
    fn event(&mut self, event: &Notification, state: &State, faults: &mut Vec<Fault>) {
        let aggregate = self
            .aggregates
            .entry(event.originator_id)
            .or_insert(ChainState {
                head: ChainHead::Start,
                checked: self.required,
                unchained: None,
                forgotten: false,
            });
        if aggregate.forgotten {
            return;
        }
        let version = event.originator_version;
        let current = match state {
            Ok(Decoded::Forgotten) => {
                aggregate.forgotten = true;
                aggregate.unchained = None;
                return;
            }
            Ok(decoded) => {
                let plain = decoded.plain().unwrap_or_default();
                link(event.originator_id, version, &event.topic, plain)
            }
            Err(_) => {
                // A fault already; the next event is checked as far as it can be.
                aggregate.head = ChainHead::Unknown;
                return;
            }
        };
        if !aggregate.checked {
            if current.is_none() {
                match &mut aggregate.unchained {
                    Some((_, last)) => *last = (*last).max(version),
                    None => aggregate.unchained = Some((Place::of_event(event), version)),
                }
                aggregate.head = ChainHead::Seen(version, None);
                return;
            }
            aggregate.checked = true;
            if let Some((place, to)) = aggregate.unchained.take() {
                faults.push(Fault {
                    place,
                    problem: Problem::Unchained {
                        to,
                        chained: 0,
                        later: true,
                    },
                });
            }
        }
        for fault in chain_faults(&aggregate.head, self.initial, (version, current.clone())) {
            faults.push(Fault {
                place: Place::of_event(event),
                problem: Problem::Chain(fault),
            });
        }
        aggregate.head = ChainHead::Seen(version, current);
    }

    fn finish(&mut self, faults: &mut Vec<Fault>) {
        let chained = self.chained();
        if chained == 0 {
            return;
        }
        // In notification order.
        let mut unchained: BTreeMap<u64, Fault> = BTreeMap::new();
        for aggregate in self.aggregates.values() {
            if let (false, Some((place, to))) = (aggregate.checked, &aggregate.unchained) {
                let Place::Event {
                    notification_id, ..
                } = place
                else {
                    continue;
                };
                unchained.insert(
                    *notification_id,
                    Fault {
                        place: place.clone(),
                        problem: Problem::Unchained {
                            to: *to,
                            chained,
                            later: false,
                        },
                    },
                );
            }
        }
        faults.extend(unchained.into_values());
    }

    fn notes(&self) -> Vec<Note> {
        let chained = self.chained();
        if chained == 0 && !self.required {
            return Vec::new();
        }
        vec![Note {
            key: "hash_chained_aggregates",
            count: chained as u64,
            what: ("hash-chained aggregate", "hash-chained aggregates"),
        }]
    }
}

/// The checks `verify` runs on an application (with per-aggregate keys if `keyed`; with the
/// hash chain required if `chain_required`).
fn checks(args: &VerifyArgs, keyed: bool, chain_required: bool) -> Vec<Box<dyn Check>> {
    vec![
        Box::new(Decodes),
        Box::new(NotificationIds::default()),
        Box::new(Versions {
            initial: args.initial_version,
            last: HashMap::new(),
        }),
        Box::new(DataKeys {
            keyed,
            ..DataKeys::default()
        }),
        Box::new(HashChain {
            required: chain_required,
            initial: args.initial_version,
            aggregates: HashMap::new(),
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
    notes: Vec<Note>,
}

fn verify_application(
    store: &Store,
    app: &App,
    decoder: &Decoder,
    checks: &mut [Box<dyn Check>],
) -> Result<Report, Failure> {
    let in_app = |f: Failure| f.context(format!("application {:?}", app.name));
    let recorder = store.events(app)?;
    let bar = output::progress(
        Some(store.count_records(app)?),
        &format!("verifying {}", app.name),
    );
    let mut report = Report {
        name: app.name.clone(),
        events: 0,
        snapshots: 0,
        aggregates: 0,
        faults: Vec::new(),
        notes: Vec::new(),
    };
    let mut aggregates = HashSet::new();
    let mut decoded = 0u64;
    let mut first_fault: Option<(Place, DecodeFault)> = None;
    // The events committed before verifying began.
    store.each_event_page(app, &*recorder, |page, states| {
        let decoded_page = decoder.decode_stored(states).map_err(in_app)?;
        for (event, state) in page.iter().zip(decoded_page) {
            match &state {
                // Forgotten states say nothing of the settings.
                Ok(Decoded::Json { .. }) => decoded += 1,
                Ok(Decoded::Forgotten) => {}
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
        Ok(())
    })?;
    store.each_snapshot_page(app, |page, states| {
        let decoded_page = decoder.decode_stored(states).map_err(in_app)?;
        for (snapshot, state) in page.iter().zip(decoded_page) {
            for check in checks.iter_mut() {
                check.snapshot(snapshot, &state, &mut report.faults);
            }
            report.snapshots += 1;
            bar.inc(1);
        }
        Ok(())
    })?;
    store.each_data_key_page(app, |page| {
        for key in page {
            for check in checks.iter_mut() {
                check.data_key(key, &mut report.faults);
            }
        }
        Ok(())
    })?;
    for check in checks.iter_mut() {
        check.finish(&mut report.faults);
        report.notes.extend(check.notes());
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
        let decoder = store.decoder(app)?;
        let keyed = app.tables.data_keys.is_some();
        let chain_required = command.hash_chain || store.hash_chain_required(app)?;
        reports.push(verify_application(
            &store,
            app,
            &decoder,
            &mut checks(command, keyed, chain_required),
        )?);
    }
    let faults: usize = reports.iter().map(|r| r.faults.len()).sum();
    if args.json {
        let applications: Vec<Value> = reports
            .iter()
            .map(|r| {
                let mut value = json!({
                    "name": r.name,
                    "events": r.events,
                    "snapshots": r.snapshots,
                    "aggregates": r.aggregates,
                    "faults": r.faults.iter().map(Fault::to_json).collect::<Vec<_>>(),
                });
                for note in &r.notes {
                    value[note.key] = json!(note.count);
                }
                value
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
            let notes: String = report.notes.iter().map(|n| format!(", {n}")).collect();
            output::line(format!(
                "{name}: {} events of {} aggregates, {} snapshots{notes}: {verdict}",
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
    use crate::decode::decode_state;
    use eventsourcing::persistence::Mapper;

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
        let args = VerifyArgs {
            initial_version: 1,
            hash_chain: false,
        };
        let mut checks = checks(&args, false, false);
        let mut faults = Vec::new();
        for e in events {
            let state = decode_state(&Mapper::default(), &e.state);
            for check in checks.iter_mut() {
                check.event(e, &state, &mut faults);
            }
        }
        for check in checks.iter_mut() {
            check.finish(&mut faults);
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
