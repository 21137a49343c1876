//! The `kube-system/kube-dns` ConfigMap as kubedns reads it: [`KubeDnsConfig`] from the
//! `data` map, validated as a whole ([`parse_config_data`]). The value rules are shared with
//! dnsmasq-rs and re-exported here: [`serverkit::configmap`]. Unknown keys are ignored.

use std::collections::BTreeMap;
use std::net::SocketAddr;

pub use serverkit::configmap::{
    DEFAULT_DNS_PORT, MAX_UPSTREAM_NAMESERVERS, ValidationError, is_dns1123_label,
    is_dns1123_subdomain, parse_federations, parse_nameserver, validate_stub_nameserver,
};
use serverkit::configmap::{parse_stub_domains, parse_upstream_nameservers};

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

/// Parse and validate a whole ConfigMap `data` map. Any error rejects the whole update.
pub fn parse_config_data(
    data: &BTreeMap<String, String>,
) -> Result<KubeDnsConfig, ValidationError> {
    let mut cfg = KubeDnsConfig::default();
    if let Some(raw) = data.get("stubDomains") {
        cfg.stub_domains = parse_stub_domains(raw)?;
    }
    if let Some(raw) = data.get("upstreamNameservers") {
        cfg.upstream_nameservers = parse_upstream_nameservers(raw)?
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
    }
}
