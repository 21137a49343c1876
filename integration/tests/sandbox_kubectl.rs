//! The sandbox as a user meets it: started in each mode (API emulator, real control plane),
//! its printed kubectl hints are run as typed — create a Service, resolve it through
//! dnsmasq-rs, delete it, see it gone — with the kubectl built from source.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use integration::controlplane::Release;
use integration::controlplane::bins::{control_plane_needs, kubectl_need};
use integration::harness::Stack;
use integration::harness::bins::binary_needs;
use integration::harness::dns::{DnsClient, Transport, answer_ips, rcode};
use serverkit::process::ChildGuard;

/// How long the sandbox may take to print its summary.
const SANDBOX_READY: Duration = Duration::from_secs(120);
/// How long a created or deleted Service may take to show in DNS.
const CHANGE: Duration = Duration::from_secs(30);

/// How long the sandbox may take to stop its children after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The sandbox child: SIGTERM on drop (it stops its own children), then killed and reaped
/// by [`ChildGuard`] if it has not exited within [`STOP_GRACE`].
struct Sandbox(ChildGuard);

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.0.signal("TERM") {
            let _ = self.0.wait_timeout(STOP_GRACE);
        }
    }
}

/// Starts the sandbox and returns it with the lines it printed up to "Press Ctrl-C".
fn start(extra: &[&str]) -> anyhow::Result<(Sandbox, Vec<String>)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["--ephemeral-ports", "--no-build"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let sandbox = Sandbox(ChildGuard(child));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line.starts_with("Press Ctrl-C");
            lines.push(line);
            if done {
                break;
            }
        }
        let _ = tx.send(lines);
    });
    let lines = rx.recv_timeout(SANDBOX_READY)?;
    anyhow::ensure!(
        lines.iter().any(|l| l.starts_with("Press Ctrl-C")),
        "the sandbox did not come up:\n{}",
        lines.join("\n")
    );
    Ok((sandbox, lines))
}

/// The hint line containing `needle`, as a shell command.
fn hint<'a>(lines: &'a [String], needle: &str) -> anyhow::Result<&'a str> {
    lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.contains(needle))
        .ok_or_else(|| anyhow::anyhow!("no hint with {needle:?} in:\n{}", lines.join("\n")))
}

fn sh(cmd: &str) -> anyhow::Result<String> {
    let out = Command::new("sh").args(["-c", cmd]).output()?;
    anyhow::ensure!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs the printed create/dig/delete hints and checks each step in DNS.
async fn typed_session(lines: &[String]) -> anyhow::Result<()> {
    let dig = hint(lines, "hello.default.svc")?;
    let port: u16 = dig
        .split_whitespace()
        .skip_while(|w| *w != "-p")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no port in {dig:?}"))?;
    let dns = DnsClient::new(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let name = "hello.default.svc.cluster.local.";
    let created = sh(hint(lines, "create service clusterip hello")?)?;
    assert!(created.contains("service/hello created"), "{created}");
    Stack::wait_for_answer(&dns, name, RecordType::A, Transport::Udp, CHANGE, |m| {
        rcode(m) == ResponseCode::NoError && !answer_ips(m).is_empty()
    })
    .await?;
    let listed = sh(hint(lines, "get svc -A")?)?;
    assert!(listed.contains("hello"), "{listed}");
    sh(hint(lines, "delete service hello")?)?;
    // --no-negcache in the manifest arguments: the NXDOMAIN is not cached.
    Stack::wait_for_answer(&dns, name, RecordType::A, Transport::Udp, CHANGE, |m| {
        rcode(m) == ResponseCode::NXDomain
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_hints_work_on_the_emulator_sandbox() -> anyhow::Result<()> {
    let mut needs = binary_needs();
    needs.push(kubectl_need());
    if !serverkit::require::need(&needs) {
        return Ok(());
    }
    let (_sandbox, lines) = tokio::task::block_in_place(|| start(&[]))?;
    typed_session(&lines).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_hints_work_on_the_real_control_plane_sandbox() -> anyhow::Result<()> {
    let mut needs = binary_needs();
    needs.extend(control_plane_needs(Release::Primary));
    if !serverkit::require::need(&needs) {
        return Ok(());
    }
    let (_sandbox, lines) = tokio::task::block_in_place(|| start(&["--real-control-plane"]))?;
    assert!(
        lines.iter().any(|l| l.contains("kube-apiserver https://")),
        "{}",
        lines.join("\n")
    );
    typed_session(&lines).await
}
