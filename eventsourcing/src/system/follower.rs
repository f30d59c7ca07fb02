//! The [`Follower`]: pulls a leader's notifications and processes them with a policy, exactly
//! once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use uuid::Uuid;

use super::error::SystemError;
use super::process::{snapshot_batch, Process, ProcessingEvent, Saved};
use crate::application::UpstreamEvent;
use crate::application::{Application, LocalNotificationLog, NotificationLog};
use crate::domain::EventMetadata;
use crate::persistence::{
    JsonTranscoder, Mapper, Notification, PersistenceError, StoredEvent, Tracking, Transcoder,
};

/// How many notifications a follower processes per transaction unless told otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 100;

type Decoder<U> = Arc<dyn Fn(&Notification) -> Result<Option<U>, PersistenceError> + Send + Sync>;

/// A leader's log as a follower reads it.
struct Upstream<U> {
    log: Arc<dyn NotificationLog>,
    decode: Decoder<U>,
    batch_size: usize,
}

impl<U> Clone for Upstream<U> {
    fn clone(&self) -> Self {
        Upstream {
            log: Arc::clone(&self.log),
            decode: Arc::clone(&self.decode),
            batch_size: self.batch_size,
        }
    }
}

/// A process application following one or more leaders' notification logs.
///
/// [`pull_and_process`](Follower::pull_and_process) reads the leader's notifications after the
/// position last recorded for it, runs the policy on each, and records what the policy saved
/// together with the new position in one transaction, a batch of notifications at a time. So
/// each upstream notification is processed exactly once: a crash before the commit leaves
/// nothing of the batch, and processing resumes from the last recorded position.
///
/// Runners drive followers for you; use a `Follower` directly to follow a log that is not in
/// this process (see the interface layer) or to control when processing happens.
pub struct Follower<P: Process<T>, T: Transcoder = JsonTranscoder> {
    process: Arc<P>,
    upstreams: RwLock<HashMap<String, Upstream<P::Upstream>>>,
    /// Serialises processing (two threads processing the same leader would race for the same
    /// position), and holds the position recorded for each leader by the last commit of this
    /// follower, which saves reading it back for every batch. If another process records
    /// positions for the same follower, the cached one is stale: the next commit is then refused
    /// (a position never moves backwards), the cache is dropped and the position read again.
    processing: Mutex<HashMap<String, u64>>,
}

impl<P: Process<T>, T: Transcoder> std::fmt::Debug for Follower<P, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("name", &self.name())
            .field("leaders", &self.leaders())
            .finish_non_exhaustive()
    }
}

impl<P: Process<T>, T: Transcoder> Follower<P, T> {
    /// A follower running `process`'s policy, following nothing yet.
    pub fn new(process: Arc<P>) -> Self {
        Follower {
            process,
            upstreams: RwLock::new(HashMap::new()),
            processing: Mutex::new(HashMap::new()),
        }
    }

    /// The process application.
    pub fn process(&self) -> &Arc<P> {
        &self.process
    }

    /// The follower's application.
    pub fn application(&self) -> &Application<T> {
        (*self.process).as_ref()
    }

    /// The follower's name (its application's name).
    pub fn name(&self) -> &str {
        self.application().name()
    }

    /// The names of the leaders it follows.
    pub fn leaders(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read_upstreams().keys().cloned().collect();
        names.sort();
        names
    }

    fn read_upstreams(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<String, Upstream<P::Upstream>>> {
        self.upstreams.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows the log of the leader `leader_name`, decoding its notifications with `mapper`
    /// (which must have the leader's cipher and compressor settings), processing up to
    /// `batch_size` notifications per transaction. `batch_size` can't exceed the log's section
    /// size.
    pub fn follow<TL: Transcoder>(
        &self,
        leader_name: impl Into<String>,
        log: Arc<dyn NotificationLog>,
        mapper: Arc<Mapper<TL>>,
        batch_size: usize,
    ) {
        let decode: Decoder<P::Upstream> =
            Arc::new(move |notification| P::Upstream::decode(&mapper, notification));
        self.upstreams
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                leader_name.into(),
                Upstream {
                    log,
                    decode,
                    batch_size: batch_size.max(1),
                },
            );
    }

    /// Follows an application in this process: reads its recorder directly, decodes with its
    /// mapper.
    pub fn follow_application<TL: Transcoder>(&self, leader: &Application<TL>, batch_size: usize) {
        let log = LocalNotificationLog::new(Arc::clone(leader.recorder()) as _, batch_size.max(1));
        self.follow(
            leader.name(),
            Arc::new(log),
            Arc::clone(leader.mapper()),
            batch_size,
        );
    }

    /// Processes the leader's notifications after the recorded position, until there are no
    /// more. Returns how many notifications were processed.
    ///
    /// If the policy fails on a notification, what was processed before it in the batch is
    /// recorded, and the error is returned: that notification will be processed again next
    /// time.
    pub fn pull_and_process(&self, leader_name: &str) -> Result<usize, SystemError> {
        let upstream = self
            .read_upstreams()
            .get(leader_name)
            .cloned()
            .ok_or_else(|| SystemError::UnknownLeader {
                follower: self.name().to_string(),
                leader: leader_name.to_string(),
            })?;
        let mut positions = self.processing.lock().unwrap_or_else(|p| p.into_inner());
        let application = self.application();
        let mut processed = 0;
        loop {
            let cached = positions.get(leader_name).copied();
            let position = match cached {
                Some(position) => position,
                None => application
                    .recorder()
                    .max_tracking_id(leader_name)
                    .map_err(|e| SystemError::processing(self.name(), leader_name, e))?,
            };
            // A position at the largest id has nothing after it.
            let Some(start) = position.checked_add(1) else {
                return Ok(processed);
            };
            let notifications = upstream
                .log
                .select(start, upstream.batch_size)
                .map_err(|e| SystemError::processing(self.name(), leader_name, e))?;
            let count = notifications.len();
            let (batch_processed, recorded) =
                self.process_batch(leader_name, &upstream, notifications);
            match recorded {
                Ok(Some(position)) => {
                    positions.insert(leader_name.to_string(), position);
                }
                Ok(None) => {}
                Err(error) => {
                    positions.remove(leader_name);
                    // Another process recorded positions of this follower: the cached position
                    // was stale, and nothing of the batch was recorded. Start again from the
                    // recorded position.
                    if cached.is_some() && is_integrity(&error) {
                        continue;
                    }
                    return Err(error);
                }
            }
            processed += batch_processed;
            if count < upstream.batch_size {
                return Ok(processed);
            }
        }
    }

    /// Runs the policy on each notification and records the results with the tracking record
    /// of the last one processed, in one transaction. Returns how many notifications were processed and the position recorded (or the error
    /// that stopped the batch: a policy's, after recording what came before it, or the
    /// recording's).
    fn process_batch(
        &self,
        leader_name: &str,
        upstream: &Upstream<P::Upstream>,
        notifications: Vec<Notification>,
    ) -> (usize, Result<Option<u64>, SystemError>) {
        let span = tracing::debug_span!(
            "process",
            follower = self.name(),
            leader = leader_name,
            notifications = notifications.len(),
            first_id = notifications.first().map(|n| n.id),
            last_id = notifications.last().map(|n| n.id),
            processed = tracing::field::Empty,
        );
        let _entered = span.enter();
        let (processed, result) = self.process_notifications(leader_name, upstream, notifications);
        span.record("processed", processed);
        (processed, result)
    }

    /// [`process_batch`](Self::process_batch)'s work, in its span.
    fn process_notifications(
        &self,
        leader_name: &str,
        upstream: &Upstream<P::Upstream>,
        notifications: Vec<Notification>,
    ) -> (usize, Result<Option<u64>, SystemError>) {
        let application = self.application();
        let mut batch: HashMap<Uuid, Saved<T>> = HashMap::new();
        let mut stored: Vec<StoredEvent> = Vec::new();
        let mut last_processed = None;
        let mut processed = 0;
        let mut failure = None;
        for notification in &notifications {
            let event = match (upstream.decode)(notification) {
                Ok(event) => event,
                Err(e) => {
                    failure = Some(SystemError::processing(self.name(), leader_name, e));
                    break;
                }
            };
            if let Some(event) = event {
                let metadata = EventMetadata::caused_by(
                    notification.originator_id,
                    notification.originator_version,
                    &event.metadata(),
                );
                let mut processing = ProcessingEvent::new(
                    application,
                    &batch,
                    leader_name,
                    notification.id,
                    metadata,
                );
                if let Err(source) = self.process.policy(event, &mut processing) {
                    failure = Some(SystemError::Policy {
                        follower: self.name().to_string(),
                        leader: leader_name.to_string(),
                        notification_id: notification.id,
                        source,
                    });
                    break;
                }
                let (events, saved) = processing.into_parts();
                stored.extend(events);
                batch.extend(saved);
            }
            last_processed = Some(notification.id);
            processed += 1;
        }
        let mut recorded = None;
        if let Some(notification_id) = last_processed {
            // The first and the last notification processed: recording the first fails if any
            // notification of the batch was already recorded (by another follower of this
            // application), so a batch is recorded whole or not at all, never twice.
            let mut tracking = vec![Tracking::new(leader_name, notifications[0].id)];
            if notification_id != notifications[0].id {
                tracking.push(Tracking::new(leader_name, notification_id));
            }
            if let Err(e) = application
                .recorder()
                .insert_events_with_tracking(&stored, &tracking)
            {
                return (0, Err(SystemError::processing(self.name(), leader_name, e)));
            }
            recorded = Some(notification_id);
            snapshot_batch(application, &batch);
            if !stored.is_empty() {
                application.notify_listeners();
            }
        }
        match failure {
            Some(failure) => (processed, Err(failure)),
            None => (processed, Ok(recorded)),
        }
    }
}

fn is_integrity(error: &SystemError) -> bool {
    matches!(error, SystemError::Processing { source, .. } if source.is_integrity())
}

/// A follower with its types erased, as runners hold it.
pub(crate) trait FollowerNode: Send + Sync {
    fn name(&self) -> &str;
    fn pull_and_process(&self, leader_name: &str) -> Result<usize, SystemError>;
    fn max_tracking_id(&self, leader_name: &str) -> Result<u64, SystemError>;
}

impl<P: Process<T>, T: Transcoder> FollowerNode for Follower<P, T> {
    fn name(&self) -> &str {
        Follower::name(self)
    }

    fn pull_and_process(&self, leader_name: &str) -> Result<usize, SystemError> {
        Follower::pull_and_process(self, leader_name)
    }

    fn max_tracking_id(&self, leader_name: &str) -> Result<u64, SystemError> {
        self.application()
            .recorder()
            .max_tracking_id(leader_name)
            .map_err(|e| SystemError::processing(self.name(), leader_name, e))
    }
}
