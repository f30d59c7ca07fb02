//! A follower in this process reading a leader's notification log over HTTP from another
//! process (digest §5): the leader encrypts and compresses its events, the follower decodes
//! them with the same cipher settings, and processes every event exactly once while the leader
//! is still saving.
//!
//! The test spawns its own test binary as the leader process: the test `leader_child_process`
//! does nothing unless the environment variable [`CHILD_ENV`] names the directory of its
//! database.

mod system_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use eventsourcing::application::NotificationLog;
use eventsourcing::interface::http::{HttpNotificationLog, NotificationLogServer};
use eventsourcing::interface::NotificationLogJsonService;
use eventsourcing::persistence::{AesCipher, JsonTranscoder, Mapper, ZlibCompressor};
use eventsourcing::system::{Follower, NotificationLogReader, SystemError};
use system_common::{builder, Backend, Counters, World, Worlds};

/// Names the directory of the leader's database, in the child process.
const CHILD_ENV: &str = "ES_HTTP_LEADER_DIR";
/// The leader's cipher key, in the child process.
const KEY_ENV: &str = "ES_HTTP_LEADER_CIPHER_KEY";

/// Events saved before the server starts, and after.
const BEFORE: u64 = 100;
const AFTER: u64 = 50;

fn leader(dir: &Path, key: &str) -> Worlds {
    Worlds::new(
        builder("Worlds", Backend::Sqlite, dir)
            .cipher_key(key)
            .zlib_compression(),
    )
}

/// The leader process: saves events, serves its log over HTTP, saves more, and waits for its
/// stdin to close.
#[test]
fn leader_child_process() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return; // only a child process when the parent test runs it
    };
    let key = std::env::var(KEY_ENV).unwrap();
    let worlds = leader(Path::new(&dir), &key);

    // 20 worlds of 5 events, saved a world at a time.
    for _ in 0..20 {
        let mut world = World::create();
        for what in ["dinosaurs", "trucks", "internet", "dinosaurs"] {
            world.make_it_so(what.to_string());
        }
        worlds.app.save(&mut world).unwrap();
    }
    assert_eq!(worlds.max_notification_id(), BEFORE);

    let service = NotificationLogJsonService::new(Arc::new(worlds.app.log().clone()));
    let server = NotificationLogServer::bind("127.0.0.1:0", service).unwrap();
    println!("PORT={}", server.local_addr().port());
    std::io::stdout().flush().unwrap();

    // 10 more worlds of 5 events, an event at a time, while the follower reads.
    for _ in 0..10 {
        let w = worlds.create_world();
        for what in ["dinosaurs", "trucks", "trucks", "internet"] {
            worlds.make_it_so(w, what);
        }
    }
    println!("SAVED={}", worlds.max_notification_id());
    std::io::stdout().flush().unwrap();

    // Serve until the parent closes our stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    server.stop();
}

#[test]
fn a_follower_reads_a_leader_in_another_process_over_http() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = system_common::temp_dir("http-leader");
    let key = AesCipher::create_key(32).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "leader_child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &dir)
        .env(KEY_ENV, &key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // The child's announcements ("PORT=...", "SAVED=..."), as they come.
    let (lines, announcements) = mpsc::channel::<(String, u64)>();
    let stdout = child.stdout.take().unwrap();
    let stdout_thread = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            // libtest may have printed "test leader_child_process ... " on the same line.
            for key in ["PORT", "SAVED"] {
                let Some(at) = line.find(&format!("{key}=")) else {
                    continue;
                };
                let digits: String = line[at + key.len() + 1..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                let _ = lines.send((key.to_string(), digits.parse().unwrap()));
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let next = |expected: &str| -> u64 {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let (key, value) = announcements
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("the leader process did not announce {expected}: {e}"));
        assert_eq!(key, expected);
        value
    };
    let port = next("PORT");
    let url = format!("http://127.0.0.1:{port}");

    // A follower with the leader's cipher and compressor settings.
    let counters = Arc::new(Counters::new(builder("Counters", Backend::Memory, &dir)));
    let follower = Follower::new(Arc::clone(&counters));
    let mapper = Mapper::new(JsonTranscoder)
        .with_cipher(AesCipher::new(&key).unwrap())
        .with_compressor(ZlibCompressor::default());
    follower.follow(
        "Worlds",
        Arc::new(HttpNotificationLog::connect(&url).unwrap()),
        Arc::new(mapper),
        NotificationLogReader::DEFAULT_SECTION_SIZE,
    );

    // A follower without the key can read the log but not decode it: an error, and no progress.
    let keyless = Arc::new(Counters::new(builder("Keyless", Backend::Memory, &dir)));
    let keyless_follower = Follower::new(Arc::clone(&keyless));
    keyless_follower.follow(
        "Worlds",
        Arc::new(HttpNotificationLog::connect(&url).unwrap()),
        Arc::new(Mapper::default()),
        10,
    );
    let error = keyless_follower.pull_and_process("Worlds").unwrap_err();
    assert!(matches!(error, SystemError::Processing { .. }));
    assert!(
        error.to_string().contains("can't decode the stored state"),
        "{error}"
    );
    assert_eq!(keyless.tracked("Worlds"), 0);

    // Follow while the leader saves, until it says it is done and the follower has it all.
    let mut saved = None;
    loop {
        follower.pull_and_process("Worlds").unwrap();
        if saved.is_none() {
            if let Ok((key, value)) = announcements.try_recv() {
                assert_eq!(key, "SAVED");
                saved = Some(value);
            }
        }
        if saved.is_some_and(|saved| counters.tracked("Worlds") >= saved) {
            break;
        }
        assert!(Instant::now() < deadline, "the follower did not catch up");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(saved, Some(BEFORE + AFTER));
    assert_eq!(counters.tracked("Worlds"), BEFORE + AFTER);
    assert_eq!(counters.calls(), BEFORE + AFTER);
    assert_eq!(counters.get_count("dinosaurs"), 20 * 2 + 10);
    assert_eq!(counters.get_count("trucks"), 20 + 10 * 2);
    assert_eq!(counters.get_count("internet"), 20 + 10);
    assert_eq!(follower.pull_and_process("Worlds").unwrap(), 0);

    // The log over HTTP, read both ways: the states are encrypted (not JSON) on the wire.
    let remote: Arc<dyn NotificationLog> = Arc::new(HttpNotificationLog::connect(&url).unwrap());
    let reader = NotificationLogReader::new(Arc::clone(&remote), 10);
    let selected: Vec<_> = reader.select(1).map(Result::unwrap).collect();
    let read: Vec<_> = reader.read(1).map(Result::unwrap).collect();
    assert_eq!(selected.len() as u64, BEFORE + AFTER);
    assert_eq!(selected, read);
    assert!(selected
        .iter()
        .enumerate()
        .all(|(i, n)| n.id == i as u64 + 1));
    assert!(selected
        .iter()
        .all(|n| serde_json::from_slice::<serde_json::Value>(&n.state).is_err()));
    let section = remote.section("141,150").unwrap();
    assert_eq!(section.id.as_deref(), Some("141,150"));
    assert_eq!(section.next_id.as_deref(), Some("151,160"));
    assert_eq!(remote.section("151,160").unwrap().items.len(), 0);

    // Done: close the child's stdin, and it stops serving and exits.
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "the leader process failed: {status}");
    stdout_thread.join().unwrap();

    // What the follower processed is what the leader stored.
    let worlds = leader(&dir, &key);
    assert_eq!(worlds.max_notification_id(), BEFORE + AFTER);
    let _ = std::fs::remove_dir_all(&dir);
}
