//! The `kube-system/kube-dns` ConfigMap values both consumers validate, written once with the
//! legacy rules (`pkg/dns/config/config.go` `Validate`, `pkg/dns/federation`): kubedns uses
//! `upstreamNameservers` and `federations`, dnsmasq-rs (the nanny part) `stubDomains` and
//! `upstreamNameservers`; each rejects a whole update when any key is invalid.
//!
//! * `stubDomains`: JSON object `{"<domain>": ["<ns>", …]}`; domain a DNS-1123 subdomain, each
//!   ns `ip`, `ip:port`, `[v6]:port`, bare v6 or a DNS-1123 hostname (optionally `:port`).
//! * `upstreamNameservers`: JSON array, at most [`MAX_UPSTREAM_NAMESERVERS`] entries, each
//!   `ip`, `ip:port`, `[v6]:port` or bare v6 (no hostnames), port 1–65535. A bracketed
//!   address needs a port (`[v6]` alone is not `net.SplitHostPort` syntax).
//! * `federations`: not JSON; `name=domain[,name=domain]`, name a DNS-1123 label, domain a
//!   DNS-1123 subdomain.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// Most upstream nameservers a ConfigMap may list (legacy limit).
pub const MAX_UPSTREAM_NAMESERVERS: usize = 3;
/// Port used when a nameserver has none.
pub const DEFAULT_DNS_PORT: u16 = 53;
/// Longest DNS-1123 label (RFC 1035 §2.3.4).
pub const MAX_DNS1123_LABEL: usize = 63;
/// Longest DNS-1123 subdomain.
pub const MAX_DNS1123_SUBDOMAIN: usize = 253;

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

/// DNS-1123 label as Kubernetes checks it: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, 1–63 chars.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_DNS1123_LABEL
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// DNS-1123 subdomain as Kubernetes checks it: dot-separated labels, at most 253 chars, no
/// trailing dot.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_DNS1123_SUBDOMAIN && s.split('.').all(is_dns1123_label)
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

/// A stub-domain nameserver as written in the ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nameserver {
    /// An address; `port` when one was given.
    Ip { ip: IpAddr, port: Option<u16> },
    /// A DNS-1123 host name (stub domains only), resolved by the consumer.
    Host { name: String, port: Option<u16> },
}

/// Parse a nameserver: `ip`, bare v6, `ip:port`, `[v6]:port`, and with `allow_host` a DNS-1123
/// host name, optionally `:port`.
pub fn parse_nameserver_entry(s: &str, allow_host: bool) -> Result<Nameserver, ValidationError> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Nameserver::Ip { ip, port: None });
    }
    let (host, port) = match split_host_port(s) {
        Some((h, p)) => (h, Some(parse_port(s, p)?)),
        None => (s, None),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Nameserver::Ip { ip, port });
    }
    if allow_host && !host.contains(['[', ']']) && is_dns1123_subdomain(host) {
        return Ok(Nameserver::Host {
            name: host.to_string(),
            port,
        });
    }
    Err(ValidationError::Nameserver(s.to_string()))
}

/// Parse an upstream nameserver (no host names); default port 53.
pub fn parse_nameserver(s: &str) -> Result<SocketAddr, ValidationError> {
    match parse_nameserver_entry(s, false)? {
        Nameserver::Ip { ip, port } => Ok(SocketAddr::new(ip, port.unwrap_or(DEFAULT_DNS_PORT))),
        Nameserver::Host { .. } => Err(ValidationError::Nameserver(s.to_string())),
    }
}

/// Validate a stub-domain nameserver: like [`parse_nameserver`] but host names are allowed.
pub fn validate_stub_nameserver(s: &str) -> Result<(), ValidationError> {
    parse_nameserver_entry(s, true).map(|_| ())
}

/// The `stubDomains` value, validated (domains and nameservers as written).
pub fn parse_stub_domains(raw: &str) -> Result<BTreeMap<String, Vec<String>>, ValidationError> {
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
    Ok(stubs)
}

/// The `upstreamNameservers` value, validated; entries as written, in order.
pub fn parse_upstream_nameservers(raw: &str) -> Result<Vec<String>, ValidationError> {
    let list: Vec<String> = serde_json::from_str(raw).map_err(|e| ValidationError::Json {
        key: "upstreamNameservers",
        reason: e.to_string(),
    })?;
    if list.len() > MAX_UPSTREAM_NAMESERVERS {
        return Err(ValidationError::TooManyUpstreams(list.len()));
    }
    for s in &list {
        parse_nameserver(s)?;
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn nameserver_forms() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let cases: &[(&str, bool, Option<Nameserver>)] = &[
            (
                "1.2.3.4",
                false,
                Some(Nameserver::Ip {
                    ip: [1, 2, 3, 4].into(),
                    port: None,
                }),
            ),
            (
                "1.2.3.4:10053",
                false,
                Some(Nameserver::Ip {
                    ip: [1, 2, 3, 4].into(),
                    port: Some(10053),
                }),
            ),
            (
                "2001:db8::1",
                false,
                Some(Nameserver::Ip { ip: v6, port: None }),
            ),
            (
                "[2001:db8::1]:5353",
                false,
                Some(Nameserver::Ip {
                    ip: v6,
                    port: Some(5353),
                }),
            ),
            (
                "ns.acme.local",
                true,
                Some(Nameserver::Host {
                    name: "ns.acme.local".into(),
                    port: None,
                }),
            ),
            (
                "ns.acme.local:54",
                true,
                Some(Nameserver::Host {
                    name: "ns.acme.local".into(),
                    port: Some(54),
                }),
            ),
            ("ns.acme.local", false, None),
            ("[2001:db8::1]", true, None),
            ("1.2.3.4:0", false, None),
            ("1.2.3.4:+53", false, None),
            ("1.2.3.4:65536", false, None),
            ("1.2.3.4:", false, None),
            ("bad_host", true, None),
            ("Ns.Acme", true, None),
            ("$$$$", true, None),
        ];
        for (s, allow_host, want) in cases {
            assert_eq!(parse_nameserver_entry(s, *allow_host).ok(), *want, "{s}");
        }
        assert_eq!(
            parse_nameserver("2001:db8::5").unwrap(),
            "[2001:db8::5]:53".parse().unwrap()
        );
    }

    #[test]
    fn values() {
        let stubs =
            parse_stub_domains(r#"{"acme.local": ["1.2.3.4:53", "ns.acme.local"]}"#).unwrap();
        assert_eq!(stubs["acme.local"].len(), 2);
        for bad in [
            r#"{"": ["1.2.3.4"]}"#,
            r#"{"acme.local.": ["1.1.1.1"]}"#,
            r#"{"foo": ["1.2.3.4:65564"]}"#,
            "[1, 2]",
        ] {
            assert!(parse_stub_domains(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_upstream_nameservers(r#"["8.8.8.8", "[2001:db8::1]:53"]"#)
                .unwrap()
                .len(),
            2
        );
        for bad in [
            r#"["1", "2", "3", "4"]"#,
            r#"["1.1.1.1","2.2.2.2","3.3.3.3","4.4.4.4"]"#,
            r#"["dns.google"]"#,
            "{}",
            "not json",
        ] {
            assert!(parse_upstream_nameservers(bad).is_err(), "{bad}");
        }
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
