//! The library's layers, read from its source: no import cycle between the top-level modules of
//! `eventsourcing/src`, and the backends (`memory`, `sqlite`, `postgres`) use only the
//! persistence and domain layers — never the application above them.
//!
//! A reference is a path in code (comments and string literals don't count: a doc link is not
//! a dependency) starting with `crate::` (or `$crate::`), or with enough `super::` to reach the
//! crate root from the file (and inline module) it is in, including `use` groups such as
//! `crate::{application::X, persistence::Y}`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The modules whose code is a backend.
const BACKENDS: &[&str] = &["memory", "sqlite", "postgres"];
/// What a backend may reference.
const BACKEND_MAY_USE: &[&str] = &["persistence", "domain"];

/// Edges between top-level modules, each with where it was first seen (`file:line`).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// The tokens of `source` with their line numbers, without comments and literals.
fn tokens(source: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Skips to just past the closing quote of a string whose body starts at `i`; with `raw`,
    // the closing quote must be followed by `hashes` '#' and escapes don't count.
    let skip_string = |mut i: usize, raw: bool, hashes: usize, line: &mut usize| -> usize {
        while i < chars.len() {
            match chars[i] {
                '\n' => *line += 1,
                '\\' if !raw => {
                    if chars.get(i + 1) == Some(&'\n') {
                        *line += 1;
                    }
                    i += 1;
                }
                '"' if (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) => {
                    return i + 1 + hashes;
                }
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if chars[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            '"' => i = skip_string(i + 1, false, 0, &mut line),
            '\'' => {
                // A character literal ('x', '\n', '\u{..}'), or a lifetime ('a), left as its
                // name.
                if next == Some('\\') {
                    i += 2;
                    while i < chars.len() && chars[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                } else if chars.get(i + 2) == Some(&'\'') {
                    i += 3;
                } else {
                    i += 1;
                }
            }
            ':' if next == Some(':') => {
                out.push((Token::PathSep, line));
                i += 2;
            }
            c if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let ident: String = chars[start..i].iter().collect();
                let prefix = matches!(ident.as_str(), "r" | "br" | "b" | "c" | "cr");
                let hashes = chars[i..].iter().take_while(|&&c| c == '#').count();
                if prefix && chars.get(i + hashes) == Some(&'"') {
                    let raw = ident.contains('r');
                    i = skip_string(i + hashes + 1, raw, if raw { hashes } else { 0 }, &mut line);
                } else if ident == "b" && chars.get(i) == Some(&'\'') {
                    // A byte literal: skip it as a character literal.
                } else {
                    out.push((Token::Ident(ident), line));
                }
            }
            c if c.is_whitespace() => i += 1,
            c => {
                out.push((Token::Punct(c), line));
                i += 1;
            }
        }
    }
    out
}

/// The module path of a file below `src` (`sqlite/recorder.rs` is `[sqlite, recorder]`,
/// `sqlite/mod.rs` is `[sqlite]`), and its top-level module (`private.rs` is the crate's
/// `__private`, named by its file).
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs").to_string();
        if stem != "mod" && stem != "lib" {
            parts.push(stem);
        }
    }
    parts
}

/// The first identifiers of the items of a `{...}` group starting at `tokens[at]` (the `{`).
fn group_heads(tokens: &[(Token, usize)], at: usize) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    for (token, _) in &tokens[at..] {
        match token {
            Token::Punct('{') => {
                depth += 1;
                if depth == 1 {
                    expect_head = true;
                }
            }
            Token::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Token::Punct(',') if depth == 1 => expect_head = true,
            Token::Ident(name) if depth == 1 && expect_head => {
                heads.push(name.clone());
                expect_head = false;
            }
            _ if depth == 1 => expect_head = false,
            _ => {}
        }
    }
    heads
}

/// The top-level modules that the code of one file (at module path `path`) refers to, each
/// with the line of its first reference.
fn references(source: &str, path: &[String]) -> BTreeMap<String, usize> {
    let tokens = tokens(source);
    let mut found = BTreeMap::new();
    // Inline modules (`mod tests { ... }`) around the current token: name and brace depth.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let ident = |i: usize| match tokens.get(i) {
        Some((Token::Ident(name), _)) => Some(name.as_str()),
        _ => None,
    };
    let sep = |i: usize| matches!(tokens.get(i), Some((Token::PathSep, _)));
    let mut i = 0;
    while i < tokens.len() {
        let line = tokens[i].1;
        match &tokens[i].0 {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                depth -= 1;
                if inline.last().is_some_and(|&(_, d)| d == depth) {
                    inline.pop();
                }
            }
            Token::Ident(word) if word == "mod" => {
                if let (Some(name), Some((Token::Punct('{'), _))) =
                    (ident(i + 1), tokens.get(i + 2))
                {
                    inline.push((name.to_string(), depth));
                }
            }
            Token::Ident(word) if (word == "crate" || word == "super") && sep(i + 1) => {
                // Where the path starts: the root for `crate`, else up from here.
                let mut j = i;
                let at_root = if word == "crate" {
                    j += 2;
                    true
                } else {
                    let mut ups = 0;
                    while ident(j) == Some("super") && sep(j + 1) {
                        ups += 1;
                        j += 2;
                    }
                    path.len() + inline.len() <= ups
                };
                if at_root {
                    let heads = match tokens.get(j) {
                        Some((Token::Ident(name), _)) => vec![name.clone()],
                        Some((Token::Punct('{'), _)) => group_heads(&tokens, j),
                        _ => Vec::new(),
                    };
                    for head in heads {
                        found.entry(head).or_insert(line);
                    }
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("can't read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The graph of references between the top-level modules of the crate whose sources are in
/// `src` (the crate root, `lib.rs`, which declares them all, is not one of them).
fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_path(f.strip_prefix(src).ok()?).first().cloned())
        .collect();
    let mut graph = Graph::new();
    for file in &files {
        let relative = file.strip_prefix(src).expect("below src");
        let path = module_path(relative);
        let Some(from) = path.first() else { continue };
        let source = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("can't read {}: {e}", file.display()));
        let edges = graph.entry(from.clone()).or_default();
        for (to, line) in references(&source, &path) {
            let to = if to == "__private" {
                "private".to_string()
            } else {
                to
            };
            if &to != from && modules.contains(&to) {
                edges
                    .entry(to)
                    .or_insert_with(|| format!("{}:{line}", relative.display()));
            }
        }
    }
    graph
}

/// A cycle, as the modules along it (the first repeated at the end), if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|edges| edges.keys()) {
            if let Some(cycle) = visit(next, graph, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

/// The cycle with where each of its references is.
fn describe(cycle: &[String], graph: &Graph) -> String {
    cycle
        .windows(2)
        .map(|pair| format!("{} -> {} ({})", pair[0], pair[1], graph[&pair[0]][&pair[1]]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The references of backends to modules other than persistence and domain.
fn backend_violations(graph: &Graph) -> Vec<String> {
    BACKENDS
        .iter()
        .flat_map(|backend| graph.get(*backend).into_iter().flatten())
        .filter(|(to, _)| !BACKEND_MAY_USE.contains(&to.as_str()))
        .map(|(to, at)| format!("{at} refers to crate::{to}"))
        .collect()
}

fn library_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../eventsourcing/src")
}

#[test]
fn the_top_level_modules_have_no_import_cycle() {
    let graph = graph(&library_src());
    // The graph was read: the application's known references are in it.
    assert!(
        graph["application"].contains_key("persistence"),
        "{graph:?}"
    );
    assert!(graph["system"].contains_key("application"), "{graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "import cycle between top-level modules: {}",
            describe(&cycle, &graph)
        );
    }
}

#[test]
fn backends_use_only_the_persistence_and_domain_layers() {
    let graph = graph(&library_src());
    for backend in BACKENDS {
        assert!(
            graph.contains_key(*backend),
            "no module {backend}: {graph:?}"
        );
    }
    let violations = backend_violations(&graph);
    assert!(
        violations.is_empty(),
        "backends may use only {BACKEND_MAY_USE:?}: {}",
        violations.join("; ")
    );
}

#[test]
fn the_application_reaches_backends_only_through_the_registry() {
    let graph = graph(&library_src());
    let direct: Vec<&String> = graph["application"]
        .keys()
        .filter(|to| BACKENDS.contains(&to.as_str()))
        .collect();
    assert!(
        direct.is_empty(),
        "application refers to {direct:?}: {graph:?}"
    );
    for backend in BACKENDS {
        assert!(graph["registry"].contains_key(*backend), "{graph:?}");
    }
}

// The reader itself, on made-up sources.

/// A source tree in a temporary directory, removed when dropped.
struct Tree(eventsourcing_tests::TempDir);

impl Tree {
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = eventsourcing_tests::TempDir::new("layers");
        for (path, source) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, source).unwrap();
        }
        Tree(dir)
    }

    fn graph(&self) -> Graph {
        graph(self.0.path())
    }
}

#[test]
fn a_cycle_is_found_and_named_with_its_references() {
    let tree = Tree::new(&[
        ("lib.rs", "pub mod a; pub mod b; pub mod c;"),
        ("a.rs", "use crate::b::B;\npub struct A;"),
        ("b/mod.rs", "mod inner;"),
        ("b/inner.rs", "\n\nuse super::super::c::C;"),
        ("c.rs", "pub fn f() -> crate::a::A { crate::a::A }"),
    ]);
    let graph = tree.graph();
    let cycle = find_cycle(&graph).expect("a -> b -> c -> a");
    assert_eq!(cycle, ["a", "b", "c", "a"]);
    assert_eq!(
        describe(&cycle, &graph),
        "a -> b (a.rs:1), b -> c (b/inner.rs:3), c -> a (c.rs:1)"
    );
}

#[test]
fn comments_strings_and_paths_inside_a_module_are_not_references() {
    let tree = Tree::new(&[
        ("lib.rs", ""),
        (
            "memory.rs",
            "//! See [`crate::application::Application`].\n\
             /* crate::application */\n\
             const S: &str = \"crate::application\";\n\
             const R: &str = r#\"crate::application \" \"#;\n\
             const C: char = '\"';\n\
             fn f<'a>(x: &'a str) -> &'a str { x }\n\
             use super::persistence::X;\n\
             pub(crate) mod tests { use super::*; use super::super::domain::D; }",
        ),
        ("sqlite/recorder.rs", "use super::datastore::D;"),
        ("application.rs", ""),
        ("persistence.rs", ""),
        ("domain.rs", ""),
    ]);
    let graph = tree.graph();
    let memory: Vec<&String> = graph["memory"].keys().collect();
    assert_eq!(memory, ["domain", "persistence"]);
    assert!(graph["sqlite"].is_empty(), "{graph:?}");
    assert!(backend_violations(&graph).is_empty());
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn a_backend_reaching_the_application_is_a_violation() {
    for (file, source) in [
        ("postgres/mod.rs", "use crate::application::Environment;"),
        (
            "postgres/mod.rs",
            "use crate::{persistence::X, application::Y};",
        ),
        ("postgres/factory.rs", "use super::super::application::Y;"),
        ("postgres.rs", "fn f() { $crate::application::g() }"),
    ] {
        let tree = Tree::new(&[
            (file, source),
            ("application.rs", ""),
            ("persistence.rs", ""),
        ]);
        let violations = backend_violations(&tree.graph());
        assert_eq!(
            violations.len(),
            1,
            "{file}: {source}: {violations:?} in {:?}",
            tree.graph()
        );
        assert!(
            violations[0].contains("crate::application"),
            "{violations:?}"
        );
    }
}
