//! The macros' compile tests.
//!
//! - `tests/pass/*.rs` must compile and run: the accepted forms (Result-returning methods,
//!   `create_id`, an `id: Uuid` argument, every option of `#[aggregate]`, `#[created]` and
//!   `#[event]`, a struct without serde derives, `crate = "..."`).
//! - `tests/ui/<topic>/*.rs` must fail to compile with exactly the message in the `.stderr`
//!   beside each: `event/`, `created/`, `aggregate/` (the struct and impl block themselves) and
//!   `options/` (attribute arguments). Each case is one mistake, and its `.stderr` should show
//!   that mistake once, naming the problem and the fix.
//!
//! After changing a message, regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p eventsourcing-trybuild-tests`, and read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/ui/**/*.rs");
}
