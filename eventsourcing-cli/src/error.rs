//! [`Failure`]: why a command could not do its work, said in one line.

use std::fmt;

use eventsourcing::persistence::{ConfigError, FactoryError, PersistenceError};

/// An error that ends a command: printed as one line on stderr, with exit status 2.
#[derive(Debug)]
pub(crate) struct Failure(String);

/// What a failure says when stdout was closed by its reader (`eventsourcing tail | head`):
/// not an error to report.
const BROKEN_PIPE: &str = "\0broken pipe";

impl Failure {
    /// Whether stdout was closed by its reader.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        self.0 == BROKEN_PIPE
    }

    /// A failure saying `message`.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Failure(message.into())
    }

    /// The same failure, with what was being done first: `"{context}: {message}"`.
    pub(crate) fn context(self, context: impl fmt::Display) -> Self {
        Failure(format!("{context}: {}", self.0))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the causes said.
        let line: String = self
            .0
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
            .collect();
        f.write_str(line.trim())
    }
}

/// An error and its causes, on one line (without repeating a cause its error already
/// quotes).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

impl From<PersistenceError> for Failure {
    fn from(error: PersistenceError) -> Self {
        Failure(chain(&error))
    }
}

impl From<ConfigError> for Failure {
    fn from(error: ConfigError) -> Self {
        Failure(error.to_string())
    }
}

impl From<FactoryError> for Failure {
    fn from(error: FactoryError) -> Self {
        match error {
            FactoryError::Config(error) => error.into(),
            FactoryError::Persistence(error) => error.into(),
            other => Failure(chain(&other)),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure(BROKEN_PIPE.into());
        }
        Failure(chain(&error))
    }
}
