//! Issue 10: following an application as it is written, on SQLite and PostgreSQL — a
//! subscription's per-event latency, and a projection into a PostgreSQL view — as
//! `../shared/bench/README.md` specifies them (W10, W10s, W11).
//!
//! Per-event latency: the `Instant` when the subscriber has the decoded event (or, for the
//! projection, when the view's transaction holding it has committed) minus the `Instant` when
//! the writer's `save` of it returned, keyed by notification id. A save does not return the
//! notification ids it was given, and each timed save writes a new dog, so the subscriber
//! records each event's notification id with its originator id, and the writer each save's
//! return with the dog's id. A latency can be negative: the subscriber may be woken by the
//! commit before the writer's save has returned.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventsourcing::application::Application;
use eventsourcing::persistence::{CommitSignal, PersistenceError, Tracking, View, ViewError};
use eventsourcing::postgres::{
    param, settings_from_env, PostgresDatastore, PostgresView, PostgresViewTransaction,
};
use eventsourcing::prelude::*;
use eventsourcing::projection::{Projection, ProjectionRunner};
use eventsourcing_bench::{Dog, DogEvent, TRICKS_PER_DOG};
use serde_json::json;

use super::stats::latency_figures;
use crate::{dog_school, figures, new_dog, sqlite_builder, Args, BoxError, Output, PgSchema};

/// Saves made and waited for before the timed ones (not counted), as the reference's.
const WARMUP_SAVES: usize = 10;

/// `later - earlier` in ms, negative if `later` is earlier.
fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(earlier - later).as_secs_f64() * 1e3,
    }
}

/// What a subscriber or a view saw: per event, its notification id, its dog and when.
type Seen = Vec<(u64, Uuid, Instant)>;

/// The latencies of `seen` against the saves in `sent`, in ms (events of other saves, the
/// warm-up's, are left out), and how many are negative.
fn latencies(seen: &Seen, sent: &HashMap<Uuid, Instant>) -> (Vec<f64>, usize) {
    let ms: Vec<f64> = seen
        .iter()
        .filter_map(|(_, dog, at)| sent.get(dog).map(|saved| signed_ms(*at, *saved)))
        .collect();
    let negative = ms.iter().filter(|&&l| l < 0.0).count();
    (ms, negative)
}

/// W10/W10s: a subscriber thread follows the application from its end while the main thread
/// makes 10 warm-up saves (waited for) and then `n` single-event saves back to back.
fn subscribe_latency(app: &Application, n: usize) -> Result<Output, BoxError> {
    let total = WARMUP_SAVES + n;
    let after = app.recorder().max_notification_id()?;
    let subscription = app.subscribe::<DomainEvent<DogEvent>>(after)?;
    let stopper = subscription.stopper();
    let received = Arc::new(AtomicUsize::new(0));
    let follower = std::thread::Builder::new()
        .name("bench-subscriber".into())
        .spawn({
            let received = Arc::clone(&received);
            move || -> Result<Seen, String> {
                let mut seen = Vec::with_capacity(total);
                for item in subscription {
                    let (event, tracking) = item.map_err(|e| e.to_string())?;
                    seen.push((
                        tracking.notification_id,
                        event.originator_id,
                        Instant::now(),
                    ));
                    received.store(seen.len(), Ordering::Release);
                    if seen.len() >= total {
                        break;
                    }
                }
                Ok(seen)
            }
        })?;
    // As the reference: let the subscription be in place (PostgreSQL's LISTEN).
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..WARMUP_SAVES {
        app.save(&mut Dog::register(format!("warmup-{i}")))?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.load(Ordering::Acquire) < WARMUP_SAVES && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut order = Vec::with_capacity(n);
    let mut sent = HashMap::with_capacity(n);
    let t0 = Instant::now();
    for i in 0..n {
        let mut dog = Dog::register(format!("dog-{i}"));
        app.save(&mut dog)?;
        let at = Instant::now();
        sent.insert(dog.id(), at);
        order.push(dog.id());
    }
    let t_written = Instant::now();
    let deadline = t_written + Duration::from_secs(60).max(Duration::from_millis(50) * n as u32);
    while received.load(Ordering::Acquire) < total && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let t_waited = Instant::now();
    stopper.stop();
    let seen = follower
        .join()
        .map_err(|_| "the subscriber panicked")?
        .map_err(|e| format!("the subscriber failed: {e}"))?;
    let timed: Seen = seen
        .iter()
        .filter(|(_, dog, _)| sent.contains_key(dog))
        .copied()
        .collect();
    if timed.len() != n {
        return Err(format!("the subscriber got {}/{n} events", timed.len()).into());
    }
    let t_last = timed.iter().map(|(_, _, at)| *at).max().unwrap_or(t0);
    let ids_ascending = seen.windows(2).all(|w| w[0].0 < w[1].0);
    let same_order = timed
        .iter()
        .map(|(_, dog, _)| *dog)
        .eq(order.iter().copied());
    let (ms, negative) = latencies(&timed, &sent);
    let elapsed = (t_last - t0).as_secs_f64();
    let write_only = (t_written - t0).as_secs_f64();
    let mut out = figures(json!({
        "events": n,
        "saves": n,
        "warmup_saves": WARMUP_SAVES,
        "elapsed_s": elapsed,
        "events_per_s": n as f64 / elapsed,
        "write_only_s": write_only,
        "write_only_events_per_s": n as f64 / write_only,
        "last_received_after_last_save_ms": signed_ms(t_last, t_written),
        "wait_s": (t_waited - t_written).as_secs_f64(),
        "in_order": ids_ascending && same_order,
        "first_notification_id": timed.first().map(|t| t.0),
        "last_notification_id": timed.last().map(|t| t.0),
        "received_before_save_returned": negative,
        "subscription": "ApplicationSubscription (Application::subscribe), a thread iterating it",
    }));
    out.extend(latency_figures("latency_ms", ms));
    Ok(out)
}

pub(crate) fn subscribe_latency_sqlite(args: &Args, tmp: &Path) -> Result<Output, BoxError> {
    let app = dog_school(sqlite_builder("DogSchool", &tmp.join("w10.db")))?;
    let mut out = subscribe_latency(&app, Args::or(args.events, 2000))?;
    out.insert("recorder".into(), json!("SqliteApplicationRecorder"));
    Ok(out)
}

pub(crate) fn subscribe_latency_postgres(args: &Args, _tmp: &Path) -> Result<Output, BoxError> {
    let schema = PgSchema::new()?;
    let app = dog_school(schema.builder("DogSchool"))?;
    let mut out = subscribe_latency(&app, Args::or(args.events, 2000))?;
    out.insert("recorder".into(), json!("PostgresApplicationRecorder"));
    Ok(out)
}

/// The view's instrumentation: the events of the transaction being built, and when the
/// committed ones committed.
#[derive(Default)]
struct Stamps {
    pending: Mutex<Vec<(u64, Uuid)>>,
    committed: Mutex<Seen>,
    transactions: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The reference's `DogCounts`: per event, `dog_event_counts` of its dog +1.
struct DogCounts {
    stamps: Arc<Stamps>,
}

const UPSERT: &str = "INSERT INTO dog_event_counts AS t (dog_id, events) VALUES ($1, 1) \
                      ON CONFLICT (dog_id) DO UPDATE SET events = t.events + 1";

impl Projection for DogCounts {
    type Upstream = DomainEvent<DogEvent>;
    type View = TimedView;

    fn process(
        &self,
        event: DomainEvent<DogEvent>,
        tracking: &Tracking,
        view: &mut PostgresViewTransaction,
    ) -> Result<(), eventsourcing::domain::BoxError> {
        view.execute(UPSERT, vec![param(event.originator_id)]);
        lock(&self.stamps.pending).push((tracking.notification_id, event.originator_id));
        Ok(())
    }
}

/// A `PostgresView` that stamps each event of a transaction when the transaction has
/// committed (the reference's `processed_at`).
struct TimedView {
    view: PostgresView,
    stamps: Arc<Stamps>,
}

impl View for TimedView {
    type Transaction<'a> = PostgresViewTransaction;

    fn max_tracking_id(&self, application_name: &str) -> Result<u64, PersistenceError> {
        self.view.max_tracking_id(application_name)
    }

    fn transact<R>(
        &self,
        tracking: &Tracking,
        work: impl FnOnce(&mut PostgresViewTransaction) -> Result<R, eventsourcing::domain::BoxError>,
    ) -> Result<R, ViewError> {
        let result = self.view.transact(tracking, work);
        let now = Instant::now();
        let pending = std::mem::take(&mut *lock(&self.stamps.pending));
        if result.is_ok() {
            self.stamps.transactions.fetch_add(1, Ordering::Relaxed);
            lock(&self.stamps.committed)
                .extend(pending.into_iter().map(|(id, dog)| (id, dog, now)));
        }
        result
    }

    fn commit_signal(&self) -> CommitSignal {
        self.view.commit_signal()
    }
}

/// W11: `ProjectionRunner` from the application to `DogCounts` in a `PostgresView`, while
/// `events` events are written as dogs of 10 events, one save per dog, back to back.
pub(crate) fn projection_postgres(args: &Args, _tmp: &Path) -> Result<Output, BoxError> {
    let total = Args::or(args.events, 10_000);
    let dogs = total / (TRICKS_PER_DOG + 1);
    let schema = PgSchema::new()?;
    let app = dog_school(schema.builder("DogSchool"))?;
    let settings = settings_from_env(app.env())?;
    let view = PostgresView::new(Arc::new(PostgresDatastore::new(settings)?), "dogcounts")?;
    view.execute_batch(
        "CREATE TABLE IF NOT EXISTS dog_event_counts (dog_id uuid PRIMARY KEY, events bigint NOT NULL)",
    )?;
    let stamps = Arc::new(Stamps::default());
    let timed_view = Arc::new(TimedView {
        view: view.clone(),
        stamps: Arc::clone(&stamps),
    });
    let runner = ProjectionRunner::start(
        &app,
        Arc::new(DogCounts {
            stamps: Arc::clone(&stamps),
        }),
        Arc::clone(&timed_view),
    )?;
    // Warm-up: one dog, waited for (not counted).
    app.save(&mut new_dog(usize::MAX))?;
    runner.wait(
        app.recorder().max_notification_id()?,
        Duration::from_secs(30),
    )?;
    let warm_transactions = stamps.transactions.load(Ordering::Relaxed);
    let mut sent = HashMap::with_capacity(dogs);
    let t0 = Instant::now();
    for i in 0..dogs {
        let mut dog = new_dog(i);
        app.save(&mut dog)?;
        sent.insert(dog.id(), Instant::now());
    }
    let t_written = Instant::now();
    let last_id = app.recorder().max_notification_id()?;
    runner.wait(
        last_id,
        Duration::from_secs(120).max(Duration::from_millis(50) * total as u32),
    )?;
    let t_waited = Instant::now();
    runner.stop()?;
    let committed = std::mem::take(&mut *lock(&stamps.committed));
    let t_last = committed
        .iter()
        .find(|(id, _, _)| *id == last_id)
        .map(|(_, _, at)| *at)
        .ok_or("the last event's commit was not stamped")?;
    let (ms, _) = latencies(&committed, &sent);
    let events = dogs * (TRICKS_PER_DOG + 1);
    let tracked = view.max_tracking_id(app.name())?;
    let row = view
        .query(
            "SELECT COUNT(*)::bigint, COALESCE(SUM(events), 0)::bigint, COALESCE(MIN(events), 0), \
             COALESCE(MAX(events), 0) FROM dog_event_counts",
            vec![],
        )?
        .pop()
        .ok_or("no totals")?;
    let (view_dogs, view_events, min, max): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if tracked != last_id
        || view_events as usize != events + TRICKS_PER_DOG + 1
        || ms.len() != events
    {
        return Err(format!(
            "the view tracked {tracked} of {last_id}, counted {view_events} events of {}, stamped {}",
            events + TRICKS_PER_DOG + 1,
            ms.len()
        )
        .into());
    }
    let transactions = stamps.transactions.load(Ordering::Relaxed) - warm_transactions;
    let elapsed = (t_last - t0).as_secs_f64();
    let write_only = (t_written - t0).as_secs_f64();
    let mut out = figures(json!({
        "events": events,
        "saves": dogs,
        "elapsed_s": elapsed,
        "events_per_s": events as f64 / elapsed,
        "write_only_s": write_only,
        "write_only_events_per_s": events as f64 / write_only,
        "processed_last_after_last_save_ms": signed_ms(t_last, t_written),
        "wait_returned_s": (t_waited - t0).as_secs_f64(),
        "events_per_s_via_wait": events as f64 / (t_waited - t0).as_secs_f64(),
        "wait_overshoot_ms": signed_ms(t_waited, t_last),
        "view_transactions": transactions,
        "events_per_view_transaction": events as f64 / transactions.max(1) as f64,
        "view_totals": {"dogs": view_dogs, "events": view_events, "min_events": min, "max_events": max},
        "tracking_position": tracked,
        "view": "eventsourcing::postgres::PostgresView (dog_event_counts upsert +1 per event, dogcounts_tracking)",
        "runner": "eventsourcing::projection::ProjectionRunner",
    }));
    out.extend(latency_figures("latency_ms", ms));
    Ok(out)
}
