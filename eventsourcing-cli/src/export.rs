//! `export`: the whole store as JSON lines (the format is in [`crate::backup`]).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use eventsourcing::persistence::SUBSCRIPTION_PAGE;
use serde_json::Value;

use crate::backup;
use crate::decode::decode_state;
use crate::error::Failure;
use crate::output;
use crate::store::{App, Store};
use crate::StoreArgs;

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Write to this file (whole, or not at all) rather than to stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Add each state decoded, as JSON ("decoded"), where it decodes: for people to read.
    /// Import ignores it: it writes the stored bytes ("state").
    #[arg(long)]
    decoded: bool,
}

/// How many events, snapshots and tracking positions of each application were exported.
type Counts = Vec<(String, (u64, u64, u64))>;

fn write_line(out: &mut dyn Write, value: &Value) -> Result<(), Failure> {
    serde_json::to_writer(&mut *out, value).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes one application; returns how many events, snapshots and tracking records.
fn export_application(
    store: &Store,
    app: &App,
    decoded: bool,
    out: &mut dyn Write,
) -> Result<(u64, u64, u64), Failure> {
    let in_app = |e| Failure::from(e).context(format!("application {:?}", app.name));
    let recorder = store.events(app)?;
    let mapper = store.mapper(app)?;
    let decode = |state: &[u8]| -> Option<Value> {
        if !decoded {
            return None;
        }
        decode_state(&mapper, state)
            .ok()
            .and_then(|d| d.json().cloned())
            .map(Value::Object)
    };
    let total = store.inspector.count_events(&app.tables).map_err(in_app)?
        + store
            .inspector
            .count_snapshots(&app.tables)
            .map_err(in_app)?;
    let bar = output::progress(Some(total), &format!("exporting {}", app.name));
    write_line(out, &backup::application(&app.name))?;
    let (mut events, mut snapshots) = (0, 0);
    // The events committed before the export began.
    let max = recorder.max_notification_id().map_err(in_app)?;
    let mut start = 1;
    while start <= max {
        let page = recorder
            .select_notifications(start, SUBSCRIPTION_PAGE)
            .map_err(in_app)?;
        let Some(end) = page.last().map(|n| n.id) else {
            break;
        };
        for notification in page.iter().filter(|n| n.id <= max) {
            write_line(
                out,
                &backup::event(notification, decode(&notification.state)),
            )?;
            events += 1;
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
            write_line(out, &backup::snapshot(snapshot, decode(&snapshot.state)))?;
            snapshots += 1;
            bar.inc(1);
        }
    }
    let tracking = store.inspector.tracking(&app.tables).map_err(in_app)?;
    for record in &tracking {
        write_line(out, &backup::tracking(record))?;
    }
    let counts = (
        events,
        snapshots,
        u64::try_from(tracking.len()).unwrap_or(0),
    );
    write_line(out, &backup::end(&app.name, counts))?;
    bar.finish_and_clear();
    Ok(counts)
}

pub(crate) fn run(args: &StoreArgs, command: &ExportArgs) -> Result<ExitCode, Failure> {
    let store = Store::open(args, false)?;
    let apps = store.applications()?;
    if apps.is_empty() {
        return Err(Failure::new(format!(
            "{} holds no application (it has no events table)",
            store.description
        )));
    }
    let export = |out: &mut dyn Write| -> Result<Counts, Failure> {
        write_line(out, &backup::header())?;
        let mut counts = Vec::new();
        for app in &apps {
            counts.push((
                app.name.clone(),
                export_application(&store, app, command.decoded, out)?,
            ));
        }
        out.flush()?;
        Ok(counts)
    };
    let Some(path) = &command.output else {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        export(&mut out)?;
        return Ok(ExitCode::SUCCESS);
    };
    // Written beside, then renamed: a failed export leaves no file that looks whole.
    let mut partial = path.clone().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let written = (|| {
        let file = std::fs::File::create(&partial)
            .map_err(|e| Failure::from(e).context(format!("can't create {}", partial.display())))?;
        let mut out = std::io::BufWriter::new(file);
        let counts = export(&mut out)?;
        out.into_inner()
            .map_err(|e| Failure::from(e.into_error()))?
            .sync_all()?;
        std::fs::rename(&partial, path)
            .map_err(|e| Failure::from(e).context(format!("can't write {}", path.display())))?;
        Ok(counts)
    })();
    let counts = match written {
        Ok(counts) => counts,
        Err(failure) => {
            let _ = std::fs::remove_file(&partial);
            return Err(failure);
        }
    };
    for (name, (events, snapshots, tracking)) in counts {
        let name = if name.is_empty() {
            "(unnamed)".to_string()
        } else {
            name
        };
        eprintln!(
            "exported {name}: {events} events, {snapshots} snapshots, {tracking} tracking \
             positions to {}",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
