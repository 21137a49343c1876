//! The real `dnsmasq-rs` binary: `--version`, exit status 2 on bad options, the nanny-era manifest argv
//! (with a loopback port) serving queries, SIGUSR1 statistics, and SIGTERM: immediate exit 0
//! with `--lame-duck=0`, otherwise answering through the lame-duck period, then draining
//! and exiting 0 in time with the port free again (house style B4 row 27).

use std::io::Read;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use dnsmasq_rs::testutil::*;
use dnsmasq_rs::wire;

const BIN: &str = env!("CARGO_BIN_EXE_dnsmasq-rs");

use serverkit::process::ChildGuard as Proc;

fn free_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let p = s.local_addr().unwrap().port();
    match std::net::TcpListener::bind(("127.0.0.1", p)) {
        Ok(_) => p,
        Err(_) => free_port(),
    }
}

fn ask(port: u16, pkt: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    s.send_to(pkt, ("127.0.0.1", port)).ok()?;
    let mut b = vec![0u8; 4096];
    let n = s.recv(&mut b).ok()?;
    b.truncate(n);
    Some(b)
}

#[test]
fn bad_options_exit_2() {
    for args in [
        vec!["--frobnicate"],
        vec![
            "-v=2",
            "-configDir=/nonexistent",
            "--",
            "-k",
            "--bogus-option",
        ],
        vec!["--server=/x/not-an-ip"],
        vec!["-configDir=/x", "-unknownNannyFlag=1", "--"],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("dnsmasq-rs:"), "{args:?}: {err}");
    }
}

#[test]
fn nanny_manifest_argv_serves_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(BIN)
        .args([
            "-v=2",
            "-logtostderr",
            &format!("-configDir={}", dir.path().display()),
            "-restartDnsmasq=true",
            "--",
            "-k",
            "--cache-size=1000",
            "--no-negcache",
            "--dns-loop-detect",
            "--lame-duck=0",
            "--log-facility=-",
            "--server=/cluster.local/127.0.0.1#10053",
            "--server=/in-addr.arpa/127.0.0.1#10053",
            "--server=/ip6.arpa/127.0.0.1#10053",
            "--no-resolv",
            "--no-hosts",
            "--address=/local.test/10.5.5.5",
            "--listen-address=127.0.0.1",
            &format!("--port={port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut p = Proc(child);
    let (q, _) = query_id("a.local.test", wire::TYPE_A, None, 3);
    let mut answer = None;
    for _ in 0..100 {
        answer = ask(port, &q);
        if answer.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let answer = answer.expect("binary answers");
    assert_eq!(answer_ips(&answer), [std::net::Ipv4Addr::new(10, 5, 5, 5)]);
    let chaos = query_bytes(
        "cachesize.bind",
        wire::TYPE_TXT,
        hickory_proto::rr::DNSClass::CH,
        None,
        4,
    );
    assert_eq!(answer_txt(&ask(port, &chaos).unwrap()), ["1000"]);
    assert!(p.signal("USR1"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(p.signal("TERM"));
    let status = p.wait_timeout(Duration::from_secs(5));
    assert_eq!(status.expect("exited after SIGTERM").code(), Some(0));
    let mut err = String::new();
    p.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(
        err.contains("cache size 1000"),
        "SIGUSR1 stats logged: {err}"
    );
}

fn wait_answers(port: u16, q: &[u8]) -> Vec<u8> {
    for _ in 0..100 {
        if let Some(a) = ask(port, q) {
            return a;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("binary does not answer");
}

fn tcp_ask(port: u16, q: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port))?;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(q);
    c.write_all(&framed)?;
    let mut len = [0u8; 2];
    c.read_exact(&mut len)?;
    let mut b = vec![0u8; usize::from(u16::from_be_bytes(len))];
    c.read_exact(&mut b)?;
    Ok(b)
}

#[test]
fn sigterm_lame_duck_then_drain_and_exit_0() {
    const LAME_DUCK: Duration = Duration::from_secs(3);
    const DRAIN: Duration = Duration::from_secs(1);
    let port = free_port();
    let child = Command::new(BIN)
        .args([
            "--no-resolv",
            "--no-hosts",
            "--address=/local.test/10.5.5.5",
            "--listen-address=127.0.0.1",
            &format!("--port={port}"),
            "--lame-duck=3s", // Go duration syntax
            "--drain-timeout",
            "1", // plain seconds
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut p = Proc(child);
    let (q, _) = query_id("a.local.test", wire::TYPE_A, None, 7);
    let five = [std::net::Ipv4Addr::new(10, 5, 5, 5)];
    assert_eq!(answer_ips(&wait_answers(port, &q)), five);
    // An idle TCP connection must not hold up the exit (its idle timeout is 10 s).
    let _idle = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let t0 = std::time::Instant::now();
    assert!(p.signal("TERM"));
    // Lame duck: UDP and TCP still answered right after SIGTERM and half-way through.
    assert_eq!(
        answer_ips(&ask(port, &q).expect("answered after SIGTERM")),
        five
    );
    assert_eq!(
        answer_ips(&tcp_ask(port, &q).expect("TCP answered after SIGTERM")),
        five
    );
    std::thread::sleep((LAME_DUCK / 2).saturating_sub(t0.elapsed()));
    assert!(
        p.0.try_wait().unwrap().is_none(),
        "still running in the lame-duck period"
    );
    assert_eq!(
        answer_ips(&ask(port, &q).expect("answered in the lame-duck period")),
        five
    );
    let deadline = LAME_DUCK + DRAIN + Duration::from_secs(2);
    let status = p
        .wait_timeout(deadline.saturating_sub(t0.elapsed()))
        .unwrap_or_else(|| panic!("no exit within {deadline:?} of SIGTERM"));
    assert_eq!(status.code(), Some(0));
    std::net::UdpSocket::bind(("127.0.0.1", port)).expect("UDP port free after exit");
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("TCP port free after exit");
    let mut err = String::new();
    p.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.contains("lame-duck"), "{err}");
    assert!(err.contains("drained"), "{err}");
}

#[test]
fn version_prints_one_line_and_exits_0() {
    // Alone, and in the nanny dialect's argv (where `-v=2` is verbosity, not dnsmasq's `-v`).
    for args in [vec!["--version"], vec!["-v=2", "--", "-k", "--version"]] {
        let out = Command::new(BIN).args(&args).output().expect("run");
        assert!(out.status.success(), "{args:?}: {out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout,
            format!(
                "dnsmasq-rs version {} (kube-dns-rs)\n",
                env!("CARGO_PKG_VERSION")
            ),
            "{args:?}"
        );
    }
}
