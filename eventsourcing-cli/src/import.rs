//! `import`: an export (see [`crate::backup`]) into a store, all or nothing.
//!
//! The whole file is read and checked before the store is touched. The events are written
//! with the notification ids they had, gaps included (PostgreSQL leaves gaps where inserts
//! were rolled back), rather than given new ones: the ids are what followers' tracking
//! positions and projections refer to, so they must stay. Everything is written in one
//! transaction, into applications that must be empty unless `--replace` is given. The data
//! keys of an application with per-aggregate keys are written into its key table in the same
//! transaction.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use eventsourcing::persistence::ApplicationContents;
use eventsourcing::sqlite::SQLITE_DBNAME;
use serde_json::json;

use crate::backup;
use crate::error::Failure;
use crate::output;
use crate::store::{environment, Backend, Store};
use crate::StoreArgs;

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The export to read ("-" for stdin).
    file: PathBuf,
    /// Replace what the target application holds (deleted in the same transaction), rather
    /// than refuse an application that is not empty.
    #[arg(long)]
    replace: bool,
}

/// The applications to import, named as `--app` says.
fn rename(
    mut applications: Vec<(String, ApplicationContents)>,
    app: Option<&str>,
) -> Result<Vec<(String, ApplicationContents)>, Failure> {
    let Some(app) = app else {
        return Ok(applications);
    };
    if applications.len() == 1 {
        applications[0].0 = app.to_string();
        return Ok(applications);
    }
    let found = applications
        .iter()
        .position(|(name, _)| name.eq_ignore_ascii_case(app));
    match found {
        Some(index) => {
            let (_, contents) = applications.swap_remove(index);
            Ok(vec![(app.to_string(), contents)])
        }
        None => Err(Failure::new(format!(
            "the export has no application {app:?} (it has {})",
            applications
                .iter()
                .map(|(n, _)| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The SQLite file `args` name, if it is a plain path that does not exist yet (so that a
/// failed import can remove the file it created).
fn new_sqlite_file(args: &StoreArgs) -> Option<PathBuf> {
    let env = environment(args);
    let db_name = env.get(SQLITE_DBNAME)?;
    let is_path = !db_name.contains(":memory:") && !db_name.starts_with("file:");
    (is_path && !Path::new(db_name).exists()).then(|| PathBuf::from(db_name))
}

fn remove_sqlite_file(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}

pub(crate) fn run(args: &StoreArgs, command: &ImportArgs) -> Result<ExitCode, Failure> {
    let (input, size): (Box<dyn BufRead>, Option<u64>) = if command.file.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let file = std::fs::File::open(&command.file).map_err(|e| {
            Failure::from(e).context(format!("can't open {}", command.file.display()))
        })?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(std::io::BufReader::new(file)), size)
    };
    let bar = output::progress(size, "reading the export");
    let applications = backup::read(input, |bytes| bar.inc(bytes))
        .map_err(|f| f.context(format!("{} is not a whole export", command.file.display())))?;
    bar.finish_and_clear();
    let applications = rename(applications, args.app.as_deref())?;

    let backend = crate::store::backend(&environment(args))?;
    match backend {
        Backend::Sqlite if applications.len() > 1 => {
            return Err(Failure::new(format!(
                "an SQLite database holds one application, and the export has {}: import one \
                 at a time with --app NAME",
                applications.len()
            )));
        }
        Backend::Postgres => {
            if applications.iter().any(|(name, _)| name.is_empty()) {
                return Err(Failure::new(
                    "the export's application has no name (it was exported from SQLite without \
                     --app): give it one with --app NAME",
                ));
            }
        }
        Backend::Sqlite => {}
    }
    let created = match backend {
        Backend::Sqlite => new_sqlite_file(args),
        Backend::Postgres => None,
    };
    let restored = Store::open(args, true).and_then(|store| {
        store
            .inspector
            .restore(&applications, command.replace)
            .map_err(|e| {
                Failure::from(e).context(format!("{}: nothing was imported", store.description))
            })?;
        Ok(store)
    });
    let store = match restored {
        Ok(store) => store,
        Err(failure) => {
            if let Some(path) = created {
                remove_sqlite_file(&path);
            }
            return Err(failure);
        }
    };
    for (name, contents) in &applications {
        let shown = if name.is_empty() { "(unnamed)" } else { name };
        if args.json {
            output::json(&json!({
                "application": name,
                "events": contents.events.len(),
                "snapshots": contents.snapshots.len(),
                "tracking": contents.tracking.len(),
                "data_keys": contents.data_keys.len(),
                "store": store.description,
            }))?;
        } else {
            let keys = if contents.data_keys.is_empty() {
                String::new()
            } else {
                format!(", {} data keys", contents.data_keys.len())
            };
            output::line(format!(
                "imported {shown}: {} events, {} snapshots, {} tracking positions{keys} into {}",
                contents.events.len(),
                contents.snapshots.len(),
                contents.tracking.len(),
                store.description
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
