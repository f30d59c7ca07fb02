//! Shared helpers of the integration tests (the tests are in `tests/tests/`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A new, empty directory under the system's temporary directory, removed (with everything
/// in it) when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
    files: AtomicU64,
}

impl TempDir {
    /// Creates a directory whose name starts with `prefix` and is unique to this process and
    /// call.
    pub fn new(prefix: &str) -> Self {
        static DIRS: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "eventsourcing-tests-{prefix}-{}-{}-{nanos}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temporary directory");
        TempDir {
            path,
            files: AtomicU64::new(0),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path in the directory that no other call returned: `file-N.<extension>`.
    pub fn unique_file(&self, extension: &str) -> PathBuf {
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        self.path.join(format!("file-{n}.{extension}"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A small aggregate for the persistence tests: the reference library's `World`.
pub mod world {
    use eventsourcing::prelude::*;

    /// A world with a history of things that happened in it.
    #[aggregate]
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct World {
        history: Vec<String>,
    }

    #[aggregate]
    impl World {
        /// A new world with no history.
        #[created]
        pub fn create() -> Self {
            World {
                history: Vec::new(),
            }
        }

        /// Something happened.
        #[event("SomethingHappened")]
        pub fn make_it_so(&mut self, what: String) {
            self.history.push(what);
        }

        /// What happened, in order.
        pub fn history(&self) -> &[String] {
            &self.history
        }
    }
}
