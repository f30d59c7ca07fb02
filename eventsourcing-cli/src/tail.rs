//! `tail [--follow] [--from ID] [--limit N]`: the notification log, and what is committed to it
//! next.
//!
//! With per-aggregate keys, the log is read as the application reads it (a `KeyedRecorder`):
//! the notifications of forgotten aggregates are shown as `forgotten` (id, aggregate, version,
//! topic; no state), not as errors.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use eventsourcing::persistence::{
    ApplicationRecorder, Notification, Subscription, SUBSCRIPTION_PAGE,
};
use serde_json::{json, Value};

use crate::decode::{fields, metadata, timestamp, Decoder};
use crate::error::Failure;
use crate::output;
use crate::store::Store;
use crate::StoreArgs;

/// How many notifications `tail` shows without `--from` or `--limit`.
const DEFAULT_LAST: usize = 10;

#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    /// Keep printing notifications as they are committed, until interrupted.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Start at this notification id (without it: the last --limit notifications).
    #[arg(long, value_name = "ID")]
    from: Option<u64>,
    /// Print at most this many notifications before following [default: 10 without --from,
    /// all with it]
    #[arg(long, short = 'n', value_name = "N")]
    limit: Option<usize>,
}

/// Prints notifications, decoded, as rows whose columns line up, or as JSON lines.
struct Printer {
    decoder: Decoder,
    json: bool,
    id_width: usize,
    /// Whether the header line was printed (before the first row, once it decoded).
    header: std::cell::Cell<bool>,
}

impl Printer {
    fn header(&self) -> Result<(), Failure> {
        if self.json || self.header.replace(true) {
            return Ok(());
        }
        output::line(format!(
            "{:>w$}  {:<36}  {:>7}  {:<32}  {}  {}",
            "ID",
            "AGGREGATE",
            "VERSION",
            "TIMESTAMP",
            "TOPIC",
            "STATE",
            w = self.id_width
        ))
    }

    fn print(&self, notification: &Notification) -> Result<(), Failure> {
        let decoded = self.decoder.decode_opened(notification).map_err(|fault| {
            Failure::new(format!(
                "notification {} (aggregate {} version {}): {fault} (`eventsourcing verify` \
                 checks every event)",
                notification.id, notification.originator_id, notification.originator_version
            ))
        })?;
        self.header()?;
        let Some(state) = decoded.json() else {
            if self.json {
                return output::json(&json!({
                    "notification_id": notification.id,
                    "originator_id": notification.originator_id,
                    "originator_version": notification.originator_version,
                    "topic": notification.topic,
                    "forgotten": true,
                    "timestamp": null,
                    "state": null,
                }));
            }
            return output::line(format!(
                "{:>w$}  {:<36}  {:>7}  {:<32}  {}  forgotten",
                notification.id,
                notification.originator_id.to_string(),
                notification.originator_version,
                "-",
                notification.topic,
                w = self.id_width
            ));
        };
        if self.json {
            return output::json(&json!({
                "notification_id": notification.id,
                "originator_id": notification.originator_id,
                "originator_version": notification.originator_version,
                "topic": notification.topic,
                "timestamp": timestamp(state),
                "causation_id": metadata(state).0,
                "correlation_id": metadata(state).1,
                "state": Value::Object(state.clone()),
            }));
        }
        output::line(format!(
            "{:>w$}  {:<36}  {:>7}  {:<32}  {}  {}",
            notification.id,
            notification.originator_id.to_string(),
            notification.originator_version,
            timestamp(state).unwrap_or("?"),
            notification.topic,
            fields(state),
            w = self.id_width
        ))
    }
}

/// The last `n` notifications (fewer if the log has fewer; PostgreSQL's ids may have gaps).
fn last(
    recorder: &dyn ApplicationRecorder,
    max: u64,
    n: usize,
) -> Result<Vec<Notification>, Failure> {
    if n == 0 || max == 0 {
        return Ok(Vec::new());
    }
    let mut back = u64::try_from(n).unwrap_or(u64::MAX);
    loop {
        let start = max.saturating_sub(back.saturating_sub(1)).max(1);
        let span = usize::try_from(max - start + 1).unwrap_or(usize::MAX);
        let mut page = recorder.select_notifications(start, span)?;
        if page.len() >= n || start == 1 {
            let skip = page.len().saturating_sub(n);
            return Ok(page.split_off(skip));
        }
        back = back.saturating_mul(2);
    }
}

pub(crate) fn run(args: &StoreArgs, command: &TailArgs) -> Result<ExitCode, Failure> {
    let store = Store::open(args, false)?;
    let app = store.application()?;
    let decoder = store.decoder(&app)?;
    let recorder: Arc<dyn ApplicationRecorder> = store.app_events(&app)?;
    let max = recorder.max_notification_id()?;
    let printer = Printer {
        decoder,
        json: args.json,
        id_width: max.to_string().len().max(6),
        header: std::cell::Cell::new(false),
    };
    // The id of the last notification printed (or before which to start).
    let mut position = match command.from {
        None => {
            let shown = last(&*recorder, max, command.limit.unwrap_or(DEFAULT_LAST))?;
            for notification in &shown {
                printer.print(notification)?;
            }
            shown.last().map_or(max, |n| n.id)
        }
        Some(from) => {
            let mut remaining = command.limit.unwrap_or(usize::MAX);
            let mut start = from.max(1);
            let mut position = start - 1;
            while remaining > 0 {
                let page =
                    recorder.select_notifications(start, remaining.min(SUBSCRIPTION_PAGE))?;
                let Some(end) = page.last().map(|n| n.id) else {
                    break;
                };
                for notification in &page {
                    printer.print(notification)?;
                }
                remaining -= page.len();
                position = end;
                start = end + 1;
            }
            position
        }
    };
    if !command.follow {
        return Ok(ExitCode::SUCCESS);
    }
    // What follows `--from` beyond the end of the log is printed only from that id.
    let not_before = command.from.unwrap_or(0);
    position = position.min(recorder.max_notification_id()?);
    let subscription = Subscription::new(recorder, position, Vec::new())?;
    for notification in subscription {
        let notification = notification?;
        if notification.id >= not_before {
            printer.print(&notification)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
