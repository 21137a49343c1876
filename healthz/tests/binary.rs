//! The `healthz` binary: usage errors exit 2 with one line, `--version` exits 0, and
//! SIGTERM makes a running server exit 0 (both dialects).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_healthz");

use serverkit::process::ChildGuard as Guard;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    for args in [
        &["--bogus-flag"][..],
        &["--probe=dn$m@s#,[::1]:53,kubernetes.default.svc.cluster.local,5,SRV"],
        &["--probe=dnsmasq,[::1]:53"],
        &["-cmd=true", "-cmd=false"],
        &["-cmd=true", "--probe=a,127.0.0.1:53,x"],
        &["-period=2"],
    ] {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(stderr.starts_with("healthz: "), "{stderr:?}");
    }
    let (_, _, stderr) = run(&["--probe=dnsmasq,[::1]:53,x,0.5,SRV"]);
    assert!(stderr.contains("invalid syntax"), "{stderr}");
}

#[test]
fn version_exits_0() {
    for args in [&["--version"][..], &["-version"], &["-version", "-port=1"]] {
        let (code, stdout, _) = run(args);
        assert_eq!(code, 0);
        assert_eq!(stdout.trim(), env!("CARGO_PKG_VERSION"));
    }
}

fn sigterm_exits_0(args: &[&str]) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut guard = Guard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("serving HTTP") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("server did not start");
    assert!(guard.signal("TERM"));
    let status = guard
        .wait_timeout(Duration::from_secs(20))
        .expect("no exit after SIGTERM");
    assert_eq!(status.code(), Some(0), "{args:?}");
}

#[test]
fn sigterm_graceful_exit_sidecar() {
    sigterm_exits_0(&[
        "--prometheus-addr=127.0.0.1",
        "--prometheus-port=0",
        "--probe=kubedns,127.0.0.1:9,kubernetes.default.svc.cluster.local,1,SRV",
        "--dnsmasq-port=9",
    ]);
}

#[test]
fn sigterm_graceful_exit_exechealthz() {
    sigterm_exits_0(&[
        "-port=0",
        "-cmd=nslookup a.b 127.0.0.1:9 >/dev/null",
        "-period=100ms",
    ]);
}
