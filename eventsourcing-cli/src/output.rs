//! What commands print: aligned tables for people, JSON for scripts, progress bars on a
//! terminal's stderr.

use std::io::{IsTerminal, Write};

use comfy_table::presets::NOTHING;
use comfy_table::{CellAlignment, ColumnConstraint, Table, Width};
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::Failure;

/// A table of `header` and `rows`, columns aligned (numbers to the right), without borders.
pub(crate) fn table(header: &[&str], rows: Vec<Vec<String>>, numeric: &[usize]) -> String {
    let mut table = Table::new();
    table.load_preset(NOTHING);
    table.set_header(header.iter().map(|h| h.to_uppercase()));
    for row in rows {
        table.add_row(row);
    }
    for index in numeric {
        if let Some(column) = table.column_mut(*index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    // Long states are not wrapped: each row stays one line.
    for column in table.column_iter_mut() {
        column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(1)));
        column.set_padding((0, 2));
    }
    let text = table.to_string();
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints `text` and a newline on stdout.
pub(crate) fn line(text: impl AsRef<str>) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", text.as_ref())?;
    Ok(())
}

/// Prints `value` as one line of JSON on stdout.
pub(crate) fn json(value: &serde_json::Value) -> Result<(), Failure> {
    line(value.to_string())
}

/// A progress bar of `len` steps (a spinner if unknown) saying `what`, drawn on stderr only if
/// stderr is a terminal.
pub(crate) fn progress(len: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.set_message(what.to_string());
    bar
}
