//! The fixed data of a drop-in run: the names queried, the answers expected (cluster data
//! from kube-apiserver's `kubernetes` Service and manifests/examples/demo-cluster.yaml; TEST-NET-2 addresses for
//! the fake resolvers, never contacted), ports, and time bounds.

use std::net::Ipv4Addr;
use std::time::Duration;

/// Bound on each probe becoming healthy.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on a Service created through the API appearing in DNS.
pub const SERVICE_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound on an answer that should already be right (caches, first config read settle).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Legacy ConfigMap poll period is 10 s; allow this long for a change to be applied.
pub const CONFIG_CHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Period of the background "stable name" queries during the ConfigMap change.
pub const STABLE_QUERY_PERIOD: Duration = Duration::from_millis(50);
/// Shortest time the background queries run across a ConfigMap change.
pub const MIN_STABLE_WINDOW: Duration = Duration::from_secs(3);
/// Fewest background queries for the zero-failure check to mean something.
pub const MIN_STABLE_QUERIES: u64 = 20;
/// SIGTERM grace at teardown.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

pub const DOMAIN: &str = "cluster.local";
/// The Service range of the demo cluster and of kube-dns.yaml's ClusterIP, added to the
/// control plane as a ServiceCIDR.
pub const DEMO_SERVICE_CIDR: &str = "10.96.0.0/16";
pub const KUBERNETES_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const TEST_SERVICE: (&str, &str, Ipv4Addr) =
    ("default", "dropin-test", Ipv4Addr::new(10, 0, 0, 77));
pub const HEADLESS_NAME: &str = "db-0.db.demo.svc.cluster.local";
pub const HEADLESS_IP: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 20);
pub const EXTERNAL_NAME: &str = "frontend.demo.svc.cluster.local";
pub const EXTERNAL_TARGET: &str = "web.demo.svc.cluster.local.";
pub const EXTERNAL_TARGET_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 1, 10);
pub const UPSTREAM_NAME: &str = "upstream.example.";
pub const UPSTREAM_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// Answered by each upstream with its own address (TTL 0: never cached), so a test can see
/// which upstream a server forwards to.
pub const WHICH_UPSTREAM: &str = "which-upstream.example.";
pub const UPSTREAM1_ID: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const UPSTREAM2_ID: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub const STUB_DOMAIN: &str = "acme.local";
pub const STUB_NAME: &str = "foo.acme.local.";
pub const STUB_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);
pub const STUB_DOMAIN2: &str = "beta.local";
pub const STUB_NAME2: &str = "foo.beta.local.";
pub const STUB_IP2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 21);
pub const KUBEDNS_DNS_PORT: u16 = 10053;
pub const DNS_PORT: u16 = 53;
