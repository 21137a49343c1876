//! The `kube-apiserver-emulator` binary as a process: it loads YAML given with `--manifests`,
//! serves it, prints its ready line, and exits 0 on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serverkit::process::ChildGuard;

/// How long the binary gets to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long it gets to exit after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// One HTTP/1.0 GET; the body when the status is 200.
fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = String::new();
    conn.read_to_string(&mut raw)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no header end in {raw:?}"))?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    Ok(body.to_string())
}

#[test]
fn emulator_binary_serves_manifests_and_stops_on_sigterm() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let yaml = dir.path().join("demo.yaml");
    std::fs::write(
        &yaml,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: demo\nspec:\n  clusterIP: 10.0.0.42\n  ports:\n  - port: 80\n",
    )?;
    let child = Command::new(env!("CARGO_BIN_EXE_kube-apiserver-emulator"))
        .arg("--bind=127.0.0.1:0")
        .arg(format!("--manifests={}", yaml.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut child = ChildGuard(child);
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on http://") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(READY_TIMEOUT)
        .map_err(|_| anyhow::anyhow!("no `listening on` line within {READY_TIMEOUT:?}"))?;
    let addr: SocketAddr = url.parse()?;
    let body = http_get(addr, "/api/v1/namespaces/demo/services/web")?;
    let svc: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(svc["spec"]["clusterIP"], "10.0.0.42");
    assert!(child.signal("TERM"), "SIGTERM not delivered");
    let status = child.wait_timeout(EXIT_TIMEOUT);
    assert!(
        status.is_some_and(|s| s.success()),
        "emulator did not exit cleanly on SIGTERM: {status:?}"
    );
    Ok(())
}
