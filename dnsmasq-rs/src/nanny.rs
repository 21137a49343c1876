//! The dnsmasq-nanny part: the `kube-dns` ConfigMap directory (kube-dns-compat §2) and its
//! translation into extra dnsmasq arguments (§3.2), done in-process instead of restarting.
//!
//! Owns: server munging (`ip:port` → `ip#port`, `[v6]:port` → `[v6]#port`) and stub
//! nameserver *hostname* resolution through an injectable [`NameResolver`]. Reading the
//! directory ([`serverkit::configdir`]) and validating `stubDomains`/`upstreamNameservers`
//! ([`serverkit::configmap`]; any error rejects the whole update) are shared with kubedns.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// The directory itself is read by the shared reader (missing directory = error, 1 MiB file
/// cap); re-exported for the fuzz targets.
pub use serverkit::configdir::{DirSnapshot, read_config_dir, version_of};
pub use serverkit::configmap::is_dns1123_subdomain;
use serverkit::configmap::{
    Nameserver, ValidationError, parse_nameserver_entry, parse_stub_domains,
    parse_upstream_nameservers,
};

/// Maximum number of `upstreamNameservers` (kube-dns validation).
pub const MAX_UPSTREAMS: usize = serverkit::configmap::MAX_UPSTREAM_NAMESERVERS;

/// A rejected ConfigMap update.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NannyError {
    /// A value breaks the legacy rules ([`serverkit::configmap`]).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// The validated ConfigMap contents the nanny uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NannyConfig {
    /// domain → nameservers as written (sorted by domain for a stable argv).
    pub stub_domains: BTreeMap<String, Vec<String>>,
    pub upstream_nameservers: Vec<String>,
}

/// Parses and validates the ConfigMap files; any error rejects the whole update.
pub fn parse_config(files: &BTreeMap<String, String>) -> Result<NannyConfig, NannyError> {
    let mut cfg = NannyConfig::default();
    if let Some(text) = files.get("stubDomains") {
        cfg.stub_domains = parse_stub_domains(text)?;
    }
    if let Some(text) = files.get("upstreamNameservers") {
        cfg.upstream_nameservers = parse_upstream_nameservers(text)?;
    }
    Ok(cfg)
}

/// Hostnames that must be resolved before translation (stub nameservers given by name).
pub fn hostnames(cfg: &NannyConfig) -> Vec<String> {
    let mut v: Vec<String> = cfg
        .stub_domains
        .values()
        .flatten()
        .filter_map(|s| match parse_nameserver_entry(s, true) {
            Ok(Nameserver::Host { name, .. }) => Some(name),
            _ => None,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A validated nameserver in dnsmasq `--server` syntax: `ip`, `ip#port`, `[v6]#port`; a host
/// name is replaced by its resolved address (or passed through unchanged, as the nanny did).
fn munge(s: &str, resolved: &dyn Fn(&str) -> Option<IpAddr>) -> String {
    let (ip, port) = match parse_nameserver_entry(s, true) {
        Ok(Nameserver::Ip { ip, port }) => (ip, port),
        Ok(Nameserver::Host { name, port }) => match resolved(&name) {
            Some(ip) => (ip, port),
            None => return s.to_string(),
        },
        Err(_) => return s.to_string(),
    };
    match (ip, port) {
        (ip, None) => ip.to_string(),
        (IpAddr::V6(ip), Some(p)) => format!("[{ip}]#{p}"),
        (IpAddr::V4(ip), Some(p)) => format!("{ip}#{p}"),
    }
}

/// §3.2: the generated dnsmasq arguments (appended after the `--` arguments).
pub fn translate(cfg: &NannyConfig, resolved: &dyn Fn(&str) -> Option<IpAddr>) -> Vec<String> {
    let mut args = Vec::new();
    for (domain, servers) in &cfg.stub_domains {
        for s in servers {
            args.push("--server".to_string());
            args.push(format!("/{domain}/{}", munge(s, resolved)));
        }
    }
    for s in &cfg.upstream_nameservers {
        args.push("--server".to_string());
        args.push(munge(s, resolved));
    }
    if !cfg.upstream_nameservers.is_empty() {
        args.push("--no-resolv".to_string());
    }
    args
}

/// Resolves stub nameserver hostnames: names ending in `cluster.local` by a UDP A query to
/// `-kubednsServer`, others with the system resolver; the first address wins.
pub trait NameResolver: Send + Sync {
    fn resolve(&self, name: &str) -> futures::future::BoxFuture<'_, Option<IpAddr>>;
}

/// The production resolver.
pub struct SystemResolver {
    pub kubedns_server: SocketAddr,
    pub transport: std::sync::Arc<dyn crate::upstream::Transport>,
}

impl NameResolver for SystemResolver {
    fn resolve(&self, name: &str) -> futures::future::BoxFuture<'_, Option<IpAddr>> {
        let name = name.to_string();
        Box::pin(async move {
            if name.ends_with("cluster.local") {
                crate::upstream::resolve_a(self.transport.clone(), self.kubedns_server, &name).await
            } else {
                tokio::net::lookup_host((name.as_str(), 53))
                    .await
                    .ok()?
                    .next()
                    .map(|s| s.ip())
            }
        })
    }
}

/// Resolves all hostnames of `cfg`, logging failures (which pass the name through).
pub async fn resolve_all(
    cfg: &NannyConfig,
    resolver: &dyn NameResolver,
) -> BTreeMap<String, IpAddr> {
    let mut out = BTreeMap::new();
    for name in hostnames(cfg) {
        match resolver.resolve(&name).await {
            Some(ip) => {
                out.insert(name, ip);
            }
            None => {
                tracing::warn!(%name, "cannot resolve stub domain nameserver; passing it through")
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn google(n: &str) -> Option<IpAddr> {
        (n == "google-public-dns-a.google.com").then(|| "8.8.8.8".parse().unwrap())
    }

    fn with_base(cfg: &NannyConfig) -> Vec<String> {
        let mut v = vec!["--abc".to_string()];
        v.extend(translate(cfg, &google));
        v
    }

    #[test]
    fn empty_config() {
        let c = parse_config(&files(&[])).unwrap();
        assert_eq!(with_base(&c), vec!["--abc"]);
    }

    #[test]
    fn stub_domains_unit_case() {
        let c = parse_config(&files(&[(
            "stubDomains",
            r#"{"acme.local":["1.1.1.1"],"widget.local":["2.2.2.2:10053","3.3.3.3"],"google.local":["google-public-dns-a.google.com"]}"#,
        )]))
        .unwrap();
        let args = with_base(&c);
        assert_eq!(args[0], "--abc");
        assert_eq!(args.iter().filter(|a| *a == "--server").count(), 4);
        let mut servers: Vec<&String> = args.iter().skip(2).step_by(2).collect();
        servers.sort();
        assert_eq!(
            servers,
            [
                "/acme.local/1.1.1.1",
                "/google.local/8.8.8.8",
                "/widget.local/2.2.2.2#10053",
                "/widget.local/3.3.3.3"
            ]
        );
        assert_eq!(hostnames(&c), vec!["google-public-dns-a.google.com"]);
        // Unresolvable names are passed through.
        assert!(
            translate(&c, &|_| None)
                .contains(&"/google.local/google-public-dns-a.google.com".to_string())
        );
    }

    #[test]
    fn upstreams_unit_cases() {
        let c = parse_config(&files(&[(
            "upstreamNameservers",
            r#"["2.2.2.2:10053","3.3.3.3"]"#,
        )]))
        .unwrap();
        assert_eq!(
            with_base(&c),
            [
                "--abc",
                "--server",
                "2.2.2.2#10053",
                "--server",
                "3.3.3.3",
                "--no-resolv"
            ]
        );
        let c = parse_config(&files(&[(
            "upstreamNameservers",
            r#"["2001:db8:1::1","[2001:db8:3::3]:53"]"#,
        )]))
        .unwrap();
        assert_eq!(
            translate(&c, &google),
            [
                "--server",
                "2001:db8:1::1",
                "--server",
                "[2001:db8:3::3]#53",
                "--no-resolv"
            ]
        );
        // `[v6]` without a port is not `net.SplitHostPort` syntax: the legacy Validate (shared
        // with kubedns) rejects it.
        let bracketed = r#"["[2001:db8:2::2]"]"#;
        assert!(parse_config(&files(&[("upstreamNameservers", bracketed)])).is_err());
    }

    #[test]
    fn e2e_cases() {
        let c = parse_config(&files(&[("stubDomains", r#"{"acme.local":["1.2.3.4"]}"#)])).unwrap();
        assert_eq!(translate(&c, &google), ["--server", "/acme.local/1.2.3.4"]);
        let c = parse_config(&files(&[("upstreamNameservers", r#"["5.6.7.8"]"#)])).unwrap();
        assert_eq!(
            translate(&c, &google),
            ["--server", "5.6.7.8", "--no-resolv"]
        );
    }

    #[test]
    fn invalid_configs_rejected() {
        for (k, v) in [
            ("stubDomains", "garbage"),
            ("stubDomains", r#"{"Acme.Local":["1.1.1.1"]}"#),
            ("stubDomains", r#"{"acme.local.":["1.1.1.1"]}"#),
            ("stubDomains", r#"{"acme.local":["1.1.1.1:99999"]}"#),
            ("stubDomains", r#"{"acme.local":["bad_host"]}"#),
            (
                "upstreamNameservers",
                r#"["1.1.1.1","2.2.2.2","3.3.3.3","4.4.4.4"]"#,
            ),
            ("upstreamNameservers", r#"["dns.google"]"#),
            ("upstreamNameservers", r#"["1.1.1.1:0"]"#),
            ("upstreamNameservers", "{}"),
        ] {
            assert!(parse_config(&files(&[(k, v)])).is_err(), "{k}={v}");
        }
        // Other keys are ignored.
        assert_eq!(
            parse_config(&files(&[("federations", "abc=def")])).unwrap(),
            NannyConfig::default()
        );
    }
}
