//! The commit signal of a PostgreSQL application recorder: inserts `NOTIFY` the events table's
//! channel in their transaction (so the notification is delivered when they commit, by any
//! process), and a listener task, on a connection of its own that `LISTEN`s, notifies the
//! recorder's [`CommitSignal`] for each.
//!
//! The listener runs while the signal has subscribers (and a little longer, so that a
//! subscription that follows another finds it running); it reconnects after its connection is
//! lost (the server restarted, or `pg_terminate_backend`), waiting longer after each failure,
//! and notifies the signal once it listens again, so that subscriptions read the log and catch
//! up on what was committed meanwhile: a lost notification costs a read, never an event. The
//! channel is the events table's name, as in the reference library, so Python subscribers and
//! ours wake on each other's commits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::{AsyncMessage, NoTls};

use super::datastore::Core;
use crate::persistence::CommitSignal;

/// How long a listener without subscribers keeps listening before it stops.
const GRACE: Duration = Duration::from_secs(2);
/// The first wait after a listener's connection failed; it doubles up to [`MAX_RETRY_WAIT`].
const RETRY_WAIT: Duration = Duration::from_millis(50);
const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);

/// The commit signal of one events table, and whether its listener runs.
#[derive(Debug)]
pub(super) struct Listener {
    channel: String,
    signal: CommitSignal,
    running: Arc<Mutex<bool>>,
}

impl Listener {
    /// The listener of the channel `channel` (the events table's name).
    pub(super) fn new(channel: &str) -> Self {
        Listener {
            channel: channel.to_string(),
            signal: CommitSignal::new(),
            running: Arc::new(Mutex::new(false)),
        }
    }

    /// The signal, with its listener started on `runtime` if it is not running.
    pub(super) fn signal(
        &self,
        core: &Arc<Core>,
        runtime: Option<tokio::runtime::Handle>,
    ) -> CommitSignal {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if !*running {
            match runtime.or_else(|| tokio::runtime::Handle::try_current().ok()) {
                Some(runtime) => {
                    *running = true;
                    runtime.spawn(listen(
                        Arc::clone(core),
                        self.channel.clone(),
                        self.signal.clone(),
                        Arc::clone(&self.running),
                    ));
                }
                // Outside a runtime, with no runtime of the datastore's: subscriptions see
                // this process's commits as they read, at least every second.
                None => tracing::debug!(channel = %self.channel, "no runtime to listen on"),
            }
        }
        self.signal.clone()
    }

    /// This process committed to the table: wakes its subscribers without waiting for the
    /// server's notification.
    pub(super) fn committed(&self) {
        self.signal.notify();
    }
}

/// Listens on `channel` and notifies `signal`, reconnecting when the connection fails, until
/// the signal has had no subscribers for [`GRACE`].
async fn listen(core: Arc<Core>, channel: String, signal: CommitSignal, running: Arc<Mutex<bool>>) {
    let mut wait = RETRY_WAIT;
    let mut idle_since: Option<tokio::time::Instant> = None;
    loop {
        match listen_once(&core, &channel, &signal, &mut idle_since).await {
            Ok(()) => {
                // Stopped for want of subscribers, unless one came meanwhile.
                let mut running = running.lock().unwrap_or_else(|p| p.into_inner());
                if signal.subscribers() == 0 {
                    *running = false;
                    return;
                }
            }
            Err(error) => {
                tracing::warn!(%channel, %error, ?wait, "the PostgreSQL listener's connection failed; reconnecting");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_RETRY_WAIT);
                continue;
            }
        }
        wait = RETRY_WAIT;
    }
}

/// One connection's worth of listening: returns `Ok` when it stops for want of subscribers,
/// `Err` when the connection fails.
async fn listen_once(
    core: &Core,
    channel: &str,
    signal: &CommitSignal,
    idle_since: &mut Option<tokio::time::Instant>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = core.settings().config().connect(NoTls).await?;
    let (notified, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => {
                    if notified.send(()).is_err() {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    });
    let listening = client.batch_execute(&format!("LISTEN {channel}")).await;
    if let Err(error) = listening {
        driver.abort();
        return Err(error);
    }
    // Listening again: whatever was committed while not listening is read now.
    signal.notify();
    let mut driver = driver;
    loop {
        tokio::select! {
            notification = notifications.recv() => {
                if notification.is_none() {
                    break;
                }
                signal.notify();
            }
            ended = &mut driver => {
                return match ended {
                    Ok(Err(error)) => Err(error),
                    // The connection ended without an error (the server closed it): reconnect.
                    _ => {
                        tracing::debug!(%channel, "the PostgreSQL listener's connection closed");
                        Ok(())
                    }
                };
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {
                if signal.subscribers() > 0 {
                    *idle_since = None;
                } else {
                    let since = *idle_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= GRACE {
                        break;
                    }
                }
            }
        }
    }
    drop(client);
    driver.abort();
    Ok(())
}
