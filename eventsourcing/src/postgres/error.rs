//! PostgreSQL errors as persistence errors of the matching kind.

use tokio_postgres::error::SqlState;

use crate::persistence::{ErrorKind, PersistenceError};

/// The kind of a driver error, by SQLSTATE class, as the reference maps psycopg2's exception
/// classes.
pub(crate) fn kind(error: &tokio_postgres::Error) -> ErrorKind {
    let Some(code) = error.code() else {
        // No SQLSTATE: the connection failed, was closed or timed out (retried on a new
        // connection), or a value could not be converted to or from its column (bad data,
        // which no retry mends).
        let io = std::error::Error::source(error).is_some_and(|s| s.is::<std::io::Error>());
        let message = error.to_string();
        return if error.is_closed()
            || io
            || message.contains("connect")
            || message.contains("timeout")
            || message.contains("closed")
        {
            ErrorKind::Interface
        } else {
            ErrorKind::Data
        };
    };
    if *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::IDLE_SESSION_TIMEOUT
        || *code == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT
    {
        return ErrorKind::Interface;
    }
    match &code.code()[..2] {
        "08" => ErrorKind::Interface,
        "23" => ErrorKind::Integrity,
        "22" => ErrorKind::Data,
        "0A" => ErrorKind::NotSupported,
        "42" | "3F" | "26" | "34" => ErrorKind::Programming,
        "XX" => ErrorKind::Internal,
        _ => ErrorKind::Operational,
    }
}

/// A driver error as a persistence error, with what was being done.
pub(crate) fn postgres_error(
    error: tokio_postgres::Error,
    context: impl AsRef<str>,
) -> PersistenceError {
    let kind = kind(&error);
    let detail = match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => error.to_string(),
    };
    PersistenceError::database_caused_by(kind, format!("{}: {detail}", context.as_ref()), error)
}
