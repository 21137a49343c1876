//! The workspace's layout rules, checked on the sources as text: no import cycle between the
//! modules of a crate (parent and child included: a `use super::X` in a child whose parent
//! uses the child back is a cycle; re-exports are a facade and do not count), no module over
//! [`MAX_MODULE_LINES`], no test file over [`MAX_TEST_FILE_LINES`], every `main.rs` at most
//! [`MAX_MAIN_LINES`]. Issue 14 set these; this test keeps them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest source module, in lines.
const MAX_MODULE_LINES: usize = 600;
/// Longest integration-test file, in lines.
const MAX_TEST_FILE_LINES: usize = 600;
/// Longest `main.rs`: parse, tracing, bind, run.
const MAX_MAIN_LINES: usize = 100;
/// The crates' source roots, from the workspace root.
const SOURCE_ROOTS: &[&str] = &[
    "serverkit/src",
    "kubedns/src",
    "dnsmasq-rs/src",
    "healthz/src",
    "integration/src",
    "integration/emulator/src",
    "integration/bench/src",
    "fuzz/src",
];
/// Test directories, from the workspace root.
const TEST_ROOTS: &[&str] = &[
    "serverkit/tests",
    "kubedns/tests",
    "dnsmasq-rs/tests",
    "healthz/tests",
    "integration/tests",
    "integration/emulator/tests",
    "integration/bench/tests",
];

type ModPath = Vec<String>;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under `src` (`a/mod.rs` and `a.rs` are `a`; `lib.rs`/`main.rs`
/// the root); binaries under `bin/` are crates of their own and left out.
fn module_of(src: &Path, file: &Path) -> Option<ModPath> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let mut segs: ModPath = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if segs.first().is_some_and(|s| s == "bin") {
        return None;
    }
    if segs
        .last()
        .is_some_and(|s| ["mod", "lib", "main"].contains(&s.as_str()))
    {
        segs.pop();
    }
    Some(segs)
}

/// The code a module depends on: before its `#[cfg(test)]`, without comments and without
/// re-exports (`pub use …;`, `pub(crate) use …;`).
fn dependency_text(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = String::new();
    let mut in_reexport = false;
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or_default();
        let t = line.trim_start();
        if !in_reexport && t.starts_with("pub") && t.contains(" use ") {
            in_reexport = true;
        }
        if in_reexport {
            in_reexport = !line.contains(';');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Sep,
    Open,
    Close,
    Comma,
    Other,
}

fn tokens(text: &str) -> Vec<Tok> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(text[start..i].to_string()));
            continue;
        }
        match c {
            b':' if b.get(i + 1) == Some(&b':') => {
                out.push(Tok::Sep);
                i += 2;
                continue;
            }
            b'{' => out.push(Tok::Open),
            b'}' => out.push(Tok::Close),
            b',' => out.push(Tok::Comma),
            b' ' | b'\n' | b'\t' | b'\r' => {}
            _ => out.push(Tok::Other),
        }
        i += 1;
    }
    out
}

/// Parses a path at `toks[*i]` (idents joined by `::`, possibly ending in a `{…}` group) into
/// every full path it names, each prefixed by `prefix`.
fn parse_path(toks: &[Tok], i: &mut usize, prefix: &[String], out: &mut Vec<ModPath>) {
    let mut path = prefix.to_vec();
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(s)) => {
                path.push(s.clone());
                *i += 1;
            }
            Some(Tok::Open) => {
                *i += 1;
                while !matches!(toks.get(*i), None | Some(Tok::Close)) {
                    if matches!(toks.get(*i), Some(Tok::Comma)) {
                        *i += 1;
                    } else if matches!(toks.get(*i), Some(Tok::Ident(_)) | Some(Tok::Open)) {
                        parse_path(toks, i, &path, out);
                    } else {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            _ => break,
        }
        if toks.get(*i) == Some(&Tok::Sep) {
            *i += 1;
        } else {
            break;
        }
    }
    out.push(path);
}

/// The modules of `modules` that `me`'s code refers to (other than itself).
fn references(me: &ModPath, text: &str, modules: &BTreeSet<ModPath>) -> BTreeSet<ModPath> {
    let toks = tokens(&dependency_text(text));
    let children: BTreeSet<&str> = modules
        .iter()
        .filter(|m| m.len() == me.len() + 1 && m.starts_with(me))
        .map(|m| m[me.len()].as_str())
        .collect();
    let mut paths = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let starts_path = i == 0 || toks[i - 1] != Tok::Sep;
        let followed = toks.get(i + 1) == Some(&Tok::Sep);
        match &toks[i] {
            Tok::Ident(s)
                if starts_path
                    && followed
                    && (["crate", "super", "self"].contains(&s.as_str())
                        || children.contains(s.as_str())) =>
            {
                parse_path(&toks, &mut i, &[], &mut paths);
            }
            _ => i += 1,
        }
    }
    let mut found = BTreeSet::new();
    for p in paths {
        let mut base: ModPath = match p.first().map(String::as_str) {
            Some("crate") => Vec::new(),
            _ => me.clone(),
        };
        let mut rest = p.as_slice();
        if rest.first().is_some_and(|s| s == "crate") {
            rest = &rest[1..];
        }
        while let Some(s) = rest.first() {
            match s.as_str() {
                "super" => {
                    base.pop();
                }
                "self" => {}
                _ => break,
            }
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        let target = (0..=base.len())
            .rev()
            .map(|k| base[..k].to_vec())
            .find(|m| modules.contains(m));
        if let Some(t) = target.filter(|t| t != me) {
            found.insert(t);
        }
    }
    found
}

fn name(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// A cycle through `start` in `graph`, if any (depth-first search back to `start`).
fn cycle_through(
    graph: &BTreeMap<ModPath, BTreeSet<ModPath>>,
    start: &ModPath,
) -> Option<Vec<ModPath>> {
    let mut stack = vec![(start.clone(), vec![start.clone()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                return Some(path);
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

/// Import cycles of the crate at `src`, each as `a -> b -> … -> a`.
fn import_cycles(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let sources: BTreeMap<ModPath, String> = files
        .iter()
        .filter_map(|f| Some((module_of(src, f)?, std::fs::read_to_string(f).ok()?)))
        .collect();
    let modules: BTreeSet<ModPath> = sources.keys().cloned().collect();
    let graph: BTreeMap<ModPath, BTreeSet<ModPath>> = sources
        .iter()
        .map(|(m, text)| (m.clone(), references(m, text, &modules)))
        .collect();
    let mut reported = BTreeSet::new();
    let mut out = Vec::new();
    for m in &modules {
        if reported.contains(m) {
            continue;
        }
        if let Some(cycle) = cycle_through(&graph, m) {
            reported.extend(cycle.iter().cloned());
            let mut names: Vec<String> = cycle.iter().map(name).collect();
            names.push(name(m));
            out.push(format!("{}: {}", src.display(), names.join(" -> ")));
        }
    }
    out
}

#[test]
fn the_cycle_finder_sees_parent_child_and_sibling_cycles_but_not_reexports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).expect("mkdir");
    let write = |p: &str, t: &str| std::fs::write(src.join(p), t).expect("write");
    write("lib.rs", "mod a;\nmod b;\nmod c;\npub use a::X;\n");
    write("a/mod.rs", "mod inner;\nuse inner::Y;\npub struct X;\n");
    write("a/inner.rs", "use super::X;\npub struct Y;\n");
    write("b.rs", "use crate::c::{Z, self as cc};\npub struct W;\n");
    write("c.rs", "pub struct Z;\nfn f() { let _ = crate::b::W; }\n");
    let cycles = import_cycles(src);
    assert_eq!(cycles.len(), 2, "{cycles:?}");
    assert!(
        cycles.iter().any(|c| c.contains("a -> a::inner -> a")),
        "{cycles:?}"
    );
    assert!(
        cycles.iter().any(|c| c.contains("b -> c -> b")),
        "{cycles:?}"
    );
    // Tests and comments are not dependencies.
    write(
        "a/inner.rs",
        "// use super::X;\npub struct Y;\n#[cfg(test)]\nmod t { use super::super::X; }\n",
    );
    write("c.rs", "pub struct Z;\n");
    assert_eq!(import_cycles(src), Vec::<String>::new());
}

#[test]
fn no_import_cycles_in_any_crate() {
    let root = workspace();
    for r in SOURCE_ROOTS {
        let mut files = Vec::new();
        rust_files(&root.join(r), &mut files);
        assert!(
            !files.is_empty(),
            "no Rust sources under {r}: the check would pass vacuously"
        );
    }
    let cycles: Vec<String> = SOURCE_ROOTS
        .iter()
        .flat_map(|r| import_cycles(&root.join(r)))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn modules_test_files_and_mains_stay_small() {
    let root = workspace();
    let mut too_long = Vec::new();
    let mut check = |roots: &[&str], max: usize| -> usize {
        let mut checked = 0;
        for r in roots {
            let mut files = Vec::new();
            rust_files(&root.join(r), &mut files);
            for f in files {
                let lines = std::fs::read_to_string(&f).map_or(0, |t| t.lines().count());
                let limit = if f.ends_with("main.rs") {
                    MAX_MAIN_LINES
                } else {
                    max
                };
                if lines > limit {
                    too_long.push(format!("{} ({lines} > {limit})", f.display()));
                }
                checked += 1;
            }
        }
        checked
    };
    let sources = check(SOURCE_ROOTS, MAX_MODULE_LINES);
    let tests = check(TEST_ROOTS, MAX_TEST_FILE_LINES);
    assert!(
        sources > 100 && tests > 50,
        "only {sources} source and {tests} test files found"
    );
    assert!(
        too_long.is_empty(),
        "files over their limit:\n{}",
        too_long.join("\n")
    );
}
