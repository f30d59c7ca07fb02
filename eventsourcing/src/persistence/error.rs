//! The error type of the persistence layer.

use std::fmt;

use uuid::Uuid;

use crate::domain::BoxError;

/// What kind of persistence error happened: the reference library's exception classes (the
/// PEP 249 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The database interface failed, such as a connection that was lost while in use.
    Interface,
    /// The data was wrong: stored bytes that can't be decrypted, decompressed or decoded, a
    /// topic no type answers to, a value out of range.
    Data,
    /// The database could not do what was asked, such as a lock that timed out, a file that
    /// is not a database or can't be written, or a server that can't be reached.
    Operational,
    /// A uniqueness rule was broken: an event at a version that already exists (optimistic
    /// concurrency control), or a tracking record that was already written.
    Integrity,
    /// The database reported an internal problem.
    Internal,
    /// The program asked for something invalid, such as a malformed key or a bad table name.
    Programming,
    /// The operation is not supported.
    NotSupported,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Interface => "interface error",
            ErrorKind::Data => "data error",
            ErrorKind::Operational => "operational error",
            ErrorKind::Integrity => "integrity error",
            ErrorKind::Internal => "internal error",
            ErrorKind::Programming => "programming error",
            ErrorKind::NotSupported => "not supported",
        })
    }
}

/// An error of the persistence layer.
///
/// Every variant has an [`ErrorKind`] ([`PersistenceError::kind`]); the variants say more
/// precisely what went wrong where that is useful to handle (a damaged cipher text, an unknown
/// topic).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistenceError {
    /// An insert lost a race: an event at this aggregate version is already stored (another
    /// writer saved the same version first), or the batch has the version twice. Nothing of
    /// the batch was written. Its kind is [`ErrorKind::Integrity`]: get the aggregate again
    /// and retry the command. The reference library's `RecordConflictError`.
    ///
    /// Every recorder reports a version conflict this way, naming the first event of the
    /// batch that conflicts.
    #[error("conflict: aggregate {originator_id} already has version {originator_version}")]
    Conflict {
        /// The aggregate's id.
        originator_id: Uuid,
        /// The version the insert tried to store.
        originator_version: u64,
    },

    /// An error reported by a recorder's database, or found by a recorder.
    #[error("{kind}: {message}")]
    Database {
        /// What kind of error.
        kind: ErrorKind,
        /// What happened.
        message: String,
        /// The driver's error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// Encryption or decryption failed.
    #[error(transparent)]
    Cipher(#[from] CipherError),

    /// Stored state could not be decompressed.
    #[error("stored state can't be decompressed (damaged, or not compressed): {0}")]
    Decompression(#[source] std::io::Error),

    /// A value could not be serialised.
    #[error("can't encode {what}: {source}")]
    Encode {
        /// What was being encoded.
        what: String,
        /// The transcoder's error.
        #[source]
        source: BoxError,
    },

    /// Stored state could not be deserialised into the type its topic names.
    #[error("can't decode the stored state of {topic:?}: {source}")]
    Decode {
        /// The stored event's topic.
        topic: String,
        /// The transcoder's error.
        #[source]
        source: BoxError,
    },

    /// The aggregate was forgotten: its data key was destroyed
    /// ([`Keyring::forget`](super::Keyring::forget)), so its events and snapshots can no longer
    /// be decrypted, and no new event of it is stored. Its kind is [`ErrorKind::Data`].
    #[error("aggregate {originator_id} was forgotten: its data key was destroyed")]
    Forgotten {
        /// The aggregate's id.
        originator_id: Uuid,
    },

    /// A stored event's topic is not one of the types it was read as.
    #[error("unknown topic {topic:?}: it is not one of the {expected} events (topics: {known})")]
    UnknownTopic {
        /// The stored topic.
        topic: String,
        /// What was expected (an aggregate's name, or a description).
        expected: String,
        /// The topics that were expected, comma-separated.
        known: String,
    },
}

impl PersistenceError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PersistenceError::Database { kind, .. } => *kind,
            PersistenceError::Conflict { .. } => ErrorKind::Integrity,
            PersistenceError::Cipher(e) => e.kind(),
            PersistenceError::Decompression(_)
            | PersistenceError::Decode { .. }
            | PersistenceError::UnknownTopic { .. }
            | PersistenceError::Forgotten { .. } => ErrorKind::Data,
            PersistenceError::Encode { .. } => ErrorKind::Programming,
        }
    }

    /// Whether this is an integrity error: another writer stored the same aggregate version
    /// (or tracking record) first.
    pub fn is_integrity(&self) -> bool {
        self.kind() == ErrorKind::Integrity
    }

    /// The aggregate id and version of a [`Conflict`](PersistenceError::Conflict), if this is
    /// one.
    ///
    /// ```
    /// use eventsourcing::persistence::PersistenceError;
    /// use uuid::Uuid;
    ///
    /// let id = Uuid::new_v4();
    /// let error = PersistenceError::Conflict { originator_id: id, originator_version: 3 };
    /// assert_eq!(error.conflict(), Some((id, 3)));
    /// assert!(error.is_integrity());
    /// assert_eq!(error.to_string(), format!("conflict: aggregate {id} already has version 3"));
    /// ```
    pub fn conflict(&self) -> Option<(Uuid, u64)> {
        match self {
            PersistenceError::Conflict {
                originator_id,
                originator_version,
            } => Some((*originator_id, *originator_version)),
            _ => None,
        }
    }

    /// A database error of the given kind.
    pub fn database(kind: ErrorKind, message: impl Into<String>) -> Self {
        PersistenceError::Database {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// A database error of the given kind, caused by `source`.
    pub fn database_caused_by(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        PersistenceError::Database {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// An integrity error.
    pub fn integrity(message: impl Into<String>) -> Self {
        Self::database(ErrorKind::Integrity, message)
    }
}

/// An error of a [`Cipher`](super::Cipher): a bad key, or cipher text that can't be decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CipherError {
    /// The key is not standard base64.
    #[error("cipher key is not valid base64: {0}")]
    KeyNotBase64(String),
    /// The key does not have 16, 24 or 32 bytes.
    #[error("invalid key size: {0} bytes not in (16, 24, 32)")]
    InvalidKeySize(usize),
    /// The cipher text is too short to hold a nonce.
    #[error("damaged cipher text: invalid nonce length")]
    InvalidNonceLength,
    /// The cipher text is too short to hold an authentication tag.
    #[error("damaged cipher text: invalid tag length")]
    InvalidTagLength,
    /// Authentication failed: the cipher text was altered, or the key is not the one it was
    /// encrypted with.
    #[error(
        "cipher text is damaged: authentication failed (the data was altered, or the key is wrong)"
    )]
    Damaged,
    /// Encryption itself failed (the plaintext is too long for AES-GCM).
    #[error("encryption failed: {0}")]
    EncryptionFailed(String),
}

impl CipherError {
    /// The kind of this error: key problems are programming errors, damaged data is data.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CipherError::KeyNotBase64(_) | CipherError::InvalidKeySize(_) => ErrorKind::Programming,
            CipherError::EncryptionFailed(_) => ErrorKind::Programming,
            CipherError::InvalidNonceLength
            | CipherError::InvalidTagLength
            | CipherError::Damaged => ErrorKind::Data,
        }
    }
}
