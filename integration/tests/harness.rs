//! The harness itself: process spawning with logs and kill-on-drop, the UDP/TCP DNS client
//! and readiness waits (against the system dnsmasq), and the full stack of real workspace
//! binaries against the emulator (skipped with a message until they are built).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use integration::harness::bins::skip_without_binaries;
use integration::harness::dns::{answer_ips, rcode};
use integration::harness::process::{ChildProcess, ProcessSpec};
use integration::harness::{DnsClient, Stack, StackOptions, Transport, objects, ports, wait};
use serverkit::require::Need;

const SYSTEM_DNSMASQ: &str = "/usr/sbin/dnsmasq";

#[tokio::test]
async fn dns_client_and_process_handling_against_system_dnsmasq() -> anyhow::Result<()> {
    serverkit::require!(Need::file(
        SYSTEM_DNSMASQ,
        "Debian's dnsmasq (apt-get install dnsmasq-base)"
    ));
    let dir = tempfile::tempdir()?;
    let port = ports::free_dns_port()?;
    let spec = ProcessSpec::new("system-dnsmasq", SYSTEM_DNSMASQ).args([
        "--keep-in-foreground".to_string(),
        format!("--port={port}"),
        "--listen-address=127.0.0.1".into(),
        "--bind-interfaces".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--user=root".into(),
        "--log-facility=-".into(),
        "--address=/test.local/10.1.2.3".into(),
    ]);
    let mut child = ChildProcess::spawn(spec, dir.path())?;
    let server = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    if let Err(e) = wait::dns_responds(
        server,
        "a.test.local.",
        RecordType::A,
        Duration::from_secs(10),
    )
    .await
    {
        anyhow::bail!("{e}\n{}", child.describe());
    }
    let client = DnsClient::new(server);
    for transport in [Transport::Udp, Transport::Tcp] {
        let m = client
            .query("a.test.local.", RecordType::A, transport)
            .await?;
        assert_eq!(rcode(&m), ResponseCode::NoError, "{transport:?}");
        assert_eq!(
            answer_ips(&m),
            vec![IpAddr::from([10, 1, 2, 3])],
            "{transport:?}"
        );
    }
    assert!(
        client
            .query("not a name..", RecordType::A, Transport::Udp)
            .await
            .is_err()
    );
    let pid = child.pid().ok_or_else(|| anyhow::anyhow!("no pid"))?;
    assert!(
        child.log().contains("started"),
        "dnsmasq log: {}",
        child.log()
    );
    drop(child);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "dnsmasq {pid} survived the drop"
    );
    let silent = DnsClient {
        timeout: Duration::from_millis(300),
        ..DnsClient::new(server)
    };
    assert!(
        silent.udp("a.test.local.", RecordType::A).await.is_err(),
        "server still answering after drop"
    );
    Ok(())
}

#[tokio::test]
async fn full_stack_answers_and_follows_the_api() -> anyhow::Result<()> {
    if skip_without_binaries() {
        return Ok(());
    }
    let mut stack = Stack::start(StackOptions::full()).await?;
    let name = "kubernetes.default.svc.cluster.local.";
    for transport in [Transport::Udp, Transport::Tcp] {
        let m = stack
            .kubedns()
            .query(name, RecordType::A, transport)
            .await?;
        assert_eq!(
            answer_ips(&m),
            vec![IpAddr::from([10, 0, 0, 1])],
            "kubedns over {transport:?}\n{}",
            stack.describe()
        );
    }
    let m = stack.dnsmasq().udp(name, RecordType::A).await?;
    assert_eq!(
        answer_ips(&m),
        vec![IpAddr::from([10, 0, 0, 1])],
        "via dnsmasq-rs\n{}",
        stack.describe()
    );

    stack.emulator().create(objects::namespace("e2e"))?;
    stack.emulator().create(objects::service(
        "e2e",
        "web",
        "10.0.0.77",
        &[("http", 80, "TCP")],
    ))?;
    let web = "web.e2e.svc.cluster.local.";
    let timeout = Duration::from_secs(10);
    Stack::wait_for_answer(
        &stack.kubedns(),
        web,
        RecordType::A,
        Transport::Udp,
        timeout,
        |m| answer_ips(m) == vec![IpAddr::from([10, 0, 0, 77])],
    )
    .await?;
    stack.emulator().delete("v1", "Service", "e2e", "web")?;
    Stack::wait_for_answer(
        &stack.kubedns(),
        web,
        RecordType::A,
        Transport::Udp,
        timeout,
        |m| rcode(m) == ResponseCode::NXDomain,
    )
    .await?;

    let healthz = stack
        .healthz_addr()
        .ok_or_else(|| anyhow::anyhow!("no healthz"))?;
    wait::http_ok(healthz, "/healthcheck/kubedns", Duration::from_secs(15)).await?;
    wait::http_ok(
        stack.kubedns_healthz_addr(),
        "/readiness",
        Duration::from_secs(5),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn kubedns_reaches_an_https_emulator_through_a_kubeconfig() -> anyhow::Result<()> {
    if skip_without_binaries() {
        return Ok(());
    }
    serverkit::require!(Need::Tool("openssl"));
    let material = kube_emulator::tls::generate_self_signed()?;
    let mut opts = StackOptions::kubedns_only();
    opts.emulator.tls = Some(material);
    opts.emulator.token = Some("kube-dns-token".into());
    let mut stack = Stack::start(opts).await?;
    let m = stack
        .kubedns()
        .tcp("kubernetes.default.svc.cluster.local.", RecordType::A)
        .await?;
    assert_eq!(
        answer_ips(&m),
        vec![IpAddr::from([10, 0, 0, 1])],
        "{}",
        stack.describe()
    );
    Ok(())
}
