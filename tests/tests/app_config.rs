//! Application configuration (digest §2.4, §2.8): errors that name the variable, the
//! application-name prefix rule, and an encrypted and compressed application (events and
//! snapshots), against memory and an SQLite file.

use eventsourcing::application::{ApplicationBuilder, ApplicationError, ConfigError};
use eventsourcing::persistence::{AesCipher, ErrorKind, EventQuery, PersistenceError};
use eventsourcing::prelude::*;
use eventsourcing_examples::world::{World, WorldEvent, Worlds};
use eventsourcing_tests::{backend_tests, Backend, TempDb};

/// A builder of Worlds with nothing configured but what the test sets.
fn worlds_builder() -> ApplicationBuilder {
    Worlds::builder().without_process_env()
}

#[track_caller]
fn config_error(result: Result<Worlds, ApplicationError>) -> ConfigError {
    match result {
        Err(ApplicationError::Config(error)) => error,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[track_caller]
fn assert_names(builder: ApplicationBuilder, variable: &str) -> ConfigError {
    let error = config_error(Worlds::with_builder(builder));
    assert_eq!(error.variable, variable, "{error}");
    assert!(error.to_string().contains(variable), "{error}");
    error
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn unknown_persistence_module() {
    let error = assert_names(
        worlds_builder().env("PERSISTENCE_MODULE", "eventsourcing.nosuch"),
        "PERSISTENCE_MODULE",
    );
    assert!(error.message.contains("eventsourcing.nosuch"), "{error}");
    assert_names(
        worlds_builder().env("INFRASTRUCTURE_FACTORY", "eventsourcing.nosuch:Factory"),
        "INFRASTRUCTURE_FACTORY",
    );
    // The reference's factory topics and short names are accepted.
    for module in [
        "eventsourcing.popo:Factory",
        "eventsourcing.popo",
        "popo",
        "eventsourcing.memory:Factory",
        "eventsourcing.memory",
        "memory",
    ] {
        Worlds::with_builder(worlds_builder().env("PERSISTENCE_MODULE", module)).unwrap();
    }
}

#[test]
fn malformed_cipher_key() {
    assert_names(
        worlds_builder().env("CIPHER_KEY", "not base64!"),
        "CIPHER_KEY",
    );
    // Base64, but of 10 bytes: not an AES key size.
    assert_names(
        worlds_builder().env("CIPHER_KEY", "AAAAAAAAAAAAAA=="),
        "CIPHER_KEY",
    );
    assert_names(worlds_builder().cipher_key("short"), "CIPHER_KEY");
}

#[test]
fn cipher_topic_without_key() {
    let error = assert_names(
        worlds_builder().env("CIPHER_TOPIC", "eventsourcing.cipher:AESCipher"),
        "CIPHER_KEY",
    );
    assert_eq!(
        error.message,
        "'CIPHER_KEY' not set in env, although 'CIPHER_TOPIC' was set"
    );
}

#[test]
fn unknown_cipher_and_compressor_topics() {
    let key = AesCipher::create_key(16).unwrap();
    assert_names(
        worlds_builder()
            .env("CIPHER_TOPIC", "eventsourcing.cipher:NoSuchCipher")
            .env("CIPHER_KEY", key),
        "CIPHER_TOPIC",
    );
    assert_names(
        worlds_builder().env("COMPRESSOR_TOPIC", "bz2"),
        "COMPRESSOR_TOPIC",
    );
}

#[test]
fn non_integer_sqlite_lock_timeout() {
    let db = TempDb::new("lock_timeout");
    let sqlite = || worlds_builder().sqlite(db.path());
    let error = assert_names(
        sqlite().env("SQLITE_LOCK_TIMEOUT", "soon"),
        "SQLITE_LOCK_TIMEOUT",
    );
    assert!(error.message.contains("soon"), "{error}");
    assert_names(
        sqlite().env("SQLITE_LOCK_TIMEOUT", "1.5"),
        "SQLITE_LOCK_TIMEOUT",
    );
    assert_names(
        sqlite().env("SQLITE_LOCK_TIMEOUT", "-1"),
        "SQLITE_LOCK_TIMEOUT",
    );
    // Empty means unset; an integer is fine.
    Worlds::with_builder(sqlite().env("SQLITE_LOCK_TIMEOUT", "")).unwrap();
    Worlds::with_builder(sqlite().env("SQLITE_LOCK_TIMEOUT", " 10 ")).unwrap();
    Worlds::with_builder(sqlite().sqlite_lock_timeout(1)).unwrap();
}

#[test]
fn bad_is_snapshotting_enabled() {
    let error = assert_names(
        worlds_builder().env("IS_SNAPSHOTTING_ENABLED", "maybe"),
        "IS_SNAPSHOTTING_ENABLED",
    );
    assert!(error.message.contains("maybe"), "{error}");
    // The reference's strtobool values, in any case.
    for (value, enabled) in [
        ("YES", true),
        ("on", true),
        ("1", true),
        ("Off", false),
        ("0", false),
    ] {
        let worlds =
            Worlds::with_builder(worlds_builder().env("IS_SNAPSHOTTING_ENABLED", value)).unwrap();
        assert_eq!(worlds.app().snapshots().is_some(), enabled, "{value}");
    }
}

#[test]
fn sqlite_dbname_missing() {
    for builder in [
        worlds_builder().env("PERSISTENCE_MODULE", "eventsourcing.sqlite"),
        worlds_builder().env("INFRASTRUCTURE_FACTORY", "eventsourcing.sqlite:Factory"),
        worlds_builder()
            .env("PERSISTENCE_MODULE", "sqlite")
            .env("SQLITE_DBNAME", ""),
    ] {
        let error = assert_names(builder, "SQLITE_DBNAME");
        assert_eq!(
            error.message,
            "SQLite database name not found in environment with key 'SQLITE_DBNAME'"
        );
    }
}

/// A builder of Worlds on PostgreSQL with everything required set (the server is not contacted
/// before the configuration is read, so these tests need none).
fn postgres_builder() -> ApplicationBuilder {
    worlds_builder()
        .env("PERSISTENCE_MODULE", "eventsourcing.postgres")
        .env("POSTGRES_DBNAME", "eventsourcing")
        .env("POSTGRES_HOST", "127.0.0.1")
        .env("POSTGRES_USER", "eventsourcing")
}

#[test]
fn postgres_required_variables_missing() {
    for (variable, what) in [
        ("POSTGRES_DBNAME", "database name"),
        ("POSTGRES_HOST", "host"),
        ("POSTGRES_USER", "user"),
    ] {
        // Unset (empty means unset), through either way of naming the backend.
        for builder in [
            postgres_builder().env(variable, ""),
            postgres_builder()
                .env("PERSISTENCE_MODULE", "")
                .env("INFRASTRUCTURE_FACTORY", "eventsourcing.postgres:Factory")
                .env(variable, " "),
        ] {
            let error = assert_names(builder, variable);
            assert_eq!(
                error.message,
                format!("Postgres {what} not found in environment with key '{variable}'")
            );
        }
    }
}

#[test]
fn postgres_invalid_values_name_the_variable() {
    for (variable, value) in [
        ("POSTGRES_PORT", "fivefourthreetwo"),
        ("POSTGRES_PORT", "70000"),
        ("POSTGRES_LOCK_TIMEOUT", "soon"),
        ("POSTGRES_LOCK_TIMEOUT", "1.5"),
        ("POSTGRES_LOCK_TIMEOUT", "-1"),
        ("POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT", "never"),
        ("POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT", "2.5"),
        ("POSTGRES_CONN_MAX_AGE", "old"),
        ("POSTGRES_CONN_MAX_AGE", "inf"),
        ("POSTGRES_CONN_MAX_AGE", "NaN"),
        ("POSTGRES_CONN_MAX_AGE", "1e400"),
        ("POSTGRES_PRE_PING", "maybe"),
        ("POSTGRES_POOL_SIZE", "many"),
        ("POSTGRES_POOL_SIZE", "0"),
        ("POSTGRES_POOL_SIZE", "-2"),
        ("POSTGRES_CONNECT_TIMEOUT", "soon"),
        ("POSTGRES_SCHEMA", "no-dashes"),
        ("POSTGRES_SCHEMA", "x; DROP TABLE y"),
    ] {
        let error = assert_names(postgres_builder().env(variable, value), variable);
        if variable != "POSTGRES_SCHEMA" {
            assert!(error.message.contains(value), "{variable}={value}: {error}");
        }
        // With the application-name prefix, the error names the variable the value came from.
        assert_names(
            postgres_builder().env(format!("WORLDS_{variable}"), value),
            &format!("WORLDS_{variable}"),
        );
    }
    let error = assert_names(
        postgres_builder().env("POSTGRES_LOCK_TIMEOUT", "soon"),
        "POSTGRES_LOCK_TIMEOUT",
    );
    assert_eq!(
        error.to_string(),
        "configuration error in POSTGRES_LOCK_TIMEOUT: \"soon\" is invalid: if set, an integer \
         or empty string is expected"
    );
}

#[test]
fn postgres_settings_from_the_environment() {
    use eventsourcing::application::Environment;
    use eventsourcing::postgres::{settings_from_env, PostgresDatastore};
    use std::time::Duration;

    let env = Environment::new("Worlds")
        .with_value("POSTGRES_DBNAME", "eventsourcing")
        .with_value("POSTGRES_HOST", "db.example")
        .with_value("POSTGRES_PORT", "5433")
        .with_value("POSTGRES_USER", "eventsourcing")
        .with_value("POSTGRES_PASSWORD", "secret")
        .with_value("POSTGRES_CONN_MAX_AGE", "10.5")
        .with_value("POSTGRES_PRE_PING", "y")
        .with_value("POSTGRES_LOCK_TIMEOUT", "5")
        .with_value("POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT", "6")
        .with_value("POSTGRES_SCHEMA", "worlds_schema")
        .with_value("POSTGRES_POOL_SIZE", "3")
        .with_value("POSTGRES_CONNECT_TIMEOUT", "2")
        .with_value("WORLDS_POSTGRES_APPLICATION_NAME", "worlds-web");
    let settings = settings_from_env(&env).unwrap();
    assert_eq!(
        (
            settings.dbname.as_str(),
            settings.host.as_str(),
            settings.port
        ),
        ("eventsourcing", "db.example", 5433)
    );
    assert_eq!(
        (settings.user.as_str(), settings.password.as_str()),
        ("eventsourcing", "secret")
    );
    assert_eq!(settings.conn_max_age, Some(Duration::from_millis(10_500)));
    assert!(settings.pre_ping);
    assert_eq!(settings.lock_timeout, Duration::from_secs(5));
    assert_eq!(
        settings.idle_in_transaction_session_timeout,
        Duration::from_secs(6)
    );
    assert_eq!(settings.schema.as_deref(), Some("worlds_schema"));
    assert_eq!(settings.pool_size, 3);
    assert_eq!(settings.connect_timeout, Duration::from_secs(2));
    assert_eq!(settings.application_name, "worlds-web");

    // The defaults.
    let env = Environment::new("Worlds")
        .with_value("POSTGRES_DBNAME", "eventsourcing")
        .with_value("POSTGRES_HOST", "127.0.0.1")
        .with_value("POSTGRES_USER", "eventsourcing");
    let defaults = settings_from_env(&env).unwrap();
    assert_eq!(defaults.port, 5432);
    assert_eq!(defaults.password, "");
    assert_eq!(defaults.conn_max_age, None);
    assert!(!defaults.pre_ping);
    assert_eq!(defaults.lock_timeout, Duration::ZERO);
    assert_eq!(defaults.schema, None);
    assert_eq!(defaults.pool_size, 5);
    assert_eq!(defaults.connect_timeout, Duration::from_secs(5));
    assert_eq!(defaults.application_name, "eventsourcing");

    // A max age of 0 (or less) means a new connection for each use, as in the reference; it
    // used to make the connection pool panic.
    for age in ["0", "-1", "0.0"] {
        let settings =
            settings_from_env(&env.clone().with_value("POSTGRES_CONN_MAX_AGE", age)).unwrap();
        assert_eq!(settings.conn_max_age, Some(Duration::ZERO), "{age}");
        PostgresDatastore::new(settings).unwrap();
    }
}

/// The prefix rule: `WORLDS_X` is read before `X`, by the application named "Worlds" only.
#[test]
fn application_name_prefix() {
    let db = TempDb::new("prefix");
    let key = AesCipher::create_key(32).unwrap();
    let env = [
        ("WORLDS_PERSISTENCE_MODULE", "eventsourcing.sqlite"),
        ("WORLDS_SQLITE_DBNAME", &*db.path().to_string_lossy()),
        ("WORLDS_CIPHER_KEY", &key),
        (
            "WORLDS_COMPRESSOR_TOPIC",
            "eventsourcing.compressor:ZlibCompressor",
        ),
        ("WORLDS_IS_SNAPSHOTTING_ENABLED", "y"),
        ("IS_SNAPSHOTTING_ENABLED", "n"),
        ("WIKI_CIPHER_KEY", "not even a key"),
    ];
    let worlds = Worlds::with_builder(worlds_builder().envs(env)).unwrap();
    assert!(worlds.app().mapper().is_encrypted());
    assert!(worlds.app().mapper().is_compressed());
    assert!(worlds.app().snapshots().is_some());
    let world_id = worlds.create_world().unwrap();
    worlds.make_it_so(world_id, "dinosaurs").unwrap();
    assert!(db.path().exists());
    let section = worlds.app().log().section("1,10").unwrap();
    assert!(!contains(&section.items[1].state, b"dinosaurs"));

    // The Wiki ignores the WORLDS_ values, and its own bad key is its problem only.
    let wiki_builder = || {
        eventsourcing_examples::wiki::Wiki::builder()
            .without_process_env()
            .envs(env)
    };
    match eventsourcing_examples::wiki::Wiki::with_builder(wiki_builder()) {
        Err(ApplicationError::Config(error)) => assert_eq!(error.variable, "WIKI_CIPHER_KEY"),
        other => panic!("expected the Wiki's CIPHER_KEY error, got {other:?}"),
    }
    let wiki =
        eventsourcing_examples::wiki::Wiki::with_builder(wiki_builder().env("WIKI_CIPHER_KEY", ""))
            .unwrap();
    assert!(!wiki.app().mapper().is_encrypted());
    assert!(wiki.app().snapshots().is_none());
    assert_eq!(wiki.app().name(), "Wiki");

    // A prefixed value given in code beats the plain one given in code.
    let worlds = Worlds::with_builder(
        worlds_builder()
            .env("SQLITE_DBNAME", "/nonexistent/dir/x.db")
            .env("PERSISTENCE_MODULE", "sqlite")
            .env("WORLDS_SQLITE_DBNAME", db.path().to_string_lossy())
            .env("WORLDS_CIPHER_KEY", &key)
            .env("WORLDS_COMPRESSOR_TOPIC", "zlib"),
    )
    .unwrap();
    assert_eq!(worlds.get_world_history(world_id).unwrap(), ["dinosaurs"]);
}

fn encrypted_builder(backend: &Backend, key: &str) -> ApplicationBuilder {
    backend
        .configure(Worlds::builder())
        .cipher_key(key)
        .zlib_compression()
        .snapshotting_interval::<World>(2)
}

backend_tests! {
    /// §2.8: an encrypted and compressed application: stored state (events and snapshots)
    /// doesn't show the plaintext; everything reads back; the mapper decrypts notifications.
    fn encrypted_and_compressed(backend) {
        let key = AesCipher::create_key(32).unwrap();
        let app = Worlds::with_builder(encrypted_builder(backend, &key)).unwrap();
        assert!(app.app().mapper().is_encrypted());
        assert!(app.app().mapper().is_compressed());
        let world_id = app.create_world().unwrap();
        for what in ["dinosaurs", "trucks", "internet"] {
            app.make_it_so(world_id, what).unwrap();
        }

        let section = app.app().log().section("1,10").unwrap();
        assert_eq!(section.id.as_deref(), Some("1,4"));
        for (item, what) in section.items[1..].iter().zip(["dinosaurs", "trucks", "internet"]) {
            assert!(!contains(&item.state, what.as_bytes()));
            assert!(!contains(&item.state, b"timestamp"));
            assert!(serde_json::from_slice::<serde_json::Value>(&item.state).is_err());
            // Topics are not encrypted: the log can be followed without the key.
            assert!(item.topic.contains("World.SomethingHappened"));
        }
        let event: DomainEvent<WorldEvent> =
            app.app().mapper().to_domain_event(&section.items[3]).unwrap();
        assert_eq!(event.payload, WorldEvent::SomethingHappened { what: "internet".into() });

        // Snapshots at 2 and 4, encrypted with the same mapper.
        let snapshots = app
            .app()
            .snapshots()
            .unwrap()
            .recorder()
            .select_events(world_id, &EventQuery::new())
            .unwrap();
        assert_eq!(snapshots.len(), 2);
        for snapshot in &snapshots {
            assert!(!contains(&snapshot.state, b"dinosaurs"));
            assert!(!contains(&snapshot.state, b"history"));
        }
        let snapshot = app.app().mapper().to_snapshot(&snapshots[1]).unwrap();
        assert_eq!(
            snapshot.state["history"],
            serde_json::json!(["dinosaurs", "trucks", "internet"])
        );

        assert_eq!(
            app.get_world_history(world_id).unwrap(),
            ["dinosaurs", "trucks", "internet"]
        );
        // Another application object with the same key reads it all.
        let again = Worlds::with_builder(encrypted_builder(backend, &key)).unwrap();
        assert_eq!(again.get_world(world_id).unwrap().version(), 4);
        let world: World = again.app().repository().get_at(world_id, 3).unwrap();
        assert_eq!(world.history(), ["dinosaurs", "trucks"]);
    }

    /// Reading encrypted events with the wrong key, or none, is an error, never a panic or
    /// garbage; a snapshot that can't be decrypted is skipped, and then the events fail too.
    fn wrong_key(backend) {
        let key = AesCipher::create_key(32).unwrap();
        let app = Worlds::with_builder(encrypted_builder(backend, &key)).unwrap();
        let world_id = app.create_world().unwrap();
        app.make_it_so(world_id, "dinosaurs").unwrap();

        let other_key = AesCipher::create_key(32).unwrap();
        let wrong = Worlds::with_builder(encrypted_builder(backend, &other_key)).unwrap();
        let error = wrong.get_world(world_id).unwrap_err();
        match &error {
            ApplicationError::Persistence(error @ PersistenceError::Cipher(_)) => {
                assert_eq!(error.kind(), ErrorKind::Data);
            }
            other => panic!("expected a cipher error, got {other:?}"),
        }
        assert!(!error.is_integrity());

        let plain = Worlds::with_builder(backend.configure(Worlds::builder())).unwrap();
        let error = plain.get_world(world_id).unwrap_err();
        assert!(matches!(error, ApplicationError::Persistence(_)), "{error:?}");
    }

    /// Compression alone: stored state is not JSON, and reads back.
    fn compressed_only(backend) {
        let app = Worlds::with_builder(
            backend
                .configure(Worlds::builder())
                .env("COMPRESSOR_TOPIC", "eventsourcing.compressor:ZlibCompressor"),
        )
        .unwrap();
        assert!(app.app().mapper().is_compressed());
        assert!(!app.app().mapper().is_encrypted());
        let world_id = app.create_world().unwrap();
        app.make_it_so(world_id, "dinosaurs").unwrap();
        let item = &app.app().log().section("2,2").unwrap().items[0];
        assert!(serde_json::from_slice::<serde_json::Value>(&item.state).is_err());
        assert_eq!(item.state[0], 0x78, "a zlib header");
        assert_eq!(app.get_world_history(world_id).unwrap(), ["dinosaurs"]);
    }

    /// Keys of 16, 24 and 32 bytes, given as CIPHER_KEY with the topic defaulting to AES.
    fn key_sizes(backend) {
        for size in AesCipher::KEY_SIZES {
            let key = AesCipher::create_key(size).unwrap();
            let app = Worlds::with_builder(
                backend.configure(Worlds::builder()).env("CIPHER_KEY", key),
            )
            .unwrap();
            assert!(app.app().mapper().is_encrypted());
            assert!(!app.app().mapper().is_compressed());
            let world_id = app.create_world().unwrap();
            app.make_it_so(world_id, "dinosaurs").unwrap();
            assert_eq!(app.get_world_history(world_id).unwrap(), ["dinosaurs"]);
        }
    }
}
