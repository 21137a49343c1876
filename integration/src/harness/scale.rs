//! A large generated cluster for scale measurements (`bench_scale`) and the drop-in
//! memory-limit test: N Services spread over namespaces, about 30 % headless, 1–1000
//! endpoints each, EndpointSlices of at most [`SLICE_MAX`] endpoints **and** the core/v1
//! Endpoints of every Service (a real cluster has both, so either `--endpoint-source` can be
//! measured against the same API), in one of two [`Shape`]s.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::objects::{self, Addr};
use super::realistic::{self, RealEndpoint, RealPort};
use kube_emulator::{Emulator, EmulatorConfig, StoreConfig};

/// Endpoints per EndpointSlice (the endpointslice controller's default maximum).
pub const SLICE_MAX: usize = 100;
/// Objects created per store lock (keeps the lock hold short).
pub const CREATE_BATCH: usize = 1000;
/// Events the emulator keeps for watch resumption during a scale run.
pub const HISTORY_LIMIT: usize = 50_000;
/// Emulated Kubernetes minor version of scale runs: 1.32, whose watch cache serves a
/// `resourceVersion=0` list unpaginated whatever the `limit` (see
/// [`kube_emulator::semantics`]).
pub const UNPAGINATED_MINOR: u32 = 32;
/// Service port (name, port, targetPort).
const SERVICE_PORT: RealPort<'static> = ("http", 80, 8080);

/// How the generated objects look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// Only the fields kube-dns reads (names, IPs, ports, the service-name label).
    Lean,
    /// As a real cluster stores them ([`realistic`]): managedFields, uids, labels,
    /// annotations, ownerReferences, targetRef, nodeName, zone…
    Realistic,
}

/// One Service of the generated cluster.
#[derive(Debug, Clone)]
pub struct SvcSpec {
    /// Namespace.
    pub ns: String,
    /// Name.
    pub name: String,
    /// `clusterIP: None`.
    pub headless: bool,
    /// Number of endpoints.
    pub endpoints: usize,
    /// Index of its first endpoint in the global endpoint numbering.
    pub first_endpoint: usize,
}

/// Endpoint counts per Service: 0.1 % with 1000, 0.9 % with 200, 9 % with 40, the rest share
/// what is left evenly (at least 1). For 10k/100k: 10×1000 + 90×200 + 900×40 + 9000×4.
pub fn endpoint_sizes(services: usize, endpoints: usize) -> Vec<usize> {
    let class = |i: usize| match i % 1000 {
        0 => Some(1000),
        1..=9 => Some(200),
        10..=99 => Some(40),
        _ => None,
    };
    let fixed: usize = (0..services).filter_map(class).sum();
    let n_small = (0..services).filter(|i| class(*i).is_none()).count().max(1);
    let rest = endpoints.saturating_sub(fixed);
    let (base, extra) = (rest / n_small, rest % n_small);
    let mut small_seen = 0;
    (0..services)
        .map(|i| {
            class(i).unwrap_or_else(|| {
                small_seen += 1;
                (base + usize::from(small_seen <= extra)).max(1)
            })
        })
        .collect()
}

/// The Services of a cluster of `services` Services and about `endpoints` endpoints.
pub fn cluster(services: usize, endpoints: usize, namespaces: usize) -> Vec<SvcSpec> {
    let mut k = 0;
    endpoint_sizes(services, endpoints)
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let s = SvcSpec {
                ns: format!("ns{}", i % namespaces.max(1)),
                name: format!("svc{i}"),
                // About 30 % headless, spread over every size class.
                headless: (i / 7) % 10 < 3,
                endpoints: n,
                first_endpoint: k,
            };
            k += n;
            s
        })
        .collect()
}

/// ClusterIP of Service `i`.
pub fn cluster_ip(i: usize) -> String {
    Ipv4Addr::from(u32::from_be_bytes([10, 96, 0, 0]) + i as u32).to_string()
}

/// Address of endpoint `k`.
pub fn endpoint_ip(k: usize) -> String {
    Ipv4Addr::from(u32::from_be_bytes([10, 128, 0, 0]) + k as u32).to_string()
}

/// The addresses of Service `s` (all ready).
pub fn service_ips(s: &SvcSpec) -> Vec<String> {
    (s.first_endpoint..s.first_endpoint + s.endpoints)
        .map(endpoint_ip)
        .collect()
}

/// The Service object of spec `i`.
pub fn service_object(specs: &[SvcSpec], i: usize, shape: Shape) -> Value {
    let s = &specs[i];
    let ip = (!s.headless).then(|| cluster_ip(i));
    match shape {
        Shape::Lean => objects::service(
            &s.ns,
            &s.name,
            ip.as_deref().unwrap_or("None"),
            &[(SERVICE_PORT.0, SERVICE_PORT.1, "TCP")],
        ),
        Shape::Realistic => realistic::service(&s.ns, &s.name, ip.as_deref(), &[SERVICE_PORT]),
    }
}

fn real_eps(first: usize, ips: &[String]) -> Vec<RealEndpoint> {
    ips.iter()
        .enumerate()
        .map(|(j, ip)| RealEndpoint {
            k: first + j,
            ip: ip.clone(),
            ready: true,
        })
        .collect()
}

/// EndpointSlice number `chunk` of Service `i` holding `ips` (whose first is endpoint `first`).
pub fn slice_object(
    specs: &[SvcSpec],
    i: usize,
    chunk: usize,
    first: usize,
    ips: &[String],
    shape: Shape,
) -> Value {
    let s = &specs[i];
    match shape {
        Shape::Lean => {
            let addrs: Vec<Addr> = ips.iter().map(|ip| Addr::ready(ip)).collect();
            let mut o = objects::endpoint_slice(
                &s.ns,
                &format!("{}-{chunk}", s.name),
                &s.name,
                "IPv4",
                &addrs,
                &[("http", 8080, "TCP")],
            );
            o["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] =
                json!("kube-dns-rs-bench");
            o
        }
        Shape::Realistic => realistic::endpoint_slice(
            &s.ns,
            &s.name,
            &realistic::uid(1, i),
            i * 1000 + chunk,
            &real_eps(first, ips),
            &[SERVICE_PORT],
        ),
    }
}

/// The core/v1 Endpoints of Service `i` holding `ips`.
pub fn endpoints_object(specs: &[SvcSpec], i: usize, ips: &[String], shape: Shape) -> Value {
    let s = &specs[i];
    match shape {
        Shape::Lean => {
            let addrs: Vec<Addr> = ips.iter().map(|ip| Addr::ready(ip)).collect();
            objects::endpoints(&s.ns, &s.name, &addrs, &[("http", 8080, "TCP")])
        }
        Shape::Realistic => realistic::endpoints(
            &s.ns,
            &s.name,
            &real_eps(s.first_endpoint, ips),
            &[SERVICE_PORT],
        ),
    }
}

/// Emulator settings for a scale run: unpaginated RV=0 lists (1.32) and no watch-list, so
/// clients get the whole collection in one LIST response; no Endpoints → EndpointSlice
/// mirroring (both are written explicitly); history for the update phase.
pub fn emulator_config() -> EmulatorConfig {
    EmulatorConfig {
        store: StoreConfig {
            history_limit: HISTORY_LIMIT,
            mirror_endpoint_slices: false,
            ..StoreConfig::default()
        },
        minor: UNPAGINATED_MINOR,
        watch_list: false,
        ..EmulatorConfig::default()
    }
}

/// What [`populate`] created.
#[derive(Debug, Clone, Copy, Default)]
pub struct Populated {
    /// API objects in total.
    pub objects: usize,
    /// EndpointSlices.
    pub slices: usize,
    /// Endpoints objects.
    pub endpoints_objects: usize,
}

/// Creates every namespace, Service, EndpointSlice and Endpoints object.
pub fn populate(
    emu: &Emulator,
    specs: &[SvcSpec],
    namespaces: usize,
    shape: Shape,
) -> anyhow::Result<Populated> {
    let mut out = Populated::default();
    let mut batch: Vec<Value> = (0..namespaces.max(1))
        .map(|n| objects::namespace(&format!("ns{n}")))
        .collect();
    let flush = |batch: &mut Vec<Value>, out: &mut Populated| -> anyhow::Result<()> {
        let mut store = emu.shared().store();
        for o in batch.drain(..) {
            store
                .create_value(o)
                .map_err(|e| anyhow::anyhow!("creating an object: {e}"))?;
            out.objects += 1;
        }
        Ok(())
    };
    for (i, s) in specs.iter().enumerate() {
        batch.push(service_object(specs, i, shape));
        let ips = service_ips(s);
        for (c, chunk) in ips.chunks(SLICE_MAX).enumerate() {
            batch.push(slice_object(
                specs,
                i,
                c,
                s.first_endpoint + c * SLICE_MAX,
                chunk,
                shape,
            ));
            out.slices += 1;
        }
        batch.push(endpoints_object(specs, i, &ips, shape));
        out.endpoints_objects += 1;
        if batch.len() >= CREATE_BATCH {
            flush(&mut batch, &mut out)?;
        }
    }
    flush(&mut batch, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_sum_to_the_target() {
        let s = endpoint_sizes(10_000, 100_000);
        assert_eq!(s.iter().sum::<usize>(), 100_000);
        assert_eq!(s.iter().filter(|&&n| n == 1000).count(), 10);
        assert!(s.iter().all(|&n| (1..=1000).contains(&n)));
        let small = endpoint_sizes(100, 50);
        assert!(small.iter().all(|&n| n >= 1));
        let c = cluster(20, 100, 3);
        assert_eq!(c[1].first_endpoint, c[0].endpoints);
    }
}
