//! The real `kubedns` binary's command-line contract: bad flags exit 2 with one clear line on
//! stderr; `--version` and `--help` exit 0.

use std::process::{Command, Output};

fn kubedns(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubedns"))
        .args(args)
        .env_remove("PROMETHEUS_PORT")
        .output()
        .expect("run kubedns")
}

#[test]
fn unknown_flag_exits_2_with_one_line() {
    let out = kubedns(&["--dns-port=10053", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("unknown flag: --no-such-flag"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn malformed_values_exit_2() {
    for args in [
        &["--dns-port=abc"][..],
        &["--config-period=10"],
        &["--dns-port"],
        &["--config-dir=/a", "--config-map=kube-dns"],
        &["--kube-master-url=10.0.0.1:8080"],
        &["--federations=a.b.c=d.e.f"],
    ] {
        let out = kubedns(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("kubedns: "), "{err}");
    }
}

#[test]
fn bad_prometheus_port_env_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_kubedns"))
        .env("PROMETHEUS_PORT", "ten")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PROMETHEUS_PORT"));
}

#[test]
fn version_forms() {
    let out = kubedns(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");

    let out = kubedns(&["--version=raw"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("version.Info{"));

    // Accepted together with the legacy manifest flags, which are not acted upon.
    let out = kubedns(&[
        "--domain=cluster.local.",
        "--dns-port=10053",
        "--config-dir=/kube-dns-config",
        "--v=2",
        "--version",
    ]);
    assert!(out.status.success());
}

#[test]
fn help_exits_0() {
    let out = kubedns(&["--help"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for flag in [
        "--domain",
        "--dns-port",
        "--config-map",
        "--initial-sync-timeout",
        "--lame-duck",
        "--vmodule",
    ] {
        assert!(err.contains(flag), "usage lacks {flag}");
    }
}
