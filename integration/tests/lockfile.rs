//! Supply-chain guard (B4 row 29): the lockfile must not resolve a vulnerable hickory.
//! hickory-proto / hickory-server below 0.26.1 are affected by the advisory fixed in 0.26.1
//! (advisory-db PR #2835). `cargo deny` (.ci/deny.toml) bans them too; this test needs no
//! network and runs with `cargo test`.

use std::path::Path;

/// Minimum safe version of the hickory crates.
const MIN_HICKORY: (u64, u64, u64) = (0, 26, 1);

/// `(name, version)` of every `[[package]]` in a Cargo.lock.
fn packages(lock: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut name: Option<String> = None;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            name = None;
        } else if let Some(v) = line.strip_prefix("name = ") {
            name = Some(v.trim_matches('"').to_string());
        } else if let Some(v) = line.strip_prefix("version = ")
            && let Some(n) = name.take()
        {
            out.push((n, v.trim_matches('"').to_string()));
        }
    }
    out
}

/// Parses `major.minor.patch[-pre][+build]`; pre-releases count as below the release.
fn version(v: &str) -> Option<((u64, u64, u64), bool)> {
    let core = v.split('+').next()?;
    let (core, pre) = match core.split_once('-') {
        Some((c, _)) => (c, true),
        None => (core, false),
    };
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    Some(((it.next()??, it.next()??, it.next()??), pre))
}

fn is_safe(v: &str) -> bool {
    match version(v) {
        Some((triple, pre)) => triple > MIN_HICKORY || (triple == MIN_HICKORY && !pre),
        None => false,
    }
}

#[test]
fn version_parsing_and_threshold() {
    assert!(is_safe("0.26.1"));
    assert!(is_safe("0.26.3"));
    assert!(is_safe("0.27.0-alpha.1"));
    assert!(is_safe("1.0.0"));
    assert!(!is_safe("0.26.0"));
    assert!(!is_safe("0.26.1-alpha.2"));
    assert!(!is_safe("0.25.2"));
    assert!(!is_safe("0.24.4"));
    assert!(!is_safe("garbage"));
    let lock = "[[package]]\nname = \"hickory-proto\"\nversion = \"0.25.2\"\n\n\
                [[package]]\nname = \"x\"\nversion = \"1.0.0\"\n";
    assert_eq!(
        packages(lock),
        vec![
            ("hickory-proto".to_string(), "0.25.2".to_string()),
            ("x".to_string(), "1.0.0".to_string())
        ]
    );
}

#[test]
fn lockfile_has_no_vulnerable_hickory() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    let lock = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let all = packages(&lock);
    let hickory: Vec<&(String, String)> = all
        .iter()
        .filter(|(n, _)| n == "hickory-proto" || n == "hickory-server")
        .collect();
    assert!(
        hickory.iter().any(|(n, _)| n == "hickory-proto"),
        "Cargo.lock has no hickory-proto at all: is this the right lockfile?"
    );
    let bad: Vec<String> = hickory
        .iter()
        .filter(|(_, v)| !is_safe(v))
        .map(|(n, v)| format!("{n} {v}"))
        .collect();
    assert!(
        bad.is_empty(),
        "vulnerable hickory versions in Cargo.lock (need >= 0.26.1): {bad:?}"
    );
}
