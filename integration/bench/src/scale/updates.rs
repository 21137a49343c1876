//! The endpoint-update stream: small headless Services whose first address is rewritten at
//! a fixed rate, DNS pollers timing when each change answers (programming latency), and
//! its result rows.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::bail;
use hickory_proto::rr::RecordType;
use integration::harness::dns::{DnsClient, answer_ips};
use integration::harness::scale::{self, Shape, SvcSpec};
use kube_emulator::Emulator;
use tokio::time::Instant;

use super::args::Source;
use super::kubedns::SERVER;
use crate::measure::{Rows, percentile};

/// Period between DNS polls while waiting for an update to become visible.
pub(super) const POLL_INTERVAL: Duration = Duration::from_millis(1);
/// Per-query timeout of the pollers.
pub(super) const POLL_QUERY_TIMEOUT: Duration = Duration::from_millis(500);
/// An update not visible after this long counts as timed out.
pub(super) const UPDATE_DEADLINE: Duration = Duration::from_secs(5);
/// Largest headless Service used for updates (small answers, one slice).
pub(super) const UPDATE_POOL_MAX_ENDPOINTS: usize = 8;

pub(super) fn update_ip(k: u64) -> Ipv4Addr {
    Ipv4Addr::from(u32::from_be_bytes([10, 200, 0, 0]) + (k % (1 << 22)) as u32)
}

/// One Service whose first endpoint address is rewritten by the update stream.
pub(super) struct PoolEntry {
    pub(super) spec_index: usize,
    pub(super) fqdn: String,
    pub(super) ips: Vec<String>,
}

/// Outcome of the update stream.
pub(super) struct UpdateResult {
    pub(super) latencies_ms: Vec<f64>,
    pub(super) sent: u64,
    pub(super) timed_out: u64,
    pub(super) poll_queries: u64,
    pub(super) elapsed: Duration,
}

/// What the update stream writes, and how.
#[derive(Clone, Copy)]
pub(super) struct UpdatePlan {
    pub(super) rate: u32,
    pub(super) secs: u64,
    pub(super) source: Source,
    pub(super) shape: Shape,
}

pub(super) fn small_headless_pool(specs: &[SvcSpec]) -> VecDeque<PoolEntry> {
    specs
        .iter()
        .enumerate()
        .filter(|(_, s)| s.headless && s.endpoints <= UPDATE_POOL_MAX_ENDPOINTS)
        .map(|(i, s)| PoolEntry {
            spec_index: i,
            fqdn: format!("{}.{}.svc.cluster.local", s.name, s.ns),
            ips: scale::service_ips(s),
        })
        .collect()
}

pub(super) async fn update_stream(
    emu: &Emulator,
    specs: &[SvcSpec],
    pool: &mut VecDeque<PoolEntry>,
    dns: SocketAddr,
    plan: UpdatePlan,
) -> anyhow::Result<UpdateResult> {
    if pool.len() < plan.rate as usize {
        bail!(
            "only {} small headless Services for {} updates/s",
            pool.len(),
            plan.rate
        );
    }
    let polls = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let mut ticker =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(plan.rate.max(1))));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let end = start + Duration::from_secs(plan.secs);
    let mut sent = 0u64;
    let mut latencies_ms = Vec::new();
    let mut timed_out = 0u64;
    let mut record = |r: Option<Duration>| match r {
        Some(d) => latencies_ms.push(d.as_secs_f64() * 1e3),
        None => timed_out += 1,
    };
    while Instant::now() < end {
        ticker.tick().await;
        let Some(mut e) = pool.pop_front() else {
            bail!("empty update pool");
        };
        let new_ip = update_ip(sent);
        if let Some(first) = e.ips.first_mut() {
            *first = new_ip.to_string();
        }
        let spec = &specs[e.spec_index];
        let obj = match plan.source {
            Source::Endpointslices => scale::slice_object(
                specs,
                e.spec_index,
                0,
                spec.first_endpoint,
                &e.ips,
                plan.shape,
            ),
            Source::Endpoints => scale::endpoints_object(specs, e.spec_index, &e.ips, plan.shape),
        };
        let t0 = Instant::now();
        emu.apply(obj)
            .map_err(|err| anyhow::anyhow!("updating endpoints: {err}"))?;
        sent += 1;
        let mut client = DnsClient::new(dns);
        client.timeout = POLL_QUERY_TIMEOUT;
        let fqdn = e.fqdn.clone();
        let polls = polls.clone();
        tasks.spawn(async move {
            let deadline = t0 + UPDATE_DEADLINE;
            while Instant::now() < deadline {
                polls.fetch_add(1, Ordering::Relaxed);
                if let Ok(m) = client.udp(&fqdn, RecordType::A).await
                    && answer_ips(&m).contains(&IpAddr::V4(new_ip))
                {
                    return Some(t0.elapsed());
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            None
        });
        pool.push_back(e);
        // Reap finished pollers so the set stays small.
        while let Some(r) = tasks.try_join_next() {
            record(r?);
        }
    }
    let elapsed = start.elapsed();
    // Every poller ends by UPDATE_DEADLINE; the extra second only bounds the wait.
    let drain_deadline = Instant::now() + UPDATE_DEADLINE + Duration::from_secs(1);
    while let Some(r) = tokio::time::timeout_at(drain_deadline, tasks.join_next())
        .await
        .ok()
        .flatten()
    {
        record(r?);
    }
    timed_out += tasks.len() as u64;
    Ok(UpdateResult {
        latencies_ms,
        sent,
        timed_out,
        poll_queries: polls.load(Ordering::Relaxed),
        elapsed,
    })
}

pub(super) fn latency_rows(rows: &mut Rows, tag: &str, upd: &UpdateResult) {
    let mut lat = upd.latencies_ms.clone();
    lat.sort_by(f64::total_cmp);
    rows.add(
        SERVER,
        &format!("updates_sent{tag}"),
        upd.sent as f64,
        "count",
    );
    rows.add(
        SERVER,
        &format!("update_rate{tag}"),
        upd.sent as f64 / upd.elapsed.as_secs_f64(),
        "/s",
    );
    rows.add(
        SERVER,
        &format!("updates_not_visible_5s{tag}"),
        upd.timed_out as f64,
        "count",
    );
    for p in [50.0, 90.0, 99.0] {
        rows.add(
            SERVER,
            &format!("prog_latency_p{p:.0}_ms{tag}"),
            percentile(&lat, p),
            "ms",
        );
    }
    rows.add(
        SERVER,
        &format!("prog_latency_max_ms{tag}"),
        lat.last().copied().unwrap_or(f64::NAN),
        "ms",
    );
}
