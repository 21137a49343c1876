//! kubedns text parsers: ConfigMap data (`stubDomains`, `upstreamNameservers`,
//! `federations`) through the validator and the config tracker, the `--federations` flag,
//! the legacy CLI with environment expansion, Go durations/ints/bools, resolv.conf, and the
//! reverse-name helpers. Input: NUL-separated strings. Invariants: no panic; reverse names
//! round-trip (IPv4-mapped IPv6 addresses canonicalise to IPv4 by design); a validated config stays within its limits.
#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use fuzz_support::{kv_map, strings};
use kubedns::cli;
use kubedns::config::validate::{
    parse_config_data, parse_federations, parse_nameserver, validate_stub_nameserver,
};
use kubedns::config::{ConfigTracker, ConfigUpdate, resolv};
use kubedns::names;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = strings(data, 16);
    let get = |i: usize| s.get(i).map(String::as_str).unwrap_or("");

    // ConfigMap data: three keys, validated, then applied through the tracker.
    let mut cm = BTreeMap::new();
    for (i, key) in ["stubDomains", "upstreamNameservers", "federations"]
        .into_iter()
        .enumerate()
    {
        if let Some(v) = s.get(i) {
            cm.insert(key.to_string(), v.clone());
        }
    }
    if let Ok(cfg) = parse_config_data(&cm) {
        assert!(
            cfg.upstream_nameservers.len() <= 3,
            "more than 3 upstream nameservers accepted"
        );
    }
    let mut tracker = ConfigTracker::new();
    let _ = tracker.apply(&ConfigUpdate {
        version: get(3).to_string(),
        data: cm.clone(),
    });
    let _ = tracker.effective(Vec::new());
    let _ = tracker.apply(&ConfigUpdate {
        version: get(4).to_string(),
        data: kv_map(get(4)),
    });

    let _ = parse_federations(get(0));
    let _ = parse_nameserver(get(1));
    let _ = validate_stub_nameserver(get(2));
    let _ = resolv::parse_resolv_conf(get(3));

    // CLI: the strings are argv; key=value lines of the last one are the environment.
    let env: HashMap<String, String> = kv_map(get(s.len().saturating_sub(1))).into_iter().collect();
    let _ = cli::parse(&s, &env);
    let _ = cli::normalize_domain(get(0));
    let _ = cli::validate_master_url(get(1), &env);
    let _ = cli::parse_go_duration(get(2));
    let _ = cli::parse_go_int(get(3));
    let _ = cli::parse_go_bool(get(4));
    let _ = cli::expand_env(get(5), &env);

    // Reverse names: parse arbitrary labels; round-trip addresses built from the input.
    let labels: Vec<&str> = get(6).split('.').collect();
    let _ = names::parse_reverse(&labels);
    let _ = names::parse_dashed_ipv4(get(7));
    let ip = if data.len() >= 16 {
        let mut b = [0u8; 16];
        b.copy_from_slice(&data[..16]);
        IpAddr::from(b)
    } else if data.len() >= 4 {
        IpAddr::from([data[0], data[1], data[2], data[3]])
    } else {
        return;
    };
    let rev = names::reverse_name(ip);
    let rev_labels: Vec<&str> = rev.trim_end_matches('.').split('.').collect();
    assert_eq!(
        names::parse_reverse(&rev_labels),
        Some(ip.to_canonical()),
        "reverse name {rev} does not parse back"
    );
});
