//! `export`: the whole store as JSON lines (the format is in [`crate::backup`]).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::backup::{self, Counts};
use crate::decode::State;
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

/// How many records of each application were exported.
type AllCounts = Vec<(String, Counts)>;

/// The decoded state to add to a record, if it decodes (and `--decoded`).
fn decoded(state: State) -> Option<Value> {
    state
        .ok()
        .and_then(|d| d.json().cloned())
        .map(Value::Object)
}

fn write_line(out: &mut dyn Write, value: &Value) -> Result<(), Failure> {
    serde_json::to_writer(&mut *out, value).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes one application (in an export of format `version`); returns how many records of
/// each kind.
fn export_application(
    store: &Store,
    app: &App,
    decode: bool,
    version: u64,
    out: &mut dyn Write,
) -> Result<Counts, Failure> {
    let in_app = |e| Failure::from(e).context(format!("application {:?}", app.name));
    // The stored bytes, as they are (with per-aggregate keys, encrypted under the data keys,
    // which are exported too).
    let recorder = store.events(app)?;
    let decoder = if decode {
        Some(store.decoder(app)?)
    } else {
        None
    };
    // The decoded states of a page, if `--decoded`.
    let decode_page = |states: &[(uuid::Uuid, &[u8])]| -> Result<Vec<Option<Value>>, Failure> {
        match &decoder {
            None => Ok(vec![None; states.len()]),
            Some(decoder) => Ok(decoder
                .decode_stored(states)?
                .into_iter()
                .map(decoded)
                .collect()),
        }
    };
    let bar = output::progress(
        Some(store.count_records(app)?),
        &format!("exporting {}", app.name),
    );
    write_line(out, &backup::application(&app.name))?;
    let mut counts = Counts::default();
    // The events committed before the export began.
    store.each_event_page(app, &*recorder, |page, states| {
        for (notification, decoded) in page.iter().zip(decode_page(states)?) {
            write_line(out, &backup::event(notification, decoded))?;
            counts.events += 1;
            bar.inc(1);
        }
        Ok(())
    })?;
    store.each_snapshot_page(app, |page, states| {
        for (snapshot, decoded) in page.iter().zip(decode_page(states)?) {
            write_line(out, &backup::snapshot(snapshot, decoded))?;
            counts.snapshots += 1;
            bar.inc(1);
        }
        Ok(())
    })?;
    let tracking = store.inspector.tracking(&app.tables).map_err(in_app)?;
    for record in &tracking {
        write_line(out, &backup::tracking(record))?;
    }
    counts.tracking = u64::try_from(tracking.len()).unwrap_or(0);
    store.each_data_key_page(app, |page| {
        for key in page {
            write_line(out, &backup::data_key(key))?;
            counts.data_keys += 1;
        }
        Ok(())
    })?;
    write_line(out, &backup::end(&app.name, counts, version))?;
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
    // Version 1, which older readers read, unless there are data keys to export.
    let version = if apps.iter().any(|app| app.tables.data_keys.is_some()) {
        backup::VERSION
    } else {
        backup::VERSION_WITHOUT_KEYS
    };
    let export = |out: &mut dyn Write| -> Result<AllCounts, Failure> {
        write_line(out, &backup::header(version))?;
        let mut counts = Vec::new();
        for app in &apps {
            counts.push((
                app.name.clone(),
                export_application(&store, app, command.decoded, version, out)?,
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
    for (name, counts) in counts {
        let name = if name.is_empty() {
            "(unnamed)".to_string()
        } else {
            name
        };
        let keys = if version >= 2 {
            format!(", {} data keys", counts.data_keys)
        } else {
            String::new()
        };
        eprintln!(
            "exported {name}: {} events, {} snapshots, {} tracking positions{keys} to {}",
            counts.events,
            counts.snapshots,
            counts.tracking,
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
