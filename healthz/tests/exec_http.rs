//! exechealthz dialect: native `nslookup` probes against an in-process DNS server,
//! shell commands, and the HTTP status codes/bodies on 127.0.0.1:0.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{FakeDns, Handler, eventually, http_get, response_to};
use healthz::dns::{SharedExchanger, UdpExchanger};
use healthz::exec::command::{ProbeCommand, parse_command, run_command};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};

const NAME: &str = "kubernetes.default.svc.cluster.local";

/// Answers A for NAME, NOERROR/no data for `empty.test`, NXDOMAIN otherwise.
fn handler() -> Handler {
    Arc::new(|req| {
        let q = req.queries.first()?;
        let mut reply = response_to(req);
        let name = q.name().to_ascii();
        if name == format!("{NAME}.") && q.query_type() == RecordType::A {
            reply.add_answer(Record::from_rdata(
                q.name().clone(),
                30,
                RData::A(A::new(10, 0, 0, 1)),
            ));
        } else if name != "empty.test." {
            reply.metadata.response_code = ResponseCode::NXDomain;
        }
        Some(reply)
    })
}

#[tokio::test]
async fn native_nslookup_probe() {
    let dns = FakeDns::start(handler()).await;
    let port = dns.addr.port();
    let exch: SharedExchanger = Arc::new(UdpExchanger::default());
    let t = Duration::from_secs(5);

    let ok = parse_command(&format!("nslookup {NAME} 127.0.0.1:{port} >/dev/null"));
    assert!(matches!(ok, ProbeCommand::Native(_)));
    let o = run_command(&ok, &exch, t).await;
    assert_eq!((o.err, o.output.as_str()), (None, ""));

    let both = parse_command(&format!(
        "nslookup {NAME} 127.0.0.1:{port} >/dev/null && nslookup {NAME} [127.0.0.1]:{port} >/dev/null"
    ));
    assert_eq!(run_command(&both, &exch, t).await.err, None);

    let nx = parse_command(&format!(
        "nslookup {NAME} 127.0.0.1:{port} >/dev/null && nslookup missing.test 127.0.0.1:{port} >/dev/null"
    ));
    let o = run_command(&nx, &exch, t).await;
    assert_eq!(o.err.as_deref(), Some("exit status 1"));
    assert!(
        o.output.contains("nslookup: can't resolve 'missing.test'"),
        "{}",
        o.output
    );
    assert!(o.output.contains("NXDOMAIN"), "{}", o.output);

    let empty = parse_command(&format!("nslookup empty.test 127.0.0.1:{port} >/dev/null"));
    let o = run_command(&empty, &exch, t).await;
    assert_eq!(o.err.as_deref(), Some("exit status 1"));

    // Nothing listening: fails (connection refused or timeout), never hangs.
    drop(dns);
    let o = run_command(&ok, &exch, t).await;
    assert_eq!(o.err.as_deref(), Some("exit status 1"));
    assert!(o.output.contains("can't resolve"), "{}", o.output);
}

#[tokio::test]
async fn shell_commands() {
    serverkit::require!(serverkit::require::Need::file("/bin/sh", "a POSIX shell"));
    let exch: SharedExchanger = Arc::new(UdpExchanger::default());
    let t = Duration::from_secs(5);
    let o = run_command(&parse_command("echo out; echo err >&2"), &exch, t).await;
    assert_eq!(o.err, None);
    assert_eq!(o.output, "out\nerr\n");
    let o = run_command(&parse_command("echo boom; exit 3"), &exch, t).await;
    assert_eq!(o.err.as_deref(), Some("exit status 3"));
    assert_eq!(o.output, "boom\n");
    let o = run_command(
        &parse_command("sleep 30"),
        &exch,
        Duration::from_millis(200),
    )
    .await;
    assert!(o.err.unwrap().starts_with("signal: killed"));
}

#[tokio::test]
async fn http_codes_and_bodies() {
    let dns = FakeDns::start(handler()).await;
    let port = dns.addr.port();
    let good = format!("--cmd=nslookup {NAME} 127.0.0.1:{port} >/dev/null");
    let bad = format!("--cmd=nslookup missing.test 127.0.0.1:{port} >/dev/null");
    let cfg = common::config(&[
        &good,
        "--url=/healthz-dnsmasq",
        &bad,
        "--url=/healthz-kubedns",
        "--period=50ms",
        "--quiet",
    ]);
    let srv = common::start(cfg).await;

    let r = eventually(Duration::from_secs(10), "failing probe", || async {
        let r = http_get(srv.addr, "/healthz-kubedns").await;
        (r.status == 503).then_some(r)
    })
    .await;
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(
        r.body
            .starts_with("Healthz probe on /healthz-kubedns error: Result of last exec: "),
        "{}",
        r.body
    );
    assert!(
        r.body.ends_with(" +0000 UTC, error exit status 1\n"),
        "{}",
        r.body
    );
    assert!(r.body.contains("nslookup: can't resolve 'missing.test'"));

    let r = http_get(srv.addr, "/healthz-dnsmasq").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));

    let r = http_get(srv.addr, "/").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("/healthz-kubedns") && r.body.contains("/quit"));
    assert_eq!(http_get(srv.addr, "/healthz").await.status, 404);
}

#[tokio::test]
async fn initial_success_then_too_old_then_quit() {
    // One-hour period: the command never runs during the test; the initial state is a
    // success stamped at start, valid until -latency passes.
    let cfg = common::config(&["-cmd=false", "-period=1h", "-latency=300ms"]);
    let mut srv = common::start(cfg).await;
    let r = http_get(srv.addr, "/healthz").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    let r = eventually(Duration::from_secs(10), "stale result", || async {
        let r = http_get(srv.addr, "/healthz").await;
        (r.status == 503).then_some(r)
    })
    .await;
    assert!(
        r.body
            .starts_with("Latest result too old to be useful: Result of last exec: , at "),
        "{}",
        r.body
    );
    assert!(r.body.ends_with(" +0000 UTC, error None.\n"), "{}", r.body);

    // /quit shuts the server down cleanly.
    let r = http_get(srv.addr, "/quit").await;
    assert_eq!(r.status, 200);
    let res = tokio::time::timeout(Duration::from_secs(10), &mut srv.task).await;
    assert!(matches!(res, Ok(Ok(Ok(())))), "{res:?}");
}

#[tokio::test]
async fn legacy_single_cmd_body_and_quit_disabled() {
    serverkit::require!(serverkit::require::Need::file("/bin/sh", "a POSIX shell"));
    let cfg = common::config(&[
        "-cmd=echo nope; exit 1",
        "-period=50ms",
        "-allow-quit=false",
    ]);
    let srv = common::start(cfg).await;
    let r = eventually(Duration::from_secs(10), "failing probe", || async {
        let r = http_get(srv.addr, "/healthz").await;
        (r.status == 503).then_some(r)
    })
    .await;
    assert!(
        r.body
            .starts_with("Healthz probe error: Result of last exec: nope\n, at "),
        "{}",
        r.body
    );
    assert_eq!(http_get(srv.addr, "/quit").await.status, 404);
    assert!(!srv.shutdown.is_cancelled());
}
