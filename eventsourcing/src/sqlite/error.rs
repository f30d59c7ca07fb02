//! SQLite errors as persistence errors of the matching kind.

use rusqlite::ffi::ErrorCode;

use crate::persistence::{ErrorKind, PersistenceError};

/// The kind of a rusqlite error, as the reference maps sqlite3's exception classes.
fn kind(error: &rusqlite::Error) -> ErrorKind {
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::ConstraintViolation => ErrorKind::Integrity,
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::ReadOnly
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::PermissionDenied
            | ErrorCode::NotADatabase
            | ErrorCode::FileLockingProtocolFailed
            | ErrorCode::OperationInterrupted
            | ErrorCode::OperationAborted => ErrorKind::Operational,
            ErrorCode::DatabaseCorrupt | ErrorCode::TooBig | ErrorCode::TypeMismatch => {
                ErrorKind::Data
            }
            ErrorCode::OutOfMemory | ErrorCode::InternalMalfunction => ErrorKind::Internal,
            ErrorCode::ApiMisuse | ErrorCode::ParameterOutOfRange => ErrorKind::Programming,
            _ => ErrorKind::Programming,
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::ToSqlConversionFailure(..) => ErrorKind::Data,
        rusqlite::Error::InvalidPath(_) => ErrorKind::Operational,
        _ => ErrorKind::Programming,
    }
}

/// Whether `error` is a broken primary key or unique constraint: for an insert into an events
/// table, an event whose (originator id, version) is already there.
pub(crate) fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

/// A rusqlite error as a persistence error, with what was being done.
pub(crate) fn sqlite_error(error: rusqlite::Error, context: impl AsRef<str>) -> PersistenceError {
    let kind = kind(&error);
    PersistenceError::database_caused_by(kind, format!("{}: {error}", context.as_ref()), error)
}
