//! The blocking face of an async recorder (feature `tokio`): [`Bridge`] runs its futures on a
//! tokio runtime of its own and waits for them, from any thread, inside a runtime or not.
//!
//! A blocking call made on a thread of a tokio runtime can't drive a future on that runtime
//! (`block_on` there panics with "Cannot start a runtime from within a runtime", which is what
//! the blocking `postgres` client does). The bridge's runtime is its own, with one worker thread
//! that drives the database connections; a blocking caller outside any runtime polls the future
//! itself, and one inside a runtime hands it to the bridge's worker and waits. Either way the
//! call works and never panics; inside a runtime it holds the caller's thread while it waits,
//! as any blocking call does, so async code should use the async face instead (or call the
//! blocking one in `tokio::task::spawn_blocking`).

use std::future::Future;
use std::sync::Arc;

use tokio::runtime::{Builder, Handle, Runtime};

use super::error::{ErrorKind, PersistenceError};

/// Runs futures for blocking callers on a tokio runtime of its own (see the module docs).
///
/// ```
/// use eventsourcing::persistence::Bridge;
///
/// let bridge = Bridge::new("example")?;
/// assert_eq!(bridge.block_on(async { 1 + 1 })?, 2);
///
/// // From inside a runtime too, current-thread or multi-thread, without panicking.
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let inside = runtime.block_on(async { bridge.block_on(async { 2 + 2 }) })?;
/// assert_eq!(inside, 4);
/// # Ok::<(), eventsourcing::persistence::PersistenceError>(())
/// ```
#[derive(Clone)]
pub struct Bridge {
    runtime: Arc<OwnedRuntime>,
}

/// A runtime that shuts down without waiting when dropped: the last recorder holding it may be
/// dropped inside async code, where dropping a runtime the usual way (waiting for its threads)
/// panics.
struct OwnedRuntime(Option<Runtime>);

impl OwnedRuntime {
    fn get(&self) -> &Runtime {
        // Only `drop` takes the runtime out.
        match &self.0 {
            Some(runtime) => runtime,
            None => unreachable!("the runtime is taken out only when dropped"),
        }
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge").finish_non_exhaustive()
    }
}

impl Bridge {
    /// A bridge with a runtime of its own: one worker thread, named `{name}-io`, with I/O and
    /// timers enabled.
    pub fn new(name: &str) -> Result<Self, PersistenceError> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .thread_name(format!("{name}-io"))
            .enable_all()
            .build()
            .map_err(|error| {
                PersistenceError::database_caused_by(
                    ErrorKind::Operational,
                    "can't start the tokio runtime of a blocking recorder",
                    error,
                )
            })?;
        Ok(Bridge {
            runtime: Arc::new(OwnedRuntime(Some(runtime))),
        })
    }

    /// The bridge's runtime, to spawn the tasks its futures need (database connections).
    pub fn handle(&self) -> &Handle {
        self.runtime.get().handle()
    }

    /// Runs `future` to completion and returns its output, blocking the calling thread.
    ///
    /// Outside a tokio runtime, the calling thread polls the future; inside one (a task, an
    /// axum handler, `block_on`), the bridge's worker runs it and the calling thread waits.
    /// Fails only if the bridge's runtime is shutting down, or the future panicked.
    pub fn block_on<F>(&self, future: F) -> Result<F::Output, PersistenceError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if Handle::try_current().is_err() {
            return Ok(self.runtime.get().block_on(future));
        }
        // Inside a runtime (which is never the bridge's own: no caller's code runs on it), the
        // future runs on the bridge's worker, and this thread waits on a channel, which needs
        // no runtime.
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.runtime.get().spawn(async move {
            // The receiver is gone only if the caller's thread stopped waiting, which it doesn't.
            let _ = sender.send(future.await);
        });
        receiver.recv().map_err(|_| {
            PersistenceError::database(
                ErrorKind::Internal,
                "a blocking recorder call was lost: its task panicked, or the recorder's runtime \
                 is shutting down",
            )
        })
    }
}
