//! The skip-or-fail rule end to end: this test binary runs its own `probe` test as a child
//! process, with a requirement that is never met, once outside CI (it must pass after one
//! `SKIP` line, logged to the skip log) and once under CI (it must fail naming the
//! requirement).

use std::process::Command;

use serverkit::require::{CI_ENV, Need, SKIP_LOG_ENV};

/// Set only in the child process, where `probe` does its work.
const PROBE_ENV: &str = "SERVERKIT_REQUIRE_PROBE";
const PROBE_NEED: &str = "the probe's unmet requirement";

#[test]
fn probe() {
    if std::env::var_os(PROBE_ENV).is_none() {
        return; // only meaningful as the child of `skips_outside_ci_and_fails_under_ci`
    }
    serverkit::require!(Need::custom(PROBE_NEED, false));
    panic!("the probe ran although its requirement is missing");
}

fn run_probe(ci: &str, log: &std::path::Path) -> std::process::Output {
    Command::new(std::env::current_exe().expect("test binary path"))
        .args(["--exact", "probe", "--test-threads=1"])
        .env(PROBE_ENV, "1")
        .env(CI_ENV, ci)
        .env(SKIP_LOG_ENV, log)
        .output()
        .expect("run the probe")
}

#[test]
fn skips_outside_ci_and_fails_under_ci() {
    let log = std::env::temp_dir().join(format!("serverkit-skip-log-{}", std::process::id()));
    let _ = std::fs::remove_file(&log);

    let out = run_probe("false", &log);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "outside CI the probe skips: {stderr}");
    let line = format!("SKIP probe: missing {PROBE_NEED}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("SKIP "))
            .collect::<Vec<_>>(),
        vec![line.as_str()],
        "{stderr}"
    );
    let logged = std::fs::read_to_string(&log).expect("skip log written");
    assert_eq!(logged, format!("{line}\n"));

    let out = run_probe("true", &log);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "under CI the probe fails: {all}");
    assert!(
        all.contains(&format!("probe: missing {PROBE_NEED}")),
        "{all}"
    );
    let logged = std::fs::read_to_string(&log).expect("skip log");
    assert_eq!(
        logged.lines().count(),
        1,
        "a failure is not a skip: {logged}"
    );
    let _ = std::fs::remove_file(&log);
}
