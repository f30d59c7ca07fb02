//! Interoperability with the Python reference library (`eventsourcing` 9.5.6): the same stores,
//! written and read from both sides (issue 12).
//!
//! The Python side is `tests/python/` (`dogs.py` declares the domain with the reference's
//! classes, `interop.py` is a command line the tests run as a subprocess, answering JSON). This
//! file declares the same domain in Rust, with the same topics (`#[aggregate(module = "dogs")]`
//! on the impl: `dogs:Dog`, `dogs:Dog.Registered`, ...), decimals as `rust_decimal::Decimal`
//! (the library's `decimal` feature), and each test runs four times: on an SQLite file and
//! on a PostgreSQL schema of its own, plain and with AES-GCM and zlib (the same `CIPHER_KEY` on
//! both sides). Both sides are configured by the same environment variables.
//!
//! The interpreter is `EVENTSOURCING_PYTHON`, else `$HOME/.cache/eventsourcing-interop/bin/python`
//! (the venv `.ci/run` makes). Without one that imports `eventsourcing` and `Crypto`, the tests
//! say so and skip; under CI (`CI=true`) they fail. PostgreSQL is as in the other tests
//! (`eventsourcing_tests::pg`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};

use eventsourcing::application::{ApplicationBuilder, NotificationLog};
use eventsourcing::interface::http::{HttpNotificationLog, NotificationLogServer};
use eventsourcing::interface::{
    NotificationLogInterface, NotificationLogJsonClient, NotificationLogJsonService,
};
use eventsourcing::persistence::{AesCipher, PersistenceError};
use eventsourcing::prelude::*;
use eventsourcing::system::{
    Follower, PolicyResult, Process, ProcessingEvent, SingleThreadedRunner, System,
};
use eventsourcing_tests::pg::TempSchema;
use eventsourcing_tests::TempDir;
use rust_decimal::Decimal;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// The domain, as tests/python/dogs.py declares it.
// ---------------------------------------------------------------------------------------------

/// A decimal as `rust_decimal` reads it: the tests compare decimals by their text, which it
/// keeps ("12.50" stays "12.50", as Python's `Decimal` does).
fn dec(text: &str) -> Decimal {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} is not a decimal: {e}"))
}

/// The Rust side's idea of a point: a plain struct (the Python side stores its `Point` with a
/// custom transcoding named `point`, which this side does not know).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "eventsourcing::serde")]
pub struct Point {
    x: i64,
    y: i64,
}

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dog {
    name: String,
    owner: Uuid,
    born: DateTime<Utc>,
    price: Decimal,
    chip: Option<Uuid>,
    tricks: Vec<String>,
    visits: Vec<DateTime<Utc>>,
    next_due: Option<DateTime<Utc>>,
    fees: Vec<Decimal>,
}

#[aggregate(module = "dogs")]
impl Dog {
    #[created("Registered")]
    pub fn register(
        name: String,
        owner: Uuid,
        born: DateTime<Utc>,
        price: Decimal,
        chip: Option<Uuid>,
    ) -> Self {
        Dog {
            name,
            owner,
            born,
            price,
            chip,
            tricks: Vec::new(),
            visits: Vec::new(),
            next_due: None,
            fees: Vec::new(),
        }
    }

    #[event("TrickAdded")]
    pub fn add_trick(&mut self, trick: String) {
        self.tricks.push(trick);
    }

    #[event("VetVisited")]
    pub fn visit_vet(
        &mut self,
        on: DateTime<Utc>,
        next_due: Option<DateTime<Utc>>,
        fees: Vec<Decimal>,
    ) {
        self.visits.push(on);
        self.next_due = next_due;
        self.fees.extend(fees);
    }

    #[event("HomeSet")]
    pub fn set_home(&mut self, home: Point) {
        let _ = home;
    }
}

/// How many tricks a dog was taught.
#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    dog_id: Uuid,
    count: u64,
}

#[aggregate(module = "dogs")]
impl Counter {
    /// The reference's `uuid5(NAMESPACE_URL, f"/counters/{dog_id}")`.
    pub fn create_id(dog_id: &Uuid) -> Uuid {
        eventsourcing::domain::url_id(&format!("/counters/{dog_id}"))
    }

    #[created]
    pub fn create(dog_id: Uuid) -> Self {
        Counter { dog_id, count: 0 }
    }

    #[event("Incremented")]
    pub fn increment(&mut self) {
        self.count += 1;
    }
}

/// The application `DogSchool` (tables `stored_events`, or `dogschool_events` in PostgreSQL).
pub struct DogSchool {
    app: Application,
}

impl AsRef<Application> for DogSchool {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl DogSchool {
    fn register(&self, dog: &NewDog) -> Uuid {
        let mut dog = Dog::register(
            dog.name.to_string(),
            dog.owner,
            dog.born,
            dec(dog.price),
            dog.chip,
        );
        self.app.save(&mut dog).expect("save a new dog");
        dog.id()
    }

    fn get(&self, id: Uuid) -> Dog {
        self.app
            .repository()
            .get(id)
            .unwrap_or_else(|e| panic!("Rust can't get dog {id}: {e}"))
    }

    fn add_trick(&self, id: Uuid, trick: &str) {
        let mut dog = self.get(id);
        dog.add_trick(trick.to_string());
        self.app.save(&mut dog).expect("save a trick");
    }

    fn visit_vet(
        &self,
        id: Uuid,
        on: DateTime<Utc>,
        next_due: Option<DateTime<Utc>>,
        fees: &[&str],
    ) {
        let mut dog = self.get(id);
        dog.visit_vet(on, next_due, fees.iter().map(|f| dec(f)).collect());
        self.app.save(&mut dog).expect("save a visit");
    }
}

/// The process application `Counters`: counts each dog's `TrickAdded` events.
pub struct Counters {
    app: Application,
}

impl AsRef<Application> for Counters {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Process for Counters {
    type Upstream = DomainEvent<DogEvent>;

    fn policy(
        &self,
        event: DomainEvent<DogEvent>,
        processing: &mut ProcessingEvent<'_>,
    ) -> PolicyResult {
        if let DogEvent::TrickAdded { .. } = event.payload {
            let dog_id = event.originator_id;
            let mut counter =
                processing.get_or_else(Counter::create_id(&dog_id), || Counter::create(dog_id))?;
            counter.increment();
            processing.save(&mut counter)?;
        }
        Ok(())
    }
}

impl Counters {
    fn count(&self, dog_id: Uuid) -> u64 {
        match self
            .app
            .repository()
            .get::<Counter>(Counter::create_id(&dog_id))
        {
            Ok(counter) => {
                assert_eq!(counter.dog_id, dog_id);
                counter.count
            }
            Err(e) if e.is_not_found() => 0,
            Err(e) => panic!("Rust can't get the counter of dog {dog_id}: {e}"),
        }
    }

    fn position(&self) -> u64 {
        self.app
            .recorder()
            .max_tracking_id("DogSchool")
            .expect("Rust reads the Counters' tracking position")
    }
}

// ---------------------------------------------------------------------------------------------
// Test data.
// ---------------------------------------------------------------------------------------------

/// What a new dog is registered with, on either side.
struct NewDog {
    name: &'static str,
    owner: Uuid,
    born: DateTime<Utc>,
    price: &'static str,
    chip: Option<Uuid>,
}

impl NewDog {
    fn json(&self) -> String {
        json!({
            "name": self.name,
            "owner": self.owner.to_string(),
            "born": self.born.to_rfc3339(),
            "price": self.price,
            "chip": self.chip.map(|c| c.to_string()),
        })
        .to_string()
    }
}

fn uuid(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap()
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

fn fido() -> NewDog {
    NewDog {
        name: "Fido",
        owner: uuid("0c5b4cdd-2e4d-4e4a-a9a1-b5e6a1b0b2c3"),
        born: time("2020-02-29T12:30:00.123456Z"),
        price: "12.50",
        chip: Some(uuid("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")),
    }
}

fn rex() -> NewDog {
    NewDog {
        name: "Rex \u{1F415} \"the dog\"",
        owner: uuid("6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
        born: time("2019-07-01T00:00:00Z"),
        price: "1000",
        chip: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The Python side.
// ---------------------------------------------------------------------------------------------

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The interpreter with the reference library.
#[derive(Debug)]
struct Python {
    exe: PathBuf,
}

/// The interpreter, checked once per test process; `None` (skip) when there is none outside CI.
fn python() -> Option<&'static Python> {
    static PYTHON: OnceLock<Option<Python>> = OnceLock::new();
    PYTHON.get_or_init(find_python).as_ref()
}

fn find_python() -> Option<Python> {
    let (exe, origin) = match std::env::var_os("EVENTSOURCING_PYTHON").filter(|v| !v.is_empty()) {
        Some(exe) => (PathBuf::from(exe), "EVENTSOURCING_PYTHON"),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            (
                Path::new(&home).join(".cache/eventsourcing-interop/bin/python"),
                "the default venv",
            )
        }
    };
    let check = Command::new(&exe)
        .args([
            "-c",
            "import eventsourcing, Crypto; from importlib.metadata import version; \
             print(version('eventsourcing'))",
        ])
        .output();
    let problem = match check {
        Ok(output) if output.status.success() => {
            let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
            eprintln!(
                "Python interop tests use {} ({origin}), eventsourcing {version}",
                exe.display()
            );
            return Some(Python { exe });
        }
        Ok(output) => format!(
            "{} ({origin}) can't import eventsourcing and Crypto: {}",
            exe.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(error) => format!("{} ({origin}) can't be run: {error}", exe.display()),
    };
    assert!(
        !ci(),
        "CI=true, but there is no Python with the reference library: {problem}. Run .ci/run \
         (which makes the venv), or set EVENTSOURCING_PYTHON to an interpreter with \
         eventsourcing[postgres]==9.5.6 and pycryptodome"
    );
    eprintln!(
        "Python interop tests SKIPPED: {problem}. Make the venv with `python3 -m venv \
         ~/.cache/eventsourcing-interop && ~/.cache/eventsourcing-interop/bin/pip install \
         \"eventsourcing[postgres]==9.5.6\" pycryptodome`, or set EVENTSOURCING_PYTHON."
    );
    None
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/interop.py")
}

/// A `python interop.py ...` command with exactly `env` (and PATH, HOME) as its environment.
fn python_command(python: &Python, env: &[(String, String)], args: &[&str]) -> Command {
    let mut command = Command::new(&python.exe);
    command.env_clear();
    for key in ["PATH", "HOME", "LANG", "TMPDIR"] {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    command
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg(script())
        .args(args);
    command
}

/// Runs the command; its stdout, or its stderr if it fails.
fn run_python(python: &Python, env: &[(String, String)], args: &[&str]) -> Result<String, String> {
    let output = python_command(python, env, args)
        .output()
        .map_err(|e| format!("can't run {}: {e}", python.exe.display()))?;
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).expect("Python prints UTF-8"))
    } else {
        Err(format!(
            "python interop.py {} failed ({}):\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Stores shared by both sides.
// ---------------------------------------------------------------------------------------------

enum Db {
    /// A directory of SQLite files, one per application (`dogschool.db`, `counters.db`).
    Sqlite(TempDir),
    /// A PostgreSQL schema (tables `dogschool_events`, `counters_tracking`, ...).
    Postgres(TempSchema),
}

/// Where a test's applications store their events, on both sides, and the cipher key if the
/// state is encrypted (and compressed).
struct Store {
    db: Db,
    key: Option<String>,
    python: &'static Python,
}

/// The names of the applications the Python side builds.
const PYTHON_APPS: &[&str] = &["DogSchool", "Counters"];

impl Store {
    fn sqlite(label: &str, encrypted: bool) -> Option<Store> {
        let python = python()?;
        Some(Store {
            db: Db::Sqlite(TempDir::new(&format!("interop-{label}"))),
            key: encrypted.then(|| AesCipher::create_key(32).unwrap()),
            python,
        })
    }

    fn postgres(label: &str, encrypted: bool) -> Option<Store> {
        let python = python()?;
        let schema = TempSchema::new(label)?;
        Some(Store {
            db: Db::Postgres(schema),
            key: encrypted.then(|| AesCipher::create_key(32).unwrap()),
            python,
        })
    }

    fn sqlite_file(&self, app: &str) -> Option<PathBuf> {
        match &self.db {
            Db::Sqlite(dir) => Some(dir.path().join(format!("{}.db", app.to_lowercase()))),
            Db::Postgres(_) => None,
        }
    }

    /// The environment of the applications named `apps`: the variables the reference reads.
    fn env_of(&self, apps: &[&str]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = match &self.db {
            Db::Sqlite(_) => {
                let mut env = vec![("PERSISTENCE_MODULE".into(), "eventsourcing.sqlite".into())];
                for app in apps {
                    let file = self.sqlite_file(app).unwrap();
                    env.push((
                        format!("{}_SQLITE_DBNAME", app.to_uppercase()),
                        file.to_str().unwrap().to_string(),
                    ));
                }
                env
            }
            Db::Postgres(schema) => schema.env(),
        };
        env.push(("IS_SNAPSHOTTING_ENABLED".into(), "y".into()));
        if let Some(key) = &self.key {
            env.push((
                "CIPHER_TOPIC".into(),
                "eventsourcing.cipher:AESCipher".into(),
            ));
            env.push(("CIPHER_KEY".into(), key.clone()));
            env.push((
                "COMPRESSOR_TOPIC".into(),
                "eventsourcing.compressor:ZlibCompressor".into(),
            ));
        }
        env
    }

    /// The Python side's environment.
    fn python_env(&self) -> Vec<(String, String)> {
        self.env_of(PYTHON_APPS)
    }

    /// A builder of the Rust application `name`, configured by the same variables.
    fn builder(&self, name: &str) -> ApplicationBuilder {
        Application::builder(name)
            .without_process_env()
            .envs(self.env_of(&[name]))
    }

    fn dog_school(&self) -> Arc<DogSchool> {
        Arc::new(DogSchool {
            app: self.builder("DogSchool").build().expect("build DogSchool"),
        })
    }

    fn counters(&self, name: &str) -> Arc<Counters> {
        Arc::new(Counters {
            app: self.builder(name).build().expect("build Counters"),
        })
    }

    /// `python interop.py ARGS`, its JSON answer; panics if it fails.
    fn py(&self, args: &[&str]) -> Value {
        let stdout = self.try_py(args).unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("python interop.py {args:?} printed {stdout:?}: {e}"))
    }

    fn try_py(&self, args: &[&str]) -> Result<String, String> {
        run_python(self.python, &self.python_env(), args)
    }

    /// `try_py` with more variables in the Python side's environment.
    fn try_py_with(&self, more: &[(&str, &str)], args: &[&str]) -> Result<String, String> {
        let mut env = self.python_env();
        env.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        run_python(self.python, &env, args)
    }

    fn py_register(&self, dog: &NewDog) -> Uuid {
        let answer = self.py(&["register", &dog.json()]);
        uuid(answer["id"].as_str().expect("an id"))
    }

    fn py_get(&self, id: Uuid) -> Value {
        self.py(&["get", &id.to_string()])
    }

    /// Deletes the events of `id` up to `version` from the DogSchool's events table, so that
    /// the aggregate can only be had from a snapshot.
    fn delete_events(&self, id: Uuid, version: u64) {
        match &self.db {
            Db::Sqlite(_) => {
                let db = rusqlite::Connection::open(self.sqlite_file("DogSchool").unwrap())
                    .expect("open the DogSchool's SQLite file");
                let deleted = db
                    .execute(
                        "DELETE FROM stored_events WHERE originator_id = ?1 \
                         AND originator_version <= ?2",
                        rusqlite::params![id.simple().to_string(), version as i64],
                    )
                    .expect("delete events");
                assert_eq!(deleted as u64, version, "deleted {deleted} events");
            }
            Db::Postgres(schema) => {
                let mut client = eventsourcing_tests::pg::connect().expect("connect");
                let deleted = client
                    .execute(
                        &format!(
                            "DELETE FROM {}.dogschool_events WHERE originator_id = '{id}'::uuid \
                             AND originator_version <= {version}",
                            schema.name()
                        ),
                        &[],
                    )
                    .expect("delete events");
                assert_eq!(deleted, version, "deleted {deleted} events");
            }
        }
    }
}

/// Defines tests that run with each store: SQLite and PostgreSQL, plain and encrypted.
macro_rules! interop_tests {
    ($(
        $(#[$meta:meta])*
        fn $name:ident($store:ident) $body:block
    )*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($store: &Store) $body

            #[test]
            fn sqlite() {
                if let Some(store) = Store::sqlite(stringify!($name), false) {
                    body(&store)
                }
            }

            #[test]
            fn sqlite_encrypted() {
                if let Some(store) = Store::sqlite(stringify!($name), true) {
                    body(&store)
                }
            }

            #[test]
            fn postgres() {
                if let Some(store) = Store::postgres(stringify!($name), false) {
                    body(&store)
                }
            }

            #[test]
            fn postgres_encrypted() {
                if let Some(store) = Store::postgres(stringify!($name), true) {
                    body(&store)
                }
            }
        }
    )*};
}

// ---------------------------------------------------------------------------------------------
// Comparing the two sides' aggregates.
// ---------------------------------------------------------------------------------------------

fn py_time(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str().map(time)
}

fn py_times(value: &Value) -> Vec<DateTime<Utc>> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| py_time(v).expect("a datetime"))
        .collect()
}

fn py_strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

/// Asserts that the Python side's dog (`dogs.dog_as_json`) is `dog`, value by value, and that
/// the Python values are of the Python types (`UUID`, `datetime` in UTC, `Decimal`).
fn assert_same_dog(dog: &Dog, py: &Value) {
    let context = || format!("Rust's dog:\n{dog:#?}\nPython's dog:\n{py:#}");
    assert_eq!(uuid(py["id"].as_str().unwrap()), dog.id(), "{}", context());
    assert_eq!(py["version"], json!(dog.version()), "{}", context());
    assert_eq!(
        py_time(&py["created_on"]),
        Some(dog.created_on()),
        "{}",
        context()
    );
    assert_eq!(
        py_time(&py["modified_on"]),
        Some(dog.modified_on()),
        "{}",
        context()
    );
    assert_eq!(py["name"], json!(dog.name), "{}", context());
    assert_eq!(
        uuid(py["owner"].as_str().unwrap()),
        dog.owner,
        "{}",
        context()
    );
    assert_eq!(py_time(&py["born"]), Some(dog.born), "{}", context());
    assert_eq!(py["price"], json!(dog.price.to_string()), "{}", context());
    assert_eq!(py["chip"].as_str().map(uuid), dog.chip, "{}", context());
    assert_eq!(py_strings(&py["tricks"]), dog.tricks, "{}", context());
    assert_eq!(py_times(&py["visits"]), dog.visits, "{}", context());
    assert_eq!(py_time(&py["next_due"]), dog.next_due, "{}", context());
    let fees: Vec<String> = dog.fees.iter().map(|f| f.to_string()).collect();
    assert_eq!(py_strings(&py["fees"]), fees, "{}", context());

    let types = &py["types"];
    assert_eq!(types["owner"], "UUID", "{}", context());
    assert_eq!(types["born"], "datetime", "{}", context());
    assert_eq!(types["born_tz"], "UTC", "{}", context());
    assert_eq!(types["price"], "Decimal", "{}", context());
    assert_eq!(types["created_on"], "datetime", "{}", context());
    assert_eq!(
        types["chip"],
        if dog.chip.is_some() {
            "UUID"
        } else {
            "NoneType"
        },
        "{}",
        context()
    );
    assert_eq!(
        types["next_due"],
        if dog.next_due.is_some() {
            "datetime"
        } else {
            "NoneType"
        },
        "{}",
        context()
    );
    assert_eq!(
        types["visits"],
        json!(vec!["datetime"; dog.visits.len()]),
        "{}",
        context()
    );
    assert_eq!(
        types["fees"],
        json!(vec!["Decimal"; dog.fees.len()]),
        "{}",
        context()
    );
}

/// Asserts that `dog` was registered as `new`.
fn assert_registered_as(dog: &Dog, new: &NewDog) {
    assert_eq!(dog.name, new.name);
    assert_eq!(dog.owner, new.owner);
    assert_eq!(dog.born, new.born);
    assert_eq!(dog.price, dec(new.price));
    assert_eq!(dog.chip, new.chip);
}

fn visit_json(on: &str, next_due: Option<&str>, fees: &[&str]) -> String {
    json!({ "on": on, "next_due": next_due, "fees": fees }).to_string()
}

/// Runs the Rust `Counters` (as the application `name`) following the Rust reading of the
/// DogSchool's store until it has caught up, as a process that starts, catches up and stops.
fn rust_follow(store: &Store, name: &str) -> Arc<Counters> {
    let school = store.dog_school();
    let counters = store.counters(name);
    let runner = SingleThreadedRunner::start(System::new().pipe(&school, &counters))
        .expect("start the Rust system");
    runner
        .check()
        .unwrap_or_else(|e| panic!("the Rust Counters failed to follow the DogSchool: {e}"));
    runner.stop().expect("stop the Rust system");
    counters
}

fn py_counts(answer: &Value, ids: &[Uuid]) -> Vec<u64> {
    ids.iter()
        .map(|id| {
            answer["counts"][id.to_string()]
                .as_u64()
                .unwrap_or_else(|| panic!("no count of {id} in {answer}"))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Aggregates written on one side, read and continued on the other.
// ---------------------------------------------------------------------------------------------

interop_tests! {
    /// Python registers a dog, teaches it a trick, takes it to the vet; Rust gets it with every
    /// value equal, appends events; Python gets it with the new events.
    fn python_writes_rust_continues(store) {
        let fido = fido();
        let id = store.py_register(&fido);
        store.py(&["add-trick", &id.to_string(), "sit"]);
        store.py(&[
            "visit-vet",
            &id.to_string(),
            &visit_json(
                "2024-01-01T00:00:00+00:00",
                Some("2025-01-01T09:15:30.500000+00:00"),
                &["1.10", "2", "0.05"],
            ),
        ]);

        let school = store.dog_school();
        let dog = school.get(id);
        assert_registered_as(&dog, &fido);
        assert_eq!(dog.version(), 3);
        assert_eq!(dog.tricks, ["sit"]);
        assert_eq!(dog.visits, [time("2024-01-01T00:00:00Z")]);
        assert_eq!(dog.next_due, Some(time("2025-01-01T09:15:30.5Z")));
        assert_eq!(dog.fees, [dec("1.10"), dec("2"), dec("0.05")]);
        assert_same_dog(&dog, &store.py_get(id));

        school.add_trick(id, "roll over");
        school.visit_vet(id, time("2024-06-30T23:59:59.999999Z"), None, &["3.00"]);
        let dog = school.get(id);
        assert_eq!(dog.version(), 5);
        let py = store.py_get(id);
        assert_eq!(py["tricks"], json!(["sit", "roll over"]));
        assert_eq!(py["next_due"], Value::Null);
        assert_eq!(
            py["visits"],
            json!(["2024-01-01T00:00:00+00:00", "2024-06-30T23:59:59.999999+00:00"])
        );
        assert_eq!(py["fees"], json!(["1.10", "2", "0.05", "3.00"]));
        assert_same_dog(&dog, &py);
    }

    /// Rust registers a dog (no chip: `None`); Python gets it with every value equal and
    /// appends events; Rust gets it with the new events.
    fn rust_writes_python_continues(store) {
        let rex = rex();
        let school = store.dog_school();
        let id = school.register(&rex);
        school.add_trick(id, "fetch");
        if store.key.is_none() {
            // The stored state is the reference's JSON.
            let stored = &school.app.log().select(1, 1).unwrap()[0];
            let state: Value = serde_json::from_slice(&stored.state).unwrap();
            assert_eq!(state["originator_topic"], "dogs:Dog", "{state}");
            assert_eq!(state["price"], json!({"_type_": "decimal_str", "_data_": "1000"}));
            assert_eq!(
                state["owner"],
                json!({"_type_": "uuid_hex", "_data_": "6ba7b8109dad11d180b400c04fd430c8"})
            );
            assert_eq!(
                state["born"],
                json!({"_type_": "datetime_iso", "_data_": "2019-07-01T00:00:00+00:00"})
            );
            assert_eq!(state["timestamp"]["_type_"], "datetime_iso", "{state}");
        }

        let py = store.py_get(id);
        assert_eq!(py["name"], json!(rex.name));
        assert_eq!(py["chip"], Value::Null);
        assert_eq!(py["price"], "1000");
        assert_eq!(py["born"], "2019-07-01T00:00:00+00:00");
        assert_same_dog(&school.get(id), &py);

        store.py(&["add-trick", &id.to_string(), "beg"]);
        store.py(&[
            "visit-vet",
            &id.to_string(),
            &visit_json("2024-02-02T02:02:02.020202+00:00", Some("2024-03-03T00:00:00+00:00"), &[]),
        ]);
        let dog = school.get(id);
        assert_registered_as(&dog, &rex);
        assert_eq!(dog.version(), 4);
        assert_eq!(dog.tricks, ["fetch", "beg"]);
        assert_eq!(dog.visits, [time("2024-02-02T02:02:02.020202Z")]);
        assert_eq!(dog.next_due, Some(time("2024-03-03T00:00:00Z")));
        assert!(dog.fees.is_empty());
        assert_same_dog(&dog, &store.py_get(id));

        // Rust continues after Python, and Python sees it.
        school.add_trick(id, "play dead");
        assert_same_dog(&school.get(id), &store.py_get(id));
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Snapshots taken on one side, restored on the other.
// ---------------------------------------------------------------------------------------------

interop_tests! {
    /// Python takes a snapshot at version 3 and appends an event; with the events up to the
    /// snapshot deleted, Rust can only get the dog from Python's snapshot and the event after.
    fn python_snapshot_rust_restores(store) {
        let fido = fido();
        let id = store.py_register(&fido);
        store.py(&["add-trick", &id.to_string(), "sit"]);
        store.py(&[
            "visit-vet",
            &id.to_string(),
            &visit_json("2024-01-01T10:00:00+00:00", Some("2025-01-01T00:00:00.000001+00:00"), &["9.99"]),
        ]);
        store.py(&["snapshot", &id.to_string()]);
        store.py(&["add-trick", &id.to_string(), "stay"]);
        let expected = store.py_get(id);

        store.delete_events(id, 3);
        // Python still gets it (from its snapshot), the same as before.
        assert_eq!(store.py_get(id), expected);

        let school = store.dog_school();
        let dog = school.get(id);
        assert_registered_as(&dog, &fido);
        assert_eq!(dog.version(), 4);
        assert_eq!(dog.tricks, ["sit", "stay"]);
        assert_eq!(dog.fees, [dec("9.99")]);
        assert_same_dog(&dog, &expected);

        // Rust continues from Python's snapshot.
        school.add_trick(id, "heel");
        assert_same_dog(&school.get(id), &store.py_get(id));
    }

    /// Rust takes a snapshot at version 3 and appends an event; with the events up to the
    /// snapshot deleted, Python can only get the dog from Rust's snapshot and the event after.
    fn rust_snapshot_python_restores(store) {
        let fido = fido();
        let school = store.dog_school();
        let id = school.register(&fido);
        school.add_trick(id, "sit");
        school.visit_vet(
            id,
            time("2024-01-01T10:00:00Z"),
            Some(time("2025-01-01T00:00:00.000001Z")),
            &["9.99", "0.01"],
        );
        school
            .app
            .take_snapshot::<Dog>(id, None)
            .expect("Rust takes a snapshot");
        school.add_trick(id, "stay");
        let dog = school.get(id);

        store.delete_events(id, 3);
        assert_eq!(school.get(id), dog, "Rust restores its own snapshot");

        let py = store.py_get(id);
        assert_eq!(py["version"], 4);
        assert_eq!(py["tricks"], json!(["sit", "stay"]));
        assert_eq!(py["fees"], json!(["9.99", "0.01"]));
        assert_same_dog(&dog, &py);

        // Python continues from Rust's snapshot.
        store.py(&["add-trick", &id.to_string(), "heel"]);
        let dog = school.get(id);
        assert_eq!(dog.tricks, ["sit", "stay", "heel"]);
        assert_same_dog(&dog, &store.py_get(id));
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Process applications following a leader of the other side, exactly once.
// ---------------------------------------------------------------------------------------------

interop_tests! {
    /// The Python `Counters` (a `ProcessApplication`, `follow` + `pull_and_process`) follows
    /// the Rust DogSchool: run twice, nothing is counted twice; run after more events, only
    /// those are counted. Rust then reads the counters Python wrote.
    fn python_follows_rust_leader(store) {
        let school = store.dog_school();
        let a = school.register(&fido());
        let b = school.register(&rex());
        for trick in ["sit", "roll over", "beg"] {
            school.add_trick(a, trick);
        }
        for trick in ["fetch", "stay"] {
            school.add_trick(b, trick);
        }
        school.visit_vet(b, time("2024-01-01T00:00:00Z"), None, &["5"]);
        let ids = [a, b];
        let args = |command: &'static str| {
            std::iter::once(command.to_string())
                .chain(ids.iter().map(Uuid::to_string))
                .collect::<Vec<_>>()
        };
        let follow = args("follow");
        let follow: Vec<&str> = follow.iter().map(String::as_str).collect();

        let first = store.py(&follow);
        assert_eq!(py_counts(&first, &ids), [3, 2], "{first}");
        assert_eq!(first["position"], 8, "{first}");
        let again = store.py(&follow);
        assert_eq!(py_counts(&again, &ids), [3, 2], "counted twice: {again}");
        assert_eq!(again["position"], 8, "{again}");

        school.add_trick(a, "play dead");
        let after = store.py(&follow);
        assert_eq!(py_counts(&after, &ids), [4, 2], "{after}");
        assert_eq!(after["position"], 9, "{after}");

        // Rust reads the Python-written counters.
        let counters = store.counters("Counters");
        assert_eq!([counters.count(a), counters.count(b)], [4, 2]);
    }

    /// The Rust `Counters` follows the Python DogSchool: run twice, nothing is counted twice;
    /// run after more events, only those are counted. Python then reads the counters (and the
    /// tracking position) Rust wrote.
    fn rust_follows_python_leader(store) {
        let a = store.py_register(&fido());
        let b = store.py_register(&rex());
        for trick in ["sit", "roll over"] {
            store.py(&["add-trick", &a.to_string(), trick]);
        }
        store.py(&["add-trick", &b.to_string(), "fetch"]);

        let counters = rust_follow(store, "Counters");
        assert_eq!([counters.count(a), counters.count(b)], [2, 1]);
        assert_eq!(counters.position(), 5);
        let counters = rust_follow(store, "Counters");
        assert_eq!([counters.count(a), counters.count(b)], [2, 1], "counted twice");
        assert_eq!(counters.position(), 5);

        store.py(&["add-trick", &b.to_string(), "stay"]);
        let counters = rust_follow(store, "Counters");
        assert_eq!([counters.count(a), counters.count(b)], [2, 2]);
        assert_eq!(counters.position(), 6);

        // Python reads the Rust-written counters and tracking position.
        let answer = store.py(&["counts", &a.to_string(), &b.to_string()]);
        assert_eq!(py_counts(&answer, &[a, b]), [2, 2], "{answer}");
        assert_eq!(answer["position"], 6, "{answer}");
    }

    /// One follower, two implementations: the Python and the Rust `Counters` take turns on the
    /// same store (its events and its tracking records), each continuing exactly where the
    /// other stopped.
    fn python_and_rust_followers_take_turns(store) {
        let school = store.dog_school();
        let a = school.register(&fido());
        school.add_trick(a, "sit");
        school.add_trick(a, "beg");
        let a_arg = a.to_string();

        let answer = store.py(&["follow", &a_arg]);
        assert_eq!(py_counts(&answer, &[a]), [2], "{answer}");
        assert_eq!(answer["position"], 3, "{answer}");

        // Rust takes over: nothing new to process.
        let counters = rust_follow(store, "Counters");
        assert_eq!(counters.count(a), 2, "Rust processed again what Python had processed");
        assert_eq!(counters.position(), 3);

        school.add_trick(a, "stay");
        let counters = rust_follow(store, "Counters");
        assert_eq!(counters.count(a), 3);
        assert_eq!(counters.position(), 4);

        // Python takes over again: nothing new to process, then only the new event.
        let answer = store.py(&["follow", &a_arg]);
        assert_eq!(py_counts(&answer, &[a]), [3], "Python processed again what Rust had: {answer}");
        assert_eq!(answer["position"], 4, "{answer}");
        school.add_trick(a, "heel");
        let answer = store.py(&["follow", &a_arg]);
        assert_eq!(py_counts(&answer, &[a]), [4], "{answer}");
        assert_eq!(answer["position"], 5, "{answer}");

        let counters = rust_follow(store, "Counters");
        assert_eq!(counters.count(a), 4);
        assert_eq!(counters.position(), 5);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. The notification log as JSON, both ways.
// ---------------------------------------------------------------------------------------------

/// Saves two dogs, four tricks and a visit in Rust: notifications 1 to 7 of [`TOPICS`].
fn seven_rust_notifications(school: &DogSchool) -> (Uuid, Uuid) {
    let a = school.register(&fido()); // 1
    let b = school.register(&rex()); // 2
    school.add_trick(a, "sit"); // 3
    school.visit_vet(a, time("2024-01-01T00:00:00Z"), None, &["1.50"]); // 4
    school.add_trick(b, "fetch"); // 5
    school.add_trick(a, "beg"); // 6
    school.add_trick(b, "stay"); // 7
    (a, b)
}

/// The same seven notifications, written by Python.
fn seven_python_notifications(store: &Store) -> (Uuid, Uuid) {
    let a = store.py_register(&fido());
    let b = store.py_register(&rex());
    let (a_arg, b_arg) = (a.to_string(), b.to_string());
    store.py(&["add-trick", &a_arg, "sit"]);
    store.py(&[
        "visit-vet",
        &a_arg,
        &visit_json("2024-01-01T00:00:00+00:00", None, &["1.50"]),
    ]);
    store.py(&["add-trick", &b_arg, "fetch"]);
    store.py(&["add-trick", &a_arg, "beg"]);
    store.py(&["add-trick", &b_arg, "stay"]);
    (a, b)
}

const TOPICS: [&str; 7] = [
    "dogs:Dog.Registered",
    "dogs:Dog.Registered",
    "dogs:Dog.TrickAdded",
    "dogs:Dog.VetVisited",
    "dogs:Dog.TrickAdded",
    "dogs:Dog.TrickAdded",
    "dogs:Dog.TrickAdded",
];

/// The reference's `NotificationLogInterface` run as `python interop.py log-section` and
/// `notifications`: what the reference's `NotificationLogJSONService` answers.
struct PythonJsonService {
    python: &'static Python,
    env: Vec<(String, String)>,
}

impl NotificationLogInterface for PythonJsonService {
    fn get_log_section(&self, section_id: &str) -> Result<String, ApplicationError> {
        run_python(self.python, &self.env, &["log-section", section_id]).map_err(interface_error)
    }

    fn get_notifications(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<String, ApplicationError> {
        let topics = serde_json::to_string(topics).unwrap();
        run_python(
            self.python,
            &self.env,
            &[
                "notifications",
                &start.to_string(),
                &limit.to_string(),
                &topics,
            ],
        )
        .map_err(interface_error)
    }
}

fn interface_error(message: String) -> ApplicationError {
    ApplicationError::Interface {
        message,
        source: None,
    }
}

/// `python interop.py serve-http`, stopped (its stdin closed) when dropped.
struct PythonServer {
    child: Child,
    url: String,
}

impl PythonServer {
    fn start(store: &Store) -> PythonServer {
        let mut child = python_command(store.python, &store.python_env(), &["serve-http"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python interop.py serve-http");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the server's port");
        let answer: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("serve-http printed {line:?}: {e}"));
        let port = answer["port"].as_u64().expect("a port");
        PythonServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.wait();
    }
}

interop_tests! {
    /// The Rust `NotificationLogJsonService` over the `http` endpoint, read by the reference's
    /// `NotificationLogJSONClient` (sections, selections with and without topics, every
    /// notification decoded by the reference's mapper), and followed by the Python `Counters`
    /// exactly once.
    fn rust_log_python_client(store) {
        let school = store.dog_school();
        let (a, b) = seven_rust_notifications(&school);
        let service = NotificationLogJsonService::new(Arc::new(school.app.log().clone()));
        let server = NotificationLogServer::bind("127.0.0.1:0", service).expect("bind");
        let url = format!("http://{}", server.local_addr());

        let read = store.py(&["http-read", &url]);
        assert_eq!(
            read["sections"],
            json!([
                {"id": "1,5", "next_id": "6,10", "ids": [1, 2, 3, 4, 5]},
                {"id": "6,7", "next_id": null, "ids": [6, 7]},
            ]),
            "{read:#}"
        );
        let events = read["events"].as_array().expect("events");
        let ours = school.app.log().select(1, 10).unwrap();
        assert_eq!(events.len(), 7, "{read:#}");
        for (event, (notification, topic)) in events.iter().zip(ours.iter().zip(TOPICS)) {
            assert_eq!(event["id"], notification.id);
            assert_eq!(event["topic"], topic);
            assert_eq!(event["topic"], json!(notification.topic));
            assert_eq!(uuid(event["originator_id"].as_str().unwrap()), notification.originator_id);
            assert_eq!(event["originator_version"], notification.originator_version);
            assert_eq!(event["class"], topic.trim_start_matches("dogs:"));
        }
        let registered = &events[0]["state"];
        assert_eq!(registered["originator_topic"], "dogs:Dog", "{registered}");
        assert_eq!(registered["name"], "Fido");
        assert_eq!(registered["owner"], json!(fido().owner.to_string()));
        assert_eq!(registered["born"], "2020-02-29T12:30:00.123456+00:00");
        assert_eq!(registered["price"], "12.50");
        assert_eq!(registered["chip"], json!(fido().chip.unwrap().to_string()));
        assert_eq!(events[1]["state"]["chip"], Value::Null);
        assert_eq!(events[2]["state"], json!({"trick": "sit"}));
        assert_eq!(
            events[3]["state"],
            json!({"on": "2024-01-01T00:00:00+00:00", "next_due": null, "fees": ["1.50"]})
        );
        assert_eq!(read["trick_ids"], json!([3, 5, 6, 7]), "the route's topics filter");

        // The Python Counters follows the Rust log over HTTP, exactly once.
        let (a_arg, b_arg) = (a.to_string(), b.to_string());
        let answer = store.py(&["follow-http", &url, &a_arg, &b_arg]);
        assert_eq!(py_counts(&answer, &[a, b]), [2, 2], "{answer}");
        assert_eq!(answer["position"], 7, "{answer}");
        let answer = store.py(&["follow-http", &url, &a_arg, &b_arg]);
        assert_eq!(py_counts(&answer, &[a, b]), [2, 2], "counted twice: {answer}");
        school.add_trick(a, "heel");
        let answer = store.py(&["follow-http", &url, &a_arg, &b_arg]);
        assert_eq!(py_counts(&answer, &[a, b]), [3, 2], "{answer}");
        assert_eq!(answer["position"], 8, "{answer}");
        server.stop();
    }

    /// The reference's `NotificationLogJSONService` output (`get_log_section`,
    /// `get_notifications`), read by the Rust `NotificationLogJsonClient`: the same sections
    /// and notifications as the Rust application reads from the store, decodable, and
    /// followed by the Rust `Counters` exactly once; then the same over HTTP (the reference's
    /// service behind the `http` endpoint's routes, read by `HttpNotificationLog`).
    fn python_log_rust_client(store) {
        let (a, b) = seven_python_notifications(store);
        let school = store.dog_school();
        let local = school.app.log();
        let client = NotificationLogJsonClient::new(PythonJsonService {
            python: store.python,
            env: store.python_env(),
        });

        for section_id in ["1,5", "6,10", "3,4", "8,10"] {
            let theirs = client
                .section(section_id)
                .unwrap_or_else(|e| panic!("section {section_id}: {e}"));
            let ours = local.section(section_id).unwrap();
            assert_eq!(theirs.id, ours.id, "section {section_id}");
            assert_eq!(theirs.next_id, ours.next_id, "section {section_id}");
            assert_eq!(theirs.items, ours.items, "section {section_id}");
        }
        let section = client.section("1,5").unwrap();
        assert_eq!(section.id.as_deref(), Some("1,5"));
        assert_eq!(section.next_id.as_deref(), Some("6,10"));

        let selected = client.select(1, 10).unwrap();
        assert_eq!(selected, local.select(1, 10).unwrap());
        let topics: Vec<&str> = selected.iter().map(|n| &*n.topic).collect();
        assert_eq!(topics, TOPICS);
        let tricks = ["dogs:Dog.TrickAdded".to_string()];
        let selected_tricks = client.select_of(2, 10, &tricks).unwrap();
        assert_eq!(selected_tricks, local.select_of(2, 10, &tricks).unwrap());
        assert_eq!(selected_tricks.iter().map(|n| n.id).collect::<Vec<_>>(), [3, 5, 6, 7]);
        for notification in &selected {
            let event = school
                .app
                .mapper()
                .to_domain_event::<DogEvent>(notification)
                .unwrap_or_else(|e| panic!("notification {}: {e}", notification.id));
            if notification.id == 1 {
                assert!(matches!(&event.payload, DogEvent::Registered { name, price, .. }
                    if name == "Fido" && *price == dec("12.50")));
            }
        }

        // The Rust Counters follows the Python log through its JSON, exactly once.
        let follow_json = || {
            let counters = store.counters("Counters");
            let follower = Follower::new(Arc::clone(&counters));
            let log = NotificationLogJsonClient::new(PythonJsonService {
                python: store.python,
                env: store.python_env(),
            });
            follower.follow("DogSchool", Arc::new(log), Arc::clone(school.app.mapper()), 5);
            follower
                .pull_and_process("DogSchool")
                .unwrap_or_else(|e| panic!("the Rust Counters following Python's JSON: {e}"));
            counters
        };
        let counters = follow_json();
        assert_eq!([counters.count(a), counters.count(b)], [2, 2]);
        assert_eq!(counters.position(), 7);
        let counters = follow_json();
        assert_eq!([counters.count(a), counters.count(b)], [2, 2], "counted twice");

        // Over HTTP: the reference's service behind the same routes, HttpNotificationLog.
        let server = PythonServer::start(store);
        let remote = HttpNotificationLog::connect(&server.url).unwrap();
        for section_id in ["1,5", "6,10"] {
            let theirs = remote.section(section_id).unwrap();
            let ours = local.section(section_id).unwrap();
            assert_eq!((theirs.id, theirs.next_id, theirs.items), (ours.id, ours.next_id, ours.items));
        }
        assert_eq!(remote.select(1, 10).unwrap(), local.select(1, 10).unwrap());
        assert_eq!(
            remote.select_of(1, 10, &tricks).unwrap(),
            local.select_of(1, 10, &tricks).unwrap()
        );
        store.py(&["add-trick", &a.to_string(), "heel"]);
        let http_counters = store.counters("HttpCounters");
        let follower = Follower::new(Arc::clone(&http_counters));
        follower.follow("DogSchool", Arc::new(remote), Arc::clone(school.app.mapper()), 5);
        follower
            .pull_and_process("DogSchool")
            .unwrap_or_else(|e| panic!("the Rust Counters following Python over HTTP: {e}"));
        assert_eq!([http_counters.count(a), http_counters.count(b)], [3, 2]);
        assert_eq!(follower.pull_and_process("DogSchool").unwrap(), 0);
        assert_eq!([http_counters.count(a), http_counters.count(b)], [3, 2], "counted twice");
        drop(server);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. What Python may write that Rust can't read: errors that say what it is.
// ---------------------------------------------------------------------------------------------

interop_tests! {
    /// An event of a topic no Rust type declares (`dogs:Dog.Vaccinated`) is
    /// `PersistenceError::UnknownTopic` naming it.
    fn unknown_topic_from_python(store) {
        let id = store.py_register(&fido());
        store.py(&["vaccinate", &id.to_string(), "rabies"]);
        let school = store.dog_school();
        let error = school.app.repository().get::<Dog>(id).unwrap_err();
        let message = error.to_string();
        match &error {
            ApplicationError::Persistence(PersistenceError::UnknownTopic { topic, .. }) => {
                assert_eq!(topic, "dogs:Dog.Vaccinated")
            }
            other => panic!("expected UnknownTopic, got {other:?}"),
        }
        assert!(message.contains("dogs:Dog.Vaccinated"), "{message}");
    }

    /// A value of a custom transcoding of the Python side (`{"_type_": "point", ...}`) fails
    /// to decode with an error that names the transcoding.
    fn custom_transcoding_from_python(store) {
        let id = store.py_register(&fido());
        store.py(&["set-home", &id.to_string(), "3", "4"]);
        let school = store.dog_school();
        let error = school.app.repository().get::<Dog>(id).unwrap_err();
        let message = error.to_string();
        match &error {
            ApplicationError::Persistence(PersistenceError::Decode { topic, .. }) => {
                assert_eq!(topic, "dogs:Dog.HomeSet")
            }
            other => panic!("expected a Decode error, got {other:?}"),
        }
        assert!(message.contains("point"), "the message does not name the transcoding: {message}");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. The tables: what Rust creates is what the reference creates.
// ---------------------------------------------------------------------------------------------

/// Every table of an SQLite file, with its columns, rowid, indexes and (for tracking tables) its
/// rows.
fn sqlite_tables(path: &Path) -> std::collections::BTreeMap<String, Value> {
    let db = rusqlite::Connection::open(path).expect("open an SQLite file");
    let names: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut tables = std::collections::BTreeMap::new();
    for name in names {
        let columns: Vec<Value> = db
            .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid")
            .unwrap()
            .query_map([&name], |row| {
                Ok(json!([
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?
                ]))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let without_rowid: i64 = db
            .query_row(
                "SELECT wr FROM pragma_table_list WHERE name = ?1",
                [&name],
                |row| row.get(0),
            )
            .unwrap();
        let indexes: Vec<Value> = db
            .prepare("SELECT name, \"unique\", origin FROM pragma_index_list(?1) ORDER BY name")
            .unwrap()
            .query_map([&name], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .into_iter()
            .map(|(index, unique, origin)| {
                let columns: Vec<String> = db
                    .prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
                    .unwrap()
                    .query_map([&index], |row| row.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                json!({"unique": unique, "origin": origin, "columns": columns})
            })
            .collect();
        let mut table = json!({
            "columns": columns,
            "without_rowid": without_rowid,
            "indexes": indexes,
        });
        if name == "tracking" {
            let rows: Vec<Value> = db
                .prepare("SELECT application_name, notification_id FROM tracking ORDER BY 1, 2")
                .unwrap()
                .query_map([], |row| {
                    Ok(json!([row.get::<_, String>(0)?, row.get::<_, i64>(1)?]))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            table["rows"] = json!(rows);
        }
        tables.insert(name, table);
    }
    tables
}

/// Every table, index, composite type and function of a PostgreSQL schema (the schema's name
/// replaced by `SCHEMA`), and the rows of its tracking tables.
fn postgres_tables(schema: &str) -> std::collections::BTreeMap<String, Value> {
    let mut client = eventsourcing_tests::pg::connect().expect("connect");
    let anonymous = |text: String| text.replace(schema, "SCHEMA");
    let mut tables = std::collections::BTreeMap::new();
    let rows = client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text, \
             coalesce(column_default::text, '') FROM information_schema.columns \
             WHERE table_schema = $1 ORDER BY table_name, ordinal_position",
            &[&schema],
        )
        .unwrap();
    for row in rows {
        let table: String = row.get(0);
        let entry = tables
            .entry(format!("table {table}"))
            .or_insert_with(|| json!({"columns": [], "indexes": [], "options": null}));
        entry["columns"].as_array_mut().unwrap().push(json!([
            row.get::<_, String>(1),
            row.get::<_, String>(2),
            row.get::<_, String>(3),
            anonymous(row.get::<_, String>(4)),
        ]));
    }
    for row in client
        .query(
            "SELECT tablename::text, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY 1, 2",
            &[&schema],
        )
        .unwrap()
    {
        let table: String = row.get(0);
        if let Some(entry) = tables.get_mut(&format!("table {table}")) {
            entry["indexes"]
                .as_array_mut()
                .unwrap()
                .push(json!(anonymous(row.get::<_, String>(1))));
        }
    }
    for row in client
        .query(
            "SELECT c.relname::text, coalesce(array_to_string(c.reloptions, ','), '') \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind = 'r'",
            &[&schema],
        )
        .unwrap()
    {
        let table: String = row.get(0);
        if let Some(entry) = tables.get_mut(&format!("table {table}")) {
            entry["options"] = json!(row.get::<_, String>(1));
        }
    }
    for row in client
        .query(
            "SELECT t.typname::text, a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
             JOIN pg_class c ON c.oid = t.typrelid JOIN pg_attribute a ON a.attrelid = c.oid \
             WHERE n.nspname = $1 AND c.relkind = 'c' AND a.attnum > 0 ORDER BY 1, a.attnum",
            &[&schema],
        )
        .unwrap()
    {
        let name: String = row.get(0);
        let entry = tables
            .entry(format!("type {name}"))
            .or_insert_with(|| json!([]));
        entry
            .as_array_mut()
            .unwrap()
            .push(json!([row.get::<_, String>(1), row.get::<_, String>(2)]));
    }
    for row in client
        .query(
            "SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1",
            &[&schema],
        )
        .unwrap()
    {
        tables.insert(format!("function {}", row.get::<_, String>(0)), json!(true));
    }
    let tracking: Vec<String> = tables
        .keys()
        .filter_map(|k| {
            k.strip_prefix("table ")
                .filter(|t| t.ends_with("_tracking"))
        })
        .map(str::to_string)
        .collect();
    for table in tracking {
        let rows: Vec<Value> = client
            .query(
                &format!(
                    "SELECT application_name, notification_id FROM {schema}.{table} ORDER BY 1, 2"
                ),
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| json!([row.get::<_, String>(0), row.get::<_, i64>(1)]))
            .collect();
        tables.get_mut(&format!("table {table}")).unwrap()["rows"] = json!(rows);
    }
    tables
}

/// Asserts that `rust` has everything `python` has, the same; reports what Rust has more.
fn assert_same_tables(
    what: &str,
    python: &std::collections::BTreeMap<String, Value>,
    rust: &std::collections::BTreeMap<String, Value>,
) {
    assert!(!python.is_empty(), "{what}: the reference created nothing");
    let mut differences = Vec::new();
    for (name, theirs) in python {
        match rust.get(name) {
            None => differences.push(format!(
                "{name}: missing from Rust's; the reference's: {theirs}"
            )),
            Some(ours) if ours != theirs => differences.push(format!(
                "{name}:\n  the reference's: {theirs}\n  Rust's:          {ours}"
            )),
            Some(_) => {}
        }
    }
    let extra: Vec<&String> = rust.keys().filter(|k| !python.contains_key(*k)).collect();
    if !extra.is_empty() {
        eprintln!("{what}: Rust creates more than the reference: {extra:?}");
    }
    assert!(
        differences.is_empty(),
        "{what}: the tables differ from the reference's:\n{}",
        differences.join("\n")
    );
}

/// The applications' tables (DogSchool's events and snapshots, Counters' events, snapshots and
/// tracking) as the reference creates them and as Rust does, each in a store of its own.
mod tables_match {
    use super::*;

    #[test]
    fn sqlite() {
        let (Some(python_store), Some(rust_store)) = (
            Store::sqlite("tables-python", false),
            Store::sqlite("tables-rust", false),
        ) else {
            return;
        };
        python_store.py(&["create-tables"]);
        rust_store.dog_school();
        rust_store.counters("Counters");
        for app in PYTHON_APPS {
            assert_same_tables(
                &format!("SQLite file of {app}"),
                &sqlite_tables(&python_store.sqlite_file(app).unwrap()),
                &sqlite_tables(&rust_store.sqlite_file(app).unwrap()),
            );
        }
    }

    #[test]
    fn postgres() {
        let (Some(python_store), Some(rust_store)) = (
            Store::postgres("tablespython", false),
            Store::postgres("tablesrust", false),
        ) else {
            return;
        };
        python_store.py(&["create-tables"]);
        rust_store.dog_school();
        rust_store.counters("Counters");
        let name = |store: &Store| match &store.db {
            Db::Postgres(schema) => schema.name().to_string(),
            Db::Sqlite(_) => unreachable!(),
        };
        assert_same_tables(
            "PostgreSQL schema",
            &postgres_tables(&name(&python_store)),
            &postgres_tables(&name(&rust_store)),
        );
    }
}

/// A Python service configured not to create tables (`CREATE_TABLE=n`) and to insert through
/// the reference's database function (`POSTGRES_ENABLE_DB_FUNCTIONS=y`) writes to the tables
/// Rust created: they must include that function, as the reference's do.
#[test]
fn python_db_functions_on_rust_created_tables() {
    let Some(store) = Store::postgres("dbfunctions", false) else {
        return;
    };
    let school = store.dog_school();
    let answer = store
        .try_py_with(
            &[("CREATE_TABLE", "n"), ("POSTGRES_ENABLE_DB_FUNCTIONS", "y")],
            &["register", &fido().json()],
        )
        .unwrap_or_else(|e| panic!("Python can't insert into the tables Rust created: {e}"));
    let answer: Value = serde_json::from_str(&answer).unwrap();
    let id = uuid(answer["id"].as_str().unwrap());
    assert_registered_as(&school.get(id), &fido());
}

// ---------------------------------------------------------------------------------------------
// 7. PostgreSQL subscriptions woken by the other side's inserts (LISTEN/NOTIFY on the events
//    table's channel).
// ---------------------------------------------------------------------------------------------

/// A DogSchool name of its own, so that its NOTIFY channel (its events table's name, which is
/// not qualified by the schema) is not shared with the other tests'.
fn wake_app_name() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "Wake{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// The reference's `PostgresSubscription` pulls only when NOTIFY wakes it: it sees each event
/// the Rust application saves, one at a time, as it is committed.
fn python_subscription_woken_by_rust(store: &Store) {
    let name = wake_app_name();
    let school = DogSchool {
        app: store.builder(&name).build().expect("build the DogSchool"),
    };
    let mut env = store.python_env();
    env.push(("INTEROP_DOGSCHOOL_NAME".into(), name.clone()));
    let mut child = python_command(store.python, &env, &["subscribe", "0", "3", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python interop.py subscribe");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = || -> Value {
        let line = lines
            .next()
            .expect("the subscriber stopped early")
            .expect("read the subscriber's output");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    };
    assert_eq!(next_line(), json!({"ready": true}));

    let id = school.register(&fido());
    assert_eq!(
        next_line(),
        json!({"id": 1, "topic": "dogs:Dog.Registered"})
    );
    school.add_trick(id, "sit");
    assert_eq!(
        next_line(),
        json!({"id": 2, "topic": "dogs:Dog.TrickAdded"})
    );
    school.add_trick(id, "beg");
    assert_eq!(
        next_line(),
        json!({"id": 3, "topic": "dogs:Dog.TrickAdded"})
    );
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the Python subscriber: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A Rust subscription is woken by the reference's inserts (which NOTIFY the same channel):
/// each event Python saves arrives well before the subscription's one-second recheck
/// ([`eventsourcing::persistence::RECHECK_INTERVAL`]) would have found it, six times in a row.
fn rust_subscription_woken_by_python(store: &Store) {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let name = wake_app_name();
    let school = DogSchool {
        app: store.builder(&name).build().expect("build the DogSchool"),
    };
    let mut env = store.python_env();
    env.push(("INTEROP_DOGSCHOOL_NAME".into(), name.clone()));
    let py = |args: &[&str]| -> Value {
        let stdout = run_python(store.python, &env, args).unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_str(&stdout).unwrap()
    };
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };

    let subscription = school
        .app
        .subscribe::<DomainEvent<DogEvent>>(0)
        .expect("subscribe");
    let stopper = subscription.stopper();
    let (sender, received) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for item in subscription {
            let (event, tracking) = item.expect("a decodable notification");
            if sender
                .send((now(), tracking.notification_id, event))
                .is_err()
            {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_secs(1)); // the subscription is idle, listening

    let answer = py(&["register", &fido().json()]);
    let id = answer["id"].as_str().unwrap().to_string();
    let (_, first, event) = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the registration");
    assert_eq!(first, 1);
    assert!(matches!(event.payload, DogEvent::Registered { .. }));
    // Seconds from Python's save returning (its commit done: the same clock) to the event
    // arriving here.
    let mut latencies = Vec::new();
    for round in 0..6u64 {
        std::thread::sleep(Duration::from_millis(200));
        let answer = py(&["add-trick", &id, &format!("trick {round}")]);
        let saved_at = answer["saved_at"].as_f64().expect("saved_at");
        let (at, notification_id, event) = received
            .recv_timeout(Duration::from_secs(10))
            .expect("a trick");
        assert_eq!(notification_id, round + 2);
        assert!(
            matches!(&event.payload, DogEvent::TrickAdded { trick } if *trick == format!("trick {round}"))
        );
        latencies.push((at - saved_at).max(0.0));
    }
    stopper.stop();
    drop(received);
    reader.join().unwrap();
    eprintln!("Rust subscription woken by Python's inserts after {latencies:?} s");
    assert!(
        latencies.iter().all(|l| *l < 0.3),
        "not woken by the reference's NOTIFY (seconds after Python's commits: {latencies:?})"
    );
}

mod subscriptions {
    use super::*;

    #[test]
    fn python_woken_by_rust_postgres() {
        if let Some(store) = Store::postgres("wakepy", false) {
            python_subscription_woken_by_rust(&store)
        }
    }

    #[test]
    fn python_woken_by_rust_postgres_encrypted() {
        if let Some(store) = Store::postgres("wakepy", true) {
            python_subscription_woken_by_rust(&store)
        }
    }

    #[test]
    fn rust_woken_by_python_postgres() {
        if let Some(store) = Store::postgres("wakers", false) {
            rust_subscription_woken_by_python(&store)
        }
    }

    #[test]
    fn rust_woken_by_python_postgres_encrypted() {
        if let Some(store) = Store::postgres("wakers", true) {
            rust_subscription_woken_by_python(&store)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Python's decimals as `str(Decimal)` writes them.
// ---------------------------------------------------------------------------------------------

/// A decimal as Python printed it, in whatever form (`1E+3`, `1E-7`).
fn py_dec(text: &str) -> Decimal {
    text.parse()
        .or_else(|_| Decimal::from_scientific(text))
        .unwrap_or_else(|e| panic!("{text:?} is not a decimal: {e}"))
}

interop_tests! {
    /// `str(Decimal)` switches to exponent notation (`1E+3`, `1E-7`) and keeps the sign of
    /// zero: Rust reads each as the number it is, and Python reads what Rust writes back.
    fn python_decimal_forms(store) {
        let mut dog = fido();
        dog.price = "1E+3";
        let id = store.py_register(&dog);
        store.py(&[
            "visit-vet",
            &id.to_string(),
            &visit_json(
                "2024-01-01T00:00:00+00:00",
                None,
                &["1E-7", "-0", "123456789012345678.0123456789", "-42.000"],
            ),
        ]);
        let py = store.py_get(id);
        assert_eq!(py["price"], "1E+3", "Python prints it so");
        assert_eq!(py["fees"][0], "1E-7", "Python prints it so");

        let school = store.dog_school();
        let read = school.get(id);
        assert_eq!(read.price, dec("1000"));
        assert_eq!(
            read.fees,
            [dec("0.0000001"), dec("0"), dec("123456789012345678.0123456789"), dec("-42.000")]
        );
        assert_eq!(read.fees[3].to_string(), "-42.000", "the scale is kept");
        let fees: Vec<Decimal> = py_strings(&py["fees"]).iter().map(|f| py_dec(f)).collect();
        assert_eq!(fees, read.fees);

        school.visit_vet(id, time("2024-02-01T00:00:00Z"), None, &["0.000001"]);
        let py = store.py_get(id);
        assert_eq!(py["fees"][4], "0.000001");
        assert_eq!(py["types"]["fees"], json!(vec!["Decimal"; 5]));
        assert_eq!(py_dec(py["price"].as_str().unwrap()), dec("1000"));
    }

    /// Python's decimals have any precision; `rust_decimal`'s have 28 digits. A value beyond
    /// them is an error naming the decimal, never silently another number.
    fn python_decimal_beyond_rust_decimal(store) {
        let school = store.dog_school();
        let mut problems = Vec::new();
        for fee in ["0.1000000000000000000000000000001", "12345678901234567890123456789012"] {
            let id = store.py_register(&fido());
            store.py(&[
                "visit-vet",
                &id.to_string(),
                &visit_json("2024-01-01T00:00:00+00:00", None, &[fee]),
            ]);
            match school.app.repository().get::<Dog>(id) {
                Ok(dog) if dog.fees[0].to_string() == fee => {}
                Ok(dog) => problems.push(format!(
                    "Python's {fee} was read as another number, {}",
                    dog.fees[0]
                )),
                Err(error) => {
                    let message = error.to_string();
                    eprintln!("{fee}: {message}");
                    if !message.contains("decimal") {
                        problems.push(format!("{fee}: the error does not say it is the decimal: {message}"));
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}

// ---------------------------------------------------------------------------------------------
// Hash-chained events and causation/correlation ids (issue 15): extra fields in the stored
// state, which the Python library reads past.
// ---------------------------------------------------------------------------------------------

interop_tests! {
    /// Rust writes hash-chained events with a correlation id; Python reads the dog as Rust
    /// does and continues it; Rust finds Python's event unchained (Python doesn't chain).
    fn hash_chained_and_correlated_events_read_in_python(store) {
        use eventsourcing::domain::EventMetadata;
        use eventsourcing::persistence::hash_chain::ChainFault;

        let school = DogSchool {
            app: store.builder("DogSchool").hash_chain(true).build().expect("build DogSchool"),
        };
        let fido = fido();
        let mut dog = Dog::register(
            fido.name.to_string(),
            fido.owner,
            fido.born,
            dec(fido.price),
            fido.chip,
        );
        dog.add_trick("sit".into());
        let request = Uuid::new_v4();
        school.app.save_with(&mut dog, &EventMetadata::correlated(request)).unwrap();
        let id = dog.id();
        school.add_trick(id, "roll over");
        assert!(school.app.verify_hash_chain(id).unwrap().is_empty());

        let dog = school.get(id);
        let py = store.py_get(id);
        assert_eq!(py["tricks"], json!(["sit", "roll over"]));
        assert_same_dog(&dog, &py);

        store.py(&["add-trick", &id.to_string(), "play dead"]);
        assert_eq!(school.get(id).tricks, ["sit", "roll over", "play dead"]);
        assert_eq!(
            school.app.verify_hash_chain(id).unwrap(),
            [ChainFault::Unchained { version: 4 }]
        );
        let events = school
            .app
            .events()
            .get::<DogEvent>(id, &Default::default())
            .unwrap();
        assert_eq!(events[0].metadata.correlation_id, Some(request));
        assert_eq!(events[3].metadata, EventMetadata::default());
    }
}
