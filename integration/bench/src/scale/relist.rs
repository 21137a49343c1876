//! The forced full relist: 410 Gone on the next watch of a resource, every watch cut, and
//! the time until a probe written afterwards answers.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use hickory_proto::rr::RecordType;
use integration::harness::dns::{DnsClient, answer_ips};
use integration::harness::objects;
use integration::harness::scale::{self, Shape, SvcSpec};
use kube_emulator::Emulator;
use tokio::time::Instant;

use super::args::Source;
use super::kubedns::Kubedns;
use super::updates::UPDATE_POOL_MAX_ENDPOINTS;

/// Give up on the forced relist after this long.
pub(super) const RELIST_TIMEOUT: Duration = Duration::from_secs(120);
/// Poll period while waiting for the relist probe.
pub(super) const RELIST_POLL: Duration = Duration::from_millis(10);

/// Forced full relist of both watched resources, one after the other: the next watch of the
/// resource is answered 410 Gone and every watch is cut, then a probe is written (a new
/// Service; a new address for a small headless Service's endpoints); it answers once kubedns
/// has relisted that resource. Returns the two relist times.
pub(super) async fn forced_relist(
    emu: &Emulator,
    k: &mut Kubedns,
    round: usize,
    specs: &[SvcSpec],
    source: Source,
    shape: Shape,
) -> anyhow::Result<(Duration, Duration)> {
    let name = format!("relist-probe-{round}");
    let ip = format!("10.95.0.{}", round % 250 + 1);
    emu.force_gone(1, Some("services"));
    emu.close_watches();
    let t0 = Instant::now();
    gone_consumed(emu).await?;
    emu.create(objects::service("ns0", &name, &ip, &[("http", 80, "TCP")]))
        .map_err(|e| anyhow::anyhow!("creating the relist probe: {e}"))?;
    wait_answer(k, &format!("{name}.ns0.svc.cluster.local"), ip.parse()?, t0).await?;
    let services = t0.elapsed();

    let (i, s) = specs
        .iter()
        .enumerate()
        .find(|(_, s)| s.headless && s.endpoints <= UPDATE_POOL_MAX_ENDPOINTS)
        .context("no small headless Service")?;
    let mut ips = scale::service_ips(s);
    let new_ip = format!("10.94.0.{}", round % 250 + 1);
    ips[0] = new_ip.clone();
    let (plural, obj) = match source {
        Source::Endpointslices => (
            "endpointslices",
            scale::slice_object(specs, i, 0, s.first_endpoint, &ips, shape),
        ),
        Source::Endpoints => ("endpoints", scale::endpoints_object(specs, i, &ips, shape)),
    };
    emu.force_gone(1, Some(plural));
    emu.close_watches();
    let t0 = Instant::now();
    gone_consumed(emu).await?;
    emu.apply(obj)
        .map_err(|e| anyhow::anyhow!("writing the endpoints probe: {e}"))?;
    wait_answer(
        k,
        &format!("{}.{}.svc.cluster.local", s.name, s.ns),
        new_ip.parse()?,
        t0,
    )
    .await?;
    Ok((services, t0.elapsed()))
}

/// Waits until the forced 410 was served (the re-watch happened), so the probe written next
/// cannot reach kubedns through the watch being cut.
pub(super) async fn gone_consumed(emu: &Emulator) -> anyhow::Result<()> {
    let t0 = Instant::now();
    while emu.shared().faults_view().gone_next_watches > 0 {
        if t0.elapsed() > RELIST_TIMEOUT {
            bail!("kubedns did not re-watch within {RELIST_TIMEOUT:?}");
        }
        tokio::time::sleep(RELIST_POLL).await;
    }
    Ok(())
}

pub(super) async fn wait_answer(
    k: &mut Kubedns,
    fqdn: &str,
    want: IpAddr,
    t0: Instant,
) -> anyhow::Result<()> {
    let client = DnsClient::new(k.dns);
    while t0.elapsed() < RELIST_TIMEOUT {
        if let Ok(m) = client.udp(fqdn, RecordType::A).await
            && answer_ips(&m).contains(&want)
        {
            return Ok(());
        }
        if k.proc.try_exit_status().is_some() {
            bail!("kubedns exited during the relist:\n{}", k.proc.describe());
        }
        tokio::time::sleep(RELIST_POLL).await;
    }
    bail!("{fqdn} not answered {RELIST_TIMEOUT:?} after the forced relist")
}
