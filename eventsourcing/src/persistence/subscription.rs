//! Subscriptions to a recorder's notification log: [`Subscription`] (an iterator, blocking) and
//! [`AsyncSubscription`] (a `Stream`, feature `tokio`). Both yield what is stored after a
//! position, then wait for what is committed next, woken by the recorder's [`CommitSignal`].
//!
//! They share one way of working: read a page of notifications after the position (only the
//! subscribed topics, if any); if there are none, wait until the signal's count moves past the
//! value seen before the read (so a commit between the read and the wait is never missed), or
//! until [`RECHECK_INTERVAL`] passes, and read again. Since every read is by position, a lost
//! wake-up, a reconnection or a restart costs at most a later read: nothing is lost or
//! repeated. Only the waiting differs between the two faces.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::commit_signal::{CommitSignal, SubscriberGuard};
use super::error::{ErrorKind, PersistenceError};
use super::recorder::ApplicationRecorder;
use super::stored::Notification;

/// How many notifications a subscription reads at a time.
pub const SUBSCRIPTION_PAGE: usize = 500;

/// How long an idle subscription waits before reading the log again although it was not woken
/// (a safety net: a recorder's signal wakes it at once after each commit it knows of). A
/// recorder without a signal is read at [`POLL_INTERVAL`] instead.
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How often a subscription reads a recorder that has no [`CommitSignal`].
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// What a subscription waits on, and stops with.
#[derive(Clone)]
struct Waking {
    signal: CommitSignal,
    /// Whether the recorder notifies the signal (if not, waits are polls).
    notified: bool,
    stopped: Arc<AtomicBool>,
}

impl Waking {
    fn of(signal: Option<CommitSignal>) -> Self {
        Waking {
            notified: signal.is_some(),
            signal: signal.unwrap_or_default(),
            stopped: Arc::new(AtomicBool::new(false)),
        }
    }

    fn interval(&self) -> Duration {
        if self.notified {
            RECHECK_INTERVAL
        } else {
            POLL_INTERVAL
        }
    }

    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

/// Stops a subscription from another thread or task: its iterator (or stream) then ends, even
/// if it is waiting.
#[derive(Clone)]
pub struct SubscriptionStopper {
    waking: Waking,
}

impl std::fmt::Debug for SubscriptionStopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionStopper")
            .field("stopped", &self.waking.stopped())
            .finish()
    }
}

impl SubscriptionStopper {
    /// Stops the subscription.
    pub fn stop(&self) {
        self.waking.stopped.store(true, Ordering::SeqCst);
        // Wakes every subscriber of the recorder; the others find nothing new and wait again.
        self.waking.signal.notify();
    }
}

/// The position and filter of a subscription, and the page it is handing out.
struct Cursor {
    /// The id of the last notification handed out.
    position: u64,
    topics: Vec<String>,
    page: VecDeque<Notification>,
}

impl Cursor {
    fn next_buffered(&mut self) -> Option<Notification> {
        let notification = self.page.pop_front()?;
        self.position = notification.id;
        Some(notification)
    }

    /// Where the next read starts, or `None` if nothing can follow the position.
    fn start(&self) -> Option<u64> {
        self.position.checked_add(1)
    }
}

fn beyond_the_end(after: u64, max: u64) -> PersistenceError {
    PersistenceError::database(
        ErrorKind::Programming,
        format!(
            "can't subscribe after notification {after}: the log ends at {max} (is the position \
             from another database?)"
        ),
    )
}

/// A subscription to a recorder's notification log, as an iterator: it yields the stored
/// notifications after a position, in id order, then blocks until more are committed. It ends
/// when [stopped](SubscriptionStopper::stop); dropping it stops it too.
///
/// A failed read is yielded as an error; the next call of `next` reads again (after a short
/// wait), from the same position.
///
/// ```
/// use std::sync::Arc;
/// use eventsourcing::memory::InMemoryRecorder;
/// use eventsourcing::persistence::{AggregateRecorder, StoredEvent, Subscription};
/// use uuid::Uuid;
///
/// let recorder = Arc::new(InMemoryRecorder::new());
/// let event = |version| StoredEvent { originator_id: Uuid::nil(), originator_version: version, topic: "t".into(), state: vec![] };
/// recorder.insert_events(&[event(1)])?;
///
/// let mut subscription = Subscription::new(recorder.clone(), 0, Vec::new())?;
/// let writer = std::thread::spawn(move || recorder.insert_events(&[event(2)]));
/// let ids: Vec<u64> = subscription.by_ref().take(2).map(|n| n.map(|n| n.id)).collect::<Result<_, _>>()?;
/// assert_eq!(ids, [1, 2]);
/// writer.join().unwrap()?;
/// # Ok::<(), eventsourcing::persistence::PersistenceError>(())
/// ```
pub struct Subscription {
    recorder: Arc<dyn ApplicationRecorder>,
    waking: Waking,
    cursor: Cursor,
    _subscriber: SubscriberGuard,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("position", &self.cursor.position)
            .field("topics", &self.cursor.topics)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// Subscribes to `recorder`'s notifications with ids after `after`, of `topics` (all, if
    /// empty). Fails if `after` is beyond the end of the log (a position that can't be this
    /// log's), or if the log can't be read.
    pub fn new(
        recorder: Arc<dyn ApplicationRecorder>,
        after: u64,
        topics: Vec<String>,
    ) -> Result<Self, PersistenceError> {
        let waking = Waking::of(recorder.commit_signal());
        let subscriber = waking.signal.subscribe();
        let max = recorder.max_notification_id()?;
        if after > max {
            return Err(beyond_the_end(after, max));
        }
        Ok(Subscription {
            recorder,
            waking,
            cursor: Cursor {
                position: after,
                topics,
                page: VecDeque::new(),
            },
            _subscriber: subscriber,
        })
    }

    /// A handle that stops this subscription from elsewhere.
    pub fn stopper(&self) -> SubscriptionStopper {
        SubscriptionStopper {
            waking: self.waking.clone(),
        }
    }

    /// The id of the last notification yielded (or the position it started after).
    pub fn position(&self) -> u64 {
        self.cursor.position
    }

    /// The next notifications, at most `max` (at least one): blocks until one is there, then
    /// takes what else has been read with it, without waiting more. `None` once stopped.
    pub fn next_batch(
        &mut self,
        max: usize,
    ) -> Option<Result<Vec<Notification>, PersistenceError>> {
        let first = match self.next()? {
            Ok(first) => first,
            Err(error) => return Some(Err(error)),
        };
        let mut batch = vec![first];
        while batch.len() < max {
            match self.cursor.next_buffered() {
                Some(notification) => batch.push(notification),
                None => break,
            }
        }
        Some(Ok(batch))
    }
}

impl Iterator for Subscription {
    type Item = Result<Notification, PersistenceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.waking.stopped() {
                return None;
            }
            if let Some(notification) = self.cursor.next_buffered() {
                return Some(Ok(notification));
            }
            let start = self.cursor.start()?;
            let seen = self.waking.signal.count();
            let span =
                tracing::debug_span!("subscription_read", start, read = tracing::field::Empty);
            let read = span.in_scope(|| {
                self.recorder
                    .select_notifications_of(start, SUBSCRIPTION_PAGE, &self.cursor.topics)
            });
            if let Ok(page) = &read {
                span.record("read", page.len());
            }
            match read {
                Ok(page) if !page.is_empty() => self.cursor.page.extend(page),
                Ok(_) => {
                    self.waking.signal.wait_past(seen, self.waking.interval());
                }
                Err(error) => {
                    // Not at once again: a database that is down would be asked in a loop.
                    self.waking.signal.wait_past(seen, POLL_INTERVAL);
                    return Some(Err(error));
                }
            }
        }
    }
}

#[cfg(feature = "tokio")]
pub use self::stream::AsyncSubscription;

#[cfg(feature = "tokio")]
mod stream {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use super::{beyond_the_end, Cursor, SubscriptionStopper, Waking, POLL_INTERVAL};
    use super::{SubscriberGuard, SUBSCRIPTION_PAGE};
    use crate::persistence::{AsyncApplicationRecorder, BoxFuture, Notification, PersistenceError};

    /// A subscription to an async recorder's notification log, as a `Stream` (feature
    /// `tokio`): the notifications after a position, in id order, then those committed next,
    /// awaited. It ends when [stopped](SubscriptionStopper::stop); dropping it stops it too.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), eventsourcing::persistence::PersistenceError> {
    /// use std::sync::Arc;
    /// use eventsourcing::memory::InMemoryRecorder;
    /// use eventsourcing::persistence::{AsyncAggregateRecorder, AsyncSubscription, StoredEvent};
    /// use uuid::Uuid;
    ///
    /// let recorder = Arc::new(InMemoryRecorder::new());
    /// let event = |version| StoredEvent { originator_id: Uuid::nil(), originator_version: version, topic: "t".into(), state: vec![] };
    /// let mut subscription = AsyncSubscription::new(recorder.clone(), 0, Vec::new()).await?;
    /// let writer = tokio::spawn(async move { recorder.insert_events(vec![event(1), event(2)]).await });
    /// assert_eq!(subscription.next().await.transpose()?.map(|n| n.id), Some(1));
    /// assert_eq!(subscription.next().await.transpose()?.map(|n| n.id), Some(2));
    /// writer.await.unwrap()?;
    /// # Ok(())
    /// # }
    /// ```
    pub struct AsyncSubscription {
        recorder: Arc<dyn AsyncApplicationRecorder>,
        waking: Waking,
        cursor: Cursor,
        reading: Option<BoxFuture<'static, Result<Vec<Notification>, PersistenceError>>>,
        _subscriber: SubscriberGuard,
    }

    impl std::fmt::Debug for AsyncSubscription {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("AsyncSubscription")
                .field("position", &self.cursor.position)
                .field("topics", &self.cursor.topics)
                .finish_non_exhaustive()
        }
    }

    impl AsyncSubscription {
        /// Subscribes to `recorder`'s notifications with ids after `after`, of `topics` (all,
        /// if empty). Fails if `after` is beyond the end of the log, or the log can't be read.
        pub async fn new(
            recorder: Arc<dyn AsyncApplicationRecorder>,
            after: u64,
            topics: Vec<String>,
        ) -> Result<Self, PersistenceError> {
            let waking = Waking::of(recorder.commit_signal());
            let subscriber = waking.signal.subscribe();
            let max = recorder.max_notification_id().await?;
            if after > max {
                return Err(beyond_the_end(after, max));
            }
            Ok(AsyncSubscription {
                recorder,
                waking,
                cursor: Cursor {
                    position: after,
                    topics,
                    page: VecDeque::new(),
                },
                reading: None,
                _subscriber: subscriber,
            })
        }

        /// A handle that stops this subscription from elsewhere.
        pub fn stopper(&self) -> SubscriptionStopper {
            SubscriptionStopper {
                waking: self.waking.clone(),
            }
        }

        /// The id of the last notification yielded (or the position it started after).
        pub fn position(&self) -> u64 {
            self.cursor.position
        }

        /// The next notification: `None` once stopped. The same as the `Stream`'s next item,
        /// without `StreamExt`.
        pub async fn next(&mut self) -> Option<Result<Notification, PersistenceError>> {
            std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next_item(cx)).await
        }

        /// The next notifications, at most `max` (at least one): waits until one is there,
        /// then takes what else has been read with it. `None` once stopped.
        pub async fn next_batch(
            &mut self,
            max: usize,
        ) -> Option<Result<Vec<Notification>, PersistenceError>> {
            let first = match self.next().await? {
                Ok(first) => first,
                Err(error) => return Some(Err(error)),
            };
            let mut batch = vec![first];
            while batch.len() < max {
                match self.cursor.next_buffered() {
                    Some(notification) => batch.push(notification),
                    None => break,
                }
            }
            Some(Ok(batch))
        }

        /// Reads the next page after `start`, waiting for a commit first while there is none.
        fn read_from(
            &self,
            start: u64,
        ) -> BoxFuture<'static, Result<Vec<Notification>, PersistenceError>> {
            let recorder = Arc::clone(&self.recorder);
            let waking = self.waking.clone();
            let topics = self.cursor.topics.clone();
            Box::pin(async move {
                loop {
                    if waking.stopped() {
                        return Ok(Vec::new());
                    }
                    let seen = waking.signal.count();
                    let span = tracing::debug_span!("subscription_read", start);
                    let read = recorder.select_notifications_of(start, SUBSCRIPTION_PAGE, &topics);
                    let page = match tracing::Instrument::instrument(read, span).await {
                        Ok(page) => page,
                        Err(error) => {
                            // Not at once again: a database that is down would be asked in a loop.
                            let _ = tokio::time::timeout(
                                POLL_INTERVAL,
                                waking.signal.changed_past(seen),
                            )
                            .await;
                            return Err(error);
                        }
                    };
                    if !page.is_empty() {
                        return Ok(page);
                    }
                    let _ =
                        tokio::time::timeout(waking.interval(), waking.signal.changed_past(seen))
                            .await;
                }
            })
        }

        fn poll_next_item(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Notification, PersistenceError>>> {
            let this = &mut *self;
            loop {
                if this.waking.stopped() {
                    this.reading = None;
                    return Poll::Ready(None);
                }
                if let Some(notification) = this.cursor.next_buffered() {
                    return Poll::Ready(Some(Ok(notification)));
                }
                let Some(start) = this.cursor.start() else {
                    return Poll::Ready(None);
                };
                if this.reading.is_none() {
                    this.reading = Some(this.read_from(start));
                }
                let Some(reading) = this.reading.as_mut() else {
                    continue;
                };
                match reading.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => {
                        this.reading = None;
                        match result {
                            Ok(page) => this.cursor.page.extend(page),
                            Err(error) => return Poll::Ready(Some(Err(error))),
                        }
                    }
                }
            }
        }
    }

    impl futures_core::Stream for AsyncSubscription {
        type Item = Result<Notification, PersistenceError>;

        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.poll_next_item(cx)
        }
    }
}
