//! `history ID [--at VERSION]`: an aggregate's events, decoded.
//!
//! With per-aggregate keys, the events are read as the application reads them (a
//! `KeyedRecorder`); a forgotten aggregate's events are listed as forgotten (version and
//! topic, no state), after a line that says so, and the exit status is 0: the store is as
//! forgetting leaves it.

use std::process::ExitCode;

use clap::Args;
use eventsourcing::persistence::{EventQuery, PersistenceError, StoredEvent};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::decode::{fields, metadata, timestamp, Decoded};
use crate::error::Failure;
use crate::output;
use crate::store::Store;
use crate::StoreArgs;

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// The aggregate's id (a UUID).
    id: String,
    /// Only the events up to this version.
    #[arg(long, value_name = "VERSION")]
    at: Option<u64>,
}

/// An aggregate id as given on the command line.
pub(crate) fn parse_id(text: &str) -> Result<Uuid, Failure> {
    Uuid::try_parse(text.trim())
        .map_err(|e| Failure::new(format!("{text:?} is not an aggregate id (a UUID): {e}")))
}

pub(crate) fn run(args: &StoreArgs, command: &HistoryArgs) -> Result<ExitCode, Failure> {
    let id = parse_id(&command.id)?;
    let store = Store::open(args, false)?;
    let app = store.application()?;
    let decoder = store.decoder(&app)?;
    let mut query = EventQuery::new();
    if let Some(at) = command.at {
        query = query.lte(at);
    }
    let cant_read = |e| Failure::from(e).context(format!("can't read the events of {id}"));
    let (events, forgotten): (Vec<StoredEvent>, bool) =
        match store.app_events(&app)?.select_events(id, &query) {
            Ok(events) => (events, false),
            // What is left of them: ids, versions and topics.
            Err(PersistenceError::Forgotten { .. }) => (
                store
                    .events(&app)?
                    .select_events(id, &query)
                    .map_err(cant_read)?,
                true,
            ),
            Err(error) => return Err(cant_read(error)),
        };
    if events.is_empty() {
        let at = command
            .at
            .map_or(String::new(), |at| format!(" at or below version {at}"));
        return Err(Failure::new(format!(
            "aggregate {id} has no events{at} in {}",
            store.description
        )));
    }
    let mut rows = Vec::with_capacity(events.len());
    for event in &events {
        let decoded = if forgotten {
            Decoded::Forgotten
        } else {
            decoder.decode_opened(event).map_err(|fault| {
                Failure::new(format!(
                    "aggregate {id} version {}: {fault} (`eventsourcing verify` checks every \
                     event)",
                    event.originator_version
                ))
            })?
        };
        let Some(state) = decoded.json() else {
            if args.json {
                output::json(&json!({
                    "originator_id": id,
                    "originator_version": event.originator_version,
                    "topic": event.topic,
                    "forgotten": true,
                    "timestamp": null,
                    "state": null,
                }))?;
            } else {
                rows.push(vec![
                    event.originator_version.to_string(),
                    "-".to_string(),
                    event.topic.to_string(),
                    "forgotten".to_string(),
                ]);
            }
            continue;
        };
        if args.json {
            output::json(&json!({
                "originator_id": id,
                "originator_version": event.originator_version,
                "topic": event.topic,
                "timestamp": timestamp(state),
                "causation_id": metadata(state).0,
                "correlation_id": metadata(state).1,
                "state": Value::Object(state.clone()),
            }))?;
        } else {
            rows.push(vec![
                event.originator_version.to_string(),
                timestamp(state).unwrap_or("?").to_string(),
                event.topic.to_string(),
                fields(state),
            ]);
        }
    }
    if !args.json {
        if forgotten {
            output::line(format!(
                "aggregate {id} was forgotten: its data key was destroyed, so the state of \
                 its {} events can't be read",
                events.len()
            ))?;
        } else {
            output::line(format!("aggregate {id}"))?;
        }
        output::line(output::table(
            &["version", "timestamp", "topic", "state"],
            rows,
            &[0],
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
