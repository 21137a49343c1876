//! Parsing and validation of the `kube-system/kube-dns` ConfigMap keys, exactly as legacy
//! kube-dns did it (`pkg/dns/config/config.go` `Validate`, `pkg/dns/federation`):
//!
//! * `stubDomains`: JSON object `{"<domain>": ["<ns>", …]}`; domain a DNS-1123 subdomain, each
//!   ns `ip`, `ip:port`, `[v6]:port`, bare v6 or a DNS-1123 hostname (optionally `:port`).
//!   kubedns does not use it but a bad value still rejects the whole update.
//! * `upstreamNameservers`: JSON array, at most 3 entries, each `ip`, `ip:port` or `[v6]:port`
//!   (no hostnames), port 1–65535.
//! * `federations`: not JSON; `name=domain[,name=domain]`, name a DNS-1123 label, domain a
//!   DNS-1123 subdomain.
//!
//! Unknown keys are ignored. The whole update is validated at once ([`parse_config_data`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// Most upstream nameservers a ConfigMap may list (legacy limit).
pub const MAX_UPSTREAM_NAMESERVERS: usize = 3;
/// Port used when a nameserver has none.
pub const DEFAULT_DNS_PORT: u16 = 53;

/// Why a ConfigMap value (or `--federations`/`--nameservers` flag) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// `stubDomains` or `upstreamNameservers` is not the expected JSON.
    #[error("invalid JSON in {key}: {reason}")]
    Json {
        /// ConfigMap key.
        key: &'static str,
        /// serde_json's message.
        reason: String,
    },
    /// A `federations` item that is not `name=domain`.
    #[error("invalid federation {0:?}: expected name=domain")]
    FederationSyntax(String),
    /// A federation name that is not a DNS-1123 label.
    #[error("invalid federation name {0:?}: not a DNS-1123 label")]
    FederationName(String),
    /// A federation domain that is not a DNS-1123 subdomain.
    #[error("invalid federation domain {0:?}: not a DNS-1123 subdomain")]
    FederationDomain(String),
    /// A stub domain that is not a DNS-1123 subdomain.
    #[error("invalid stub domain {0:?}: not a DNS-1123 subdomain")]
    StubDomain(String),
    /// A nameserver that is not `ip[:port]` (or, for stub domains, a hostname).
    #[error("invalid nameserver {0:?}")]
    Nameserver(String),
    /// A nameserver port outside 1–65535.
    #[error("invalid port in nameserver {0:?}")]
    Port(String),
    /// More than [`MAX_UPSTREAM_NAMESERVERS`] upstreams.
    #[error("upstreamNameservers lists {0} servers, at most 3 are allowed")]
    TooManyUpstreams(usize),
}

/// The validated content of the ConfigMap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeDnsConfig {
    /// `stubDomains` (validated, unused by kubedns: dnsmasq-nanny consumes it).
    pub stub_domains: BTreeMap<String, Vec<String>>,
    /// `upstreamNameservers`, parsed.
    pub upstream_nameservers: Vec<SocketAddr>,
    /// `federations`.
    pub federations: BTreeMap<String, String>,
}

/// RFC 1123 label as Kubernetes checks it: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 chars.
pub use crate::names::is_dns1123_label;

/// RFC 1123 subdomain as Kubernetes checks it: dot-separated labels, at most 253 chars.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// Parse `name=domain[,name=domain…]` (spaces around items trimmed; empty string = none).
pub fn parse_federations(s: &str) -> Result<BTreeMap<String, String>, ValidationError> {
    let mut out = BTreeMap::new();
    if s.trim().is_empty() {
        return Ok(out);
    }
    for item in s.split(',') {
        let item = item.trim();
        let Some((name, domain)) = item.split_once('=') else {
            return Err(ValidationError::FederationSyntax(item.to_string()));
        };
        let (name, domain) = (name.trim(), domain.trim());
        if domain.contains('=') {
            return Err(ValidationError::FederationSyntax(item.to_string()));
        }
        if !is_dns1123_label(name) {
            return Err(ValidationError::FederationName(name.to_string()));
        }
        if !is_dns1123_subdomain(domain) {
            return Err(ValidationError::FederationDomain(domain.to_string()));
        }
        out.insert(name.to_string(), domain.to_string());
    }
    Ok(out)
}

/// Go `net.SplitHostPort` for the forms used here: `host:port` and `[v6]:port`.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        Some((host, port))
    } else {
        let (host, port) = s.rsplit_once(':')?;
        if host.contains(':') {
            return None; // bare IPv6 without brackets has no port
        }
        Some((host, port))
    }
}

fn parse_port(whole: &str, port: &str) -> Result<u16, ValidationError> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValidationError::Port(whole.to_string()));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(ValidationError::Port(whole.to_string())),
    }
}

/// Parse an upstream nameserver: `ip`, `ip:port`, `[v6]:port` or bare v6; default port 53.
pub fn parse_nameserver(s: &str) -> Result<SocketAddr, ValidationError> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_DNS_PORT));
    }
    let (host, port) =
        split_host_port(s).ok_or_else(|| ValidationError::Nameserver(s.to_string()))?;
    let ip = host
        .parse::<IpAddr>()
        .map_err(|_| ValidationError::Nameserver(s.to_string()))?;
    Ok(SocketAddr::new(ip, parse_port(s, port)?))
}

/// Validate a stub-domain nameserver: like [`parse_nameserver`] but hostnames are allowed.
pub fn validate_stub_nameserver(s: &str) -> Result<(), ValidationError> {
    if parse_nameserver(s).is_ok() {
        return Ok(());
    }
    let (host, port) = match split_host_port(s) {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if let Some(p) = port {
        parse_port(s, p)?;
    }
    if host.parse::<IpAddr>().is_ok() || is_dns1123_subdomain(host) {
        Ok(())
    } else {
        Err(ValidationError::Nameserver(s.to_string()))
    }
}

/// Parse and validate a whole ConfigMap `data` map. Any error rejects the whole update.
pub fn parse_config_data(
    data: &BTreeMap<String, String>,
) -> Result<KubeDnsConfig, ValidationError> {
    let mut cfg = KubeDnsConfig::default();
    if let Some(raw) = data.get("stubDomains") {
        let stubs: BTreeMap<String, Vec<String>> =
            serde_json::from_str(raw).map_err(|e| ValidationError::Json {
                key: "stubDomains",
                reason: e.to_string(),
            })?;
        for (domain, servers) in &stubs {
            if !is_dns1123_subdomain(domain) {
                return Err(ValidationError::StubDomain(domain.clone()));
            }
            for ns in servers {
                validate_stub_nameserver(ns)?;
            }
        }
        cfg.stub_domains = stubs;
    }
    if let Some(raw) = data.get("upstreamNameservers") {
        let list: Vec<String> = serde_json::from_str(raw).map_err(|e| ValidationError::Json {
            key: "upstreamNameservers",
            reason: e.to_string(),
        })?;
        if list.len() > MAX_UPSTREAM_NAMESERVERS {
            return Err(ValidationError::TooManyUpstreams(list.len()));
        }
        cfg.upstream_nameservers = list
            .iter()
            .map(|s| parse_nameserver(s))
            .collect::<Result<_, _>>()?;
    }
    if let Some(raw) = data.get("federations") {
        cfg.federations = parse_federations(raw)?;
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn federations_flag_cases() {
        // Legacy federation flag tests (§7.1 "Other unit suites").
        for ok in ["", "a=b", "a=b,cc=dd", "abc=d.e.f", " a=b , c=d "] {
            assert!(parse_federations(ok).is_ok(), "{ok:?} should parse");
        }
        assert_eq!(
            parse_federations("a=b,cc=dd")
                .unwrap()
                .get("cc")
                .map(String::as_str),
            Some("dd")
        );
        for bad in ["ccdd", "a=b,ccdd", "-", "a.b.c=d.e.f", "a=b=c", "a="] {
            assert!(parse_federations(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn config_validate_cases() {
        // Valid configurations.
        let ok = [
            data(&[]),
            data(&[("federations", "abc=def")]),
            data(&[("stubDomains", r#"{"acme.local": ["1.2.3.4"]}"#)]),
            data(&[(
                "stubDomains",
                r#"{"acme.local": ["1.2.3.4:53", "[2001:db8::1]:5353", "2001:db8::2", "ns.acme.local"]}"#,
            )]),
            data(&[(
                "upstreamNameservers",
                r#"["8.8.8.8", "8.8.4.4:53", "[2001:db8::1]:53"]"#,
            )]),
            data(&[("unknownKey", "whatever")]),
        ];
        for d in &ok {
            assert!(parse_config_data(d).is_ok(), "{d:?} should be valid");
        }
        // Invalid configurations: the legacy Validate table.
        let bad = [
            data(&[("federations", "a.b=example.com")]),
            data(&[("stubDomains", r#"{"": ["1.2.3.4"]}"#)]),
            data(&[("stubDomains", r#"{"$$$$": ["1.2.3.4"]}"#)]),
            data(&[("stubDomains", r#"{"foo": ["$$$$"]}"#)]),
            data(&[("stubDomains", r#"{"foo": ["1.2.3.4:65564"]}"#)]),
            data(&[(
                "upstreamNameservers",
                r#"["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]"#,
            )]),
            data(&[("upstreamNameservers", r#"["1.1.1.1:abc"]"#)]),
            data(&[("upstreamNameservers", r#"["1.1.1.1:"]"#)]),
            data(&[("upstreamNameservers", r#"["1.1.1.1:123456789"]"#)]),
            data(&[("upstreamNameservers", r#"["badNameserver"]"#)]),
            data(&[("upstreamNameservers", r#"["ns.example.com"]"#)]),
            data(&[("upstreamNameservers", r#"["$$$$"]"#)]),
            data(&[("upstreamNameservers", "not json")]),
            data(&[("stubDomains", "[1, 2]")]),
        ];
        for d in &bad {
            assert!(parse_config_data(d).is_err(), "{d:?} should be invalid");
        }
    }

    #[test]
    fn upstream_parsing() {
        let cfg = parse_config_data(&data(&[(
            "upstreamNameservers",
            r#"["192.0.2.123:10086", "192.0.2.123", "[2001:db8::1]:5353"]"#,
        )]))
        .unwrap();
        let want: Vec<SocketAddr> = vec![
            "192.0.2.123:10086".parse().unwrap(),
            "192.0.2.123:53".parse().unwrap(),
            "[2001:db8::1]:5353".parse().unwrap(),
        ];
        assert_eq!(cfg.upstream_nameservers, want);
        assert_eq!(
            parse_nameserver("2001:db8::5").unwrap(),
            "[2001:db8::5]:53".parse().unwrap()
        );
        assert!(parse_nameserver("1.2.3.4:0").is_err());
    }

    #[test]
    fn dns1123() {
        assert!(is_dns1123_label("a-b0"));
        assert!(!is_dns1123_label("A"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_dns1123_subdomain("cluster.local"));
        assert!(!is_dns1123_subdomain("cluster.local."));
        assert!(!is_dns1123_subdomain(""));
    }
}
