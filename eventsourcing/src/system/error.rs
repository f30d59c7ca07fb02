//! The error type of the system layer.

use crate::application::ApplicationError;
use crate::domain::BoxError;

/// An error of the system layer: processing, or running a system.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SystemError {
    /// A policy returned an error. The notification was not recorded as processed, so it will
    /// be processed again next time.
    #[error("{follower}'s policy failed on notification {notification_id} of {leader}: {source}")]
    Policy {
        /// The follower whose policy failed.
        follower: String,
        /// The leader whose event it was processing.
        leader: String,
        /// The notification id.
        notification_id: u64,
        /// The policy's error.
        #[source]
        source: BoxError,
    },

    /// A notification could not be read or decoded, or the results could not be recorded.
    #[error("{follower} failed processing {leader}'s notifications: {source}")]
    Processing {
        /// The follower.
        follower: String,
        /// The leader.
        leader: String,
        /// The underlying error.
        #[source]
        source: Box<ApplicationError>,
    },

    /// A follower was asked to process a leader it does not follow.
    #[error("{follower} does not follow {leader}")]
    UnknownLeader {
        /// The follower.
        follower: String,
        /// The leader.
        leader: String,
    },

    /// A follower panicked while processing: in a multi-threaded runner's worker thread, or in
    /// the thread that prompted a single-threaded runner. The runner carries on; the
    /// notification is processed again at the next prompt.
    #[error("the thread of {follower} panicked: {message}")]
    ThreadPanicked {
        /// The follower the thread ran.
        follower: String,
        /// The panic message.
        message: String,
    },

    /// A thread could not be started.
    #[error("the thread of {follower} could not be started: {source}")]
    ThreadSpawn {
        /// The follower.
        follower: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },

    /// The system is not set up right, such as two applications with one name.
    #[error("invalid system: {0}")]
    Configuration(String),

    /// Waiting for the followers to catch up took longer than the timeout.
    #[error("followers did not catch up within {0:?}")]
    Timeout(std::time::Duration),
}

impl SystemError {
    pub(crate) fn processing(
        follower: &str,
        leader: &str,
        source: impl Into<ApplicationError>,
    ) -> Self {
        SystemError::Processing {
            follower: follower.to_string(),
            leader: leader.to_string(),
            source: Box::new(source.into()),
        }
    }
}
