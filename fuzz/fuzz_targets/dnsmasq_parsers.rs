//! dnsmasq-rs text parsers: the argv dialect split (nanny | dnsmasq), dnsmasq options with
//! nested conf files (every path reads the same fuzz text, so include loops are exercised),
//! the configuration builder (resolv.conf, hosts, host-record, server specs), and the nanny
//! ConfigMap translation. Input: NUL-separated strings. Invariants: no panic, termination,
//! and a ConfigMap the nanny accepts translates into arguments that dnsmasq-rs accepts.
#![no_main]

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::path::Path;

use dnsmasq_rs::config::{self, Config, Hosts};
use dnsmasq_rs::{flags, nanny};
use fuzz_support::strings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = strings(data, 16);
    let get = |i: usize| s.get(i).map(String::as_str).unwrap_or("");
    let file = get(0).to_string();
    let read = move |_: &Path| -> io::Result<String> { Ok(file.clone()) };

    // argv → dialects → options (+ conf files) → configuration
    if let Ok(inv) = flags::split_dialects(&s[1.min(s.len())..])
        && let Ok(o) = flags::parse_dnsmasq(&inv.dnsmasq_args, &read, None)
    {
        let _ = Config::build(&o, &read);
    }
    let _ = flags::parse_dnsmasq(&s, &read, Some(Path::new("/etc/dnsmasq.conf")));
    let _ = flags::parse_go_duration(get(1));

    let _ = config::parse_resolv_conf(get(1));
    let _ = config::parse_server_addr(get(2));
    let _ = config::reverse_name_to_ip(get(3));
    let mut hosts = Hosts::default();
    hosts.add_text(get(4));
    let _ = hosts.add_host_record(get(5));
    let _ = hosts.reverse(get(6));

    // nanny: ConfigMap files → validated config → dnsmasq arguments
    let mut files = BTreeMap::new();
    files.insert("stubDomains".to_string(), get(1).to_string());
    files.insert("upstreamNameservers".to_string(), get(2).to_string());
    let _ = nanny::version_of(&files);
    let _ = nanny::is_dns1123_subdomain(get(3));
    if let Ok(cfg) = nanny::parse_config(&files) {
        let _ = nanny::hostnames(&cfg);
        let resolved = |_: &str| Some(IpAddr::from([10, 0, 0, 10]));
        let args = nanny::translate(&cfg, &resolved);
        let no_fs = |_: &Path| -> io::Result<String> { Err(io::Error::other("no fs")) };
        let o = match flags::parse_dnsmasq(&args, &no_fs, None) {
            Ok(o) => o,
            Err(e) => panic!("nanny output {args:?} rejected by the dnsmasq flag parser: {e}"),
        };
        if let Err(e) = Config::build(&o, &no_fs) {
            panic!("nanny output {args:?} rejected by the configuration builder: {e}");
        }
    }
});
