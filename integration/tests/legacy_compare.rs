//! Issue 17 item 3: legacy kube-dns (built from `k8s.io/dns` by `integration/peers/build.sh`)
//! and kubedns on the same real control plane, asked the same generated corpus of
//! `(name, type)` pairs over a fixture with every Service shape (see
//! `legacy_compare/fixture.rs` and `legacy_compare/corpus.rs`). Replies are compared after
//! normalisation (`legacy_compare/compare.rs`); every difference must be explained by a rule of
//! the allow-list (`legacy_compare/rules.rs`), each naming its `docs/compat.md` row. The last
//! result is written to `target/legacy-compare/last.txt` and recorded in `docs/compat.md`.

#[path = "real/common.rs"]
mod common;
#[path = "legacy_compare/compare.rs"]
mod compare;
#[path = "legacy_compare/corpus.rs"]
mod corpus;
#[path = "legacy_compare/fixture.rs"]
mod fixture;
#[path = "legacy_compare/rules.rs"]
mod rules;
#[path = "legacy_compare/upstream.rs"]
mod upstream;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use integration::controlplane::Identity;
use integration::controlplane::bins::workspace_root;
use integration::harness::dns::{DnsClient, Transport};
use integration::harness::ports::{free_dns_port, free_tcp_port};
use integration::harness::process::{ChildProcess, ProcessSpec};
use integration::harness::wait;

use common::{control_plane, stack_on, with_controllers};
use compare::{Obs, ask, ask_all};
use corpus::Pair;
use rules::{Ctx, Variant};

/// Environment variable naming the legacy kube-dns binary.
pub const LEGACY_ENV: &str = "KUBE_DNS_RS_LEGACY_KUBE_DNS";
/// Where `integration/peers/build.sh` puts it, relative to the workspace.
const LEGACY_DEFAULT: &str = "target/peers/current/bin/kube-dns";
/// How long a server may take to sync and show the whole fixture.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the liveness probe after each bisected query waits (a healthy process answers
/// in milliseconds; a dying one never).
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a legacy process that stopped answering may take to exit after a panic.
const CRASH_EXIT: Duration = Duration::from_secs(2);
/// Legacy queries per batch between liveness checks (a crash is bisected within a batch).
const LEGACY_BATCH: usize = 128;

/// The legacy binary, or `None` after the one `SKIP` line of [`serverkit::require`] (a
/// failure under `CI`).
fn legacy_binary() -> Option<PathBuf> {
    let path = std::env::var_os(LEGACY_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(LEGACY_DEFAULT));
    let need = serverkit::require::Need::file(
        path.clone(),
        format!("legacy kube-dns (run `bash integration/peers/build.sh` or set {LEGACY_ENV})"),
    );
    serverkit::require::need(&[need]).then_some(path)
}

/// Legacy kube-dns as a child process (restarted after a crash).
struct Legacy {
    spec: ProcessSpec,
    log_dir: PathBuf,
    child: ChildProcess,
    dns: SocketAddr,
    healthz: u16,
    restarts: usize,
}

impl Legacy {
    async fn start(
        bin: &Path,
        kubeconfig: &Path,
        upstream: SocketAddr,
        log_dir: &Path,
    ) -> anyhow::Result<Legacy> {
        let port = free_dns_port()?;
        let healthz = free_tcp_port()?;
        let spec = ProcessSpec::new("legacy-kube-dns", bin).args([
            format!("--domain={}", corpus::ZONE),
            format!("--dns-port={port}"),
            "--dns-bind-address=127.0.0.1".into(),
            format!("--healthz-port={healthz}"),
            format!("--kubecfg-file={}", kubeconfig.display()),
            format!("--nameservers={upstream}"),
            "--v=2".into(),
        ]);
        let child = ChildProcess::spawn(spec.clone(), log_dir)?;
        let mut l = Legacy {
            spec,
            log_dir: log_dir.to_path_buf(),
            child,
            dns: SocketAddr::from(([127, 0, 0, 1], port)),
            healthz,
            restarts: 0,
        };
        l.wait_ready().await?;
        Ok(l)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.healthz));
        if let Err(e) = wait::http_ok(addr, "/readiness", SETTLE_TIMEOUT).await {
            anyhow::bail!("legacy kube-dns not ready: {e}\n{}", self.child.describe());
        }
        Ok(())
    }

    fn alive(&mut self) -> bool {
        self.child.try_exit_status().is_none()
    }

    /// Whether the process exits within `limit`.
    async fn exits_within(&mut self, limit: Duration) -> bool {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < limit {
            if !self.alive() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        !self.alive()
    }

    async fn restart(&mut self) -> anyhow::Result<()> {
        self.restarts += 1;
        eprintln!(
            "legacy kube-dns died ({}); restarting\n{}",
            self.restarts,
            self.child.log_tail(20)
        );
        let mut spec = self.spec.clone();
        spec.name = format!("legacy-kube-dns-{}", self.restarts);
        self.child = ChildProcess::spawn(spec, &self.log_dir)?;
        self.wait_ready().await
    }

    /// Whether the process has died; when `suspect`, it is given [`CRASH_EXIT`] to do so.
    async fn died_after(&mut self, suspect: bool) -> bool {
        if suspect {
            self.exits_within(CRASH_EXIT).await
        } else {
            !self.alive()
        }
    }

    /// Every pair, in batches; a batch during which the process died is asked again one query
    /// at a time, and the query it dies on is recorded as [`Obs::Crash`]. skydns writes its
    /// reply from a deferred function, so a panicking query still gets an answer (an empty
    /// NOERROR without SOA, [`panic_reply`]) and the process exits a little later; after
    /// such a reply, or a liveness probe that gets none, the process is given time to exit.
    async fn ask_all(&mut self, pairs: &[Pair], transport: Transport) -> anyhow::Result<Vec<Obs>> {
        let mut out = Vec::with_capacity(pairs.len());
        let client = compare::client(self.dns, transport);
        let probe_client = DnsClient {
            timeout: PROBE_TIMEOUT,
            ..DnsClient::new(self.dns)
        };
        let probe = Pair {
            name: format!("kubernetes.default.svc.{}", corpus::ZONE),
            rtype: RecordType::A,
        };
        for batch in pairs.chunks(LEGACY_BATCH) {
            // no retries here: queries sent to a dead process would each wait twice
            let mut obs = ask_all(self.dns, batch, transport, false).await;
            if !self.died_after(obs.iter().any(panic_reply)).await {
                for (o, p) in obs.iter_mut().zip(batch) {
                    if *o == Obs::Timeout {
                        *o = ask(&client, p, transport).await;
                    }
                }
                out.extend(obs);
                continue;
            }
            self.restart().await?;
            for p in batch {
                let o = ask(&client, p, transport).await;
                let probe_ok = matches!(
                    ask(&probe_client, &probe, Transport::Udp).await,
                    Obs::Reply(_)
                );
                if self.died_after(panic_reply(&o) || !probe_ok).await {
                    out.push(Obs::Crash(panic_summary(&self.child.log())));
                    self.restart().await?;
                } else {
                    out.push(o);
                }
            }
        }
        Ok(out)
    }
}

/// The reply skydns's deferred writer sends for a query whose handler panicked: NOERROR with
/// every section empty (a healthy negative reply carries the SOA).
fn panic_reply(o: &Obs) -> bool {
    o.reply().is_some_and(|r| {
        r.rcode == ResponseCode::NoError
            && r.answer.is_empty()
            && r.authority.is_empty()
            && r.additional.is_empty()
    })
}

/// The panic message and the first stack frame below it, from a Go program's log.
fn panic_summary(log: &str) -> String {
    let mut lines = log.lines().skip_while(|l| !l.starts_with("panic:"));
    let msg = lines.next().unwrap_or("no panic in the log").to_string();
    let frame = lines
        .find(|l| {
            !l.is_empty()
                && !l.starts_with("goroutine")
                && !l.starts_with('\t')
                && !l.starts_with("[signal")
        })
        .unwrap_or_default();
    let func = frame.split('(').next().unwrap_or_default();
    format!("{msg} in {func}")
}

/// Waits until `server` shows the whole fixture: every selector Service's endpoints, the
/// dual-stack addresses and [`fixture::BIG`]'s endpoints.
async fn settled(server: SocketAddr, who: &str) -> anyhow::Result<()> {
    let z = corpus::ZONE;
    let ns = fixture::NS;
    let want: Vec<(String, usize)> = vec![
        (format!("hl.{ns}.svc.{z}"), 2),
        (format!("hl-nohost.{ns}.svc.{z}"), 2),
        (format!("hl-noports.{ns}.svc.{z}"), 1),
        (format!("dual-hl.{ns}.svc.{z}"), 2),
        (format!("web.{ns}.svc.{z}"), 1),
        (format!("ext-in.{ns}.svc.{z}"), 2),
    ];
    let client = DnsClient::new(server);
    let big = format!("{}.{ns}.svc.{z}", fixture::BIG);
    wait::until(&format!("{who} shows the fixture"), SETTLE_TIMEOUT, || {
        let client = client.clone();
        let want = want.clone();
        let big = big.clone();
        async move {
            for (name, n) in &want {
                let m = client.udp(name, RecordType::A).await?;
                if m.answers.len() < *n {
                    return Ok::<_, integration::harness::dns::DnsError>(None);
                }
            }
            let m = client.tcp(&big, RecordType::A).await?;
            Ok((m.answers.len() >= fixture::ENDPOINTS_MAX_CAPACITY).then_some(()))
        }
    })
    .await?;
    Ok(())
}

/// SRV targets of the headless Services (endpoint names), as any server reports them.
async fn discover(servers: &[SocketAddr]) -> anyhow::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for s in servers {
        let client = DnsClient::new(*s);
        for h in corpus::HEADLESS {
            let name = format!("{h}.{}.svc.{}", fixture::NS, corpus::ZONE);
            let m = client.tcp(&name, RecordType::SRV).await?;
            for r in &m.answers {
                if let RData::SRV(srv) = &r.data {
                    names.insert(srv.target.to_ascii().to_ascii_lowercase());
                }
            }
        }
    }
    Ok(names)
}

/// Every cluster, endpoint and pod address of the fixture.
fn fixture_ips(cp: &integration::controlplane::ControlPlane) -> anyhow::Result<BTreeSet<IpAddr>> {
    let mut ips = BTreeSet::new();
    for (_, list) in fixture::cluster_ips(cp)? {
        for ip in list {
            ips.insert(ip.parse()?);
        }
    }
    for p in fixture::PODS {
        for ip in p.ips {
            ips.insert(ip.parse()?);
        }
    }
    Ok(ips)
}

/// Per-variant outcome.
#[derive(Default)]
struct Tally {
    same: usize,
    by_rule: BTreeMap<&'static str, usize>,
    unexplained: Vec<String>,
}

fn tally(ctx: &Ctx, pairs: &[Pair], legacy: &[Obs], kubedns: &[Obs], t: &mut Tally) {
    let transport = if ctx.tcp { "tcp" } else { "udp" };
    for ((p, l), k) in pairs.iter().zip(legacy).zip(kubedns) {
        if l == k {
            t.same += 1;
            continue;
        }
        match rules::classify(ctx, p, l, k) {
            Some(id) => *t.by_rule.entry(id).or_default() += 1,
            None => t.unexplained.push(format!(
                "{transport} {} {}\n  legacy:  {l}\n  kubedns: {k}",
                p.name, p.rtype
            )),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_kube_dns_over_the_generated_corpus() -> anyhow::Result<()> {
    let Some(legacy_bin) = legacy_binary() else {
        return Ok(());
    };
    let Some(cp) = control_plane(with_controllers()).await? else {
        return Ok(());
    };
    let t0 = std::time::Instant::now();
    fixture::load(&cp)?;
    let up = upstream::Upstream::start().await?;
    let ns_flag = format!("--nameservers={}", up.addr);
    let slices = stack_on(&cp, Identity::Admin, &[&ns_flag]).await?;
    let endpoints = stack_on(
        &cp,
        Identity::Admin,
        &[&ns_flag, "--endpoint-source=endpoints"],
    )
    .await?;
    let logs = tempfile::tempdir()?;
    let mut legacy = Legacy::start(
        &legacy_bin,
        &cp.kubeconfig(Identity::Admin),
        up.addr,
        logs.path(),
    )
    .await?;
    let servers = [
        ("legacy", legacy.dns),
        ("kubedns", slices.kubedns_addr()),
        (
            "kubedns --endpoint-source=endpoints",
            endpoints.kubedns_addr(),
        ),
    ];
    for (who, addr) in servers {
        settled(addr, who).await?;
    }
    let discovered = discover(&servers.map(|s| s.1)).await?;
    let pairs = corpus::generate(&discovered, &fixture_ips(&cp)?);
    eprintln!(
        "corpus: {} pairs ({} names); fixture ready after {} ms",
        pairs.len(),
        pairs.len() / corpus::TYPES.len(),
        t0.elapsed().as_millis()
    );

    let l_udp = legacy.ask_all(&pairs, Transport::Udp).await?;
    let s_udp = ask_all(slices.kubedns_addr(), &pairs, Transport::Udp, true).await;
    let e_udp = ask_all(endpoints.kubedns_addr(), &pairs, Transport::Udp, true).await;
    // TCP pass for every pair some server truncated over UDP.
    let tc = |o: &Obs| o.reply().is_some_and(|r| r.tc);
    let tcp_pairs: Vec<Pair> = (0..pairs.len())
        .filter(|&i| tc(&l_udp[i]) || tc(&s_udp[i]) || tc(&e_udp[i]))
        .map(|i| pairs[i].clone())
        .collect();
    let l_tcp = legacy.ask_all(&tcp_pairs, Transport::Tcp).await?;
    let s_tcp = ask_all(slices.kubedns_addr(), &tcp_pairs, Transport::Tcp, true).await;
    let e_tcp = ask_all(endpoints.kubedns_addr(), &tcp_pairs, Transport::Tcp, true).await;

    // Names legacy answered with records for some type: they exist.
    let exists: BTreeSet<String> = pairs
        .iter()
        .zip(&l_udp)
        .filter(|(_, o)| {
            o.reply()
                .is_some_and(|r| r.rcode == ResponseCode::NoError && !r.answer.is_empty())
        })
        .map(|(p, _)| p.name.to_ascii_lowercase())
        .collect();
    let mut report = String::new();
    let mut failed = 0;
    for (v, udp, tcp) in [
        (Variant::Slices, &s_udp, &s_tcp),
        (Variant::Endpoints, &e_udp, &e_tcp),
    ] {
        let mut t = Tally::default();
        let mut ctx = Ctx {
            exists: exists.clone(),
            variant: v,
            tcp: false,
        };
        tally(&ctx, &pairs, &l_udp, udp, &mut t);
        ctx.tcp = true;
        tally(&ctx, &tcp_pairs, &l_tcp, tcp, &mut t);
        let _ = writeln!(
            report,
            "== legacy vs kubedns ({v:?}): {} udp + {} tcp queries; identical {}; documented {}; unexplained {}",
            pairs.len(),
            tcp_pairs.len(),
            t.same,
            t.by_rule.values().sum::<usize>(),
            t.unexplained.len()
        );
        for (id, n) in &t.by_rule {
            let row = rules::all_rules()
                .find(|r| r.id == *id)
                .map_or("", |r| r.row);
            let _ = writeln!(report, "  {n:5}  {id}  ({row})");
        }
        for u in &t.unexplained {
            let _ = writeln!(report, "UNEXPLAINED {u}");
        }
        failed += t.unexplained.len();
    }
    let _ = writeln!(
        report,
        "legacy restarts after crashes: {}; total {} ms",
        legacy.restarts,
        t0.elapsed().as_millis()
    );
    let out_dir = workspace_root().join("target/legacy-compare");
    std::fs::create_dir_all(&out_dir)?;
    let mut all = String::new();
    for (transport, ps, l, s, e) in [
        ("udp", &pairs, &l_udp, &s_udp, &e_udp),
        ("tcp", &tcp_pairs, &l_tcp, &s_tcp, &e_tcp),
    ] {
        for (i, p) in ps.iter().enumerate() {
            let _ = writeln!(
                all,
                "{transport} {} {}\n  legacy:    {}\n  slices:    {}\n  endpoints: {}",
                p.name, p.rtype, l[i], s[i], e[i]
            );
        }
    }
    std::fs::write(out_dir.join("all.txt"), &all)?;
    std::fs::write(out_dir.join("last.txt"), &report)?;
    eprintln!("{report}");
    drop((slices, endpoints));
    assert_eq!(failed, 0, "differences not in the allow-list (see above)");
    Ok(())
}
