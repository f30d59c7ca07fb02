//! Percentiles and a sampler of the process's OS threads, for the workloads of this module.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// Nearest-rank percentile `p` (0–100) of sorted `values` (as `python/bench.py` takes them).
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (sorted.len() as f64 * p / 100.0).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The latency figures `python/bench.py`'s `latency_ms` reports, from latencies in ms, under
/// `prefix` (`latency_ms` there).
pub(crate) fn latency_figures(prefix: &str, mut ms: Vec<f64>) -> Map<String, Value> {
    ms.sort_by(f64::total_cmp);
    let mut out = Map::new();
    let samples = ms.len();
    let key = |name: &str| format!("{prefix}_{name}");
    out.insert(prefix.replacen("_ms", "_samples", 1), json!(samples));
    if samples == 0 {
        return out;
    }
    out.insert(key("p50"), json!(percentile(&ms, 50.0)));
    out.insert(key("p90"), json!(percentile(&ms, 90.0)));
    out.insert(key("p99"), json!(percentile(&ms, 99.0)));
    out.insert(key("max"), json!(ms[samples - 1]));
    out.insert(key("min"), json!(ms[0]));
    out.insert(key("mean"), json!(ms.iter().sum::<f64>() / samples as f64));
    out
}

/// The number of OS threads of this process now (the entries of `/proc/self/task`).
pub(crate) fn threads_now() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

/// The names of this process's OS threads now (`/proc/self/task/*/comm`), counted.
pub(crate) fn thread_names() -> BTreeMap<String, usize> {
    let mut names = BTreeMap::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.filter_map(Result::ok) {
            if let Ok(name) = std::fs::read_to_string(task.path().join("comm")) {
                *names.entry(name.trim().to_string()).or_insert(0) += 1;
            }
        }
    }
    names
}

/// A thread (`bench-sampler`) that counts the process's OS threads every `interval` and keeps
/// the peak (itself included), with the threads' names at the peak.
pub(crate) struct ThreadSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    samples: Arc<AtomicUsize>,
    names: Arc<Mutex<BTreeMap<String, usize>>>,
    thread: Option<JoinHandle<()>>,
}

impl ThreadSampler {
    pub(crate) fn start(interval: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicUsize::new(0));
        let samples = Arc::new(AtomicUsize::new(0));
        let names = Arc::new(Mutex::new(BTreeMap::new()));
        let thread = std::thread::Builder::new()
            .name("bench-sampler".into())
            .spawn({
                let (stop, peak, samples, names) = (
                    Arc::clone(&stop),
                    Arc::clone(&peak),
                    Arc::clone(&samples),
                    Arc::clone(&names),
                );
                move || {
                    // The names are read at a new peak, and again 20 ms later if the count is
                    // still at the peak (a new thread names itself once it runs).
                    let mut recheck = None;
                    while !stop.load(Ordering::Relaxed) {
                        let now = threads_now();
                        let before = peak.fetch_max(now, Ordering::Relaxed);
                        let again = now == before && recheck.is_some_and(|at| Instant::now() >= at);
                        if now > before || again {
                            *names.lock().unwrap_or_else(|p| p.into_inner()) = thread_names();
                            recheck = (now > before).then(|| Instant::now() + 20 * interval);
                        }
                        samples.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(interval);
                    }
                }
            })?;
        Ok(ThreadSampler {
            stop,
            peak,
            samples,
            names,
            thread: Some(thread),
        })
    }

    /// Stops sampling: the peak, how many samples it took, and the threads' names at the
    /// peak.
    pub(crate) fn finish(mut self) -> (usize, usize, BTreeMap<String, usize>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let names = std::mem::take(&mut *self.names.lock().unwrap_or_else(|p| p.into_inner()));
        (
            self.peak.load(Ordering::Relaxed),
            self.samples.load(Ordering::Relaxed),
            names,
        )
    }
}
