//! Named cases for the option meanings, server selection and hosts data.

use super::*;
use crate::flags::{parse_dnsmasq, split_dialects};

fn argv(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn fs(p: &Path) -> std::io::Result<String> {
    match p.to_str() {
        Some("/etc/resolv.conf") => {
            Ok("search x\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\n".into())
        }
        Some("/etc/hosts") => Ok("127.0.0.1 localhost\n10.1.2.3 myhost.example alias # c\n".into()),
        Some("/extra") => Ok("10.9.9.9 extra.host\n".into()),
        _ => Err(std::io::Error::other("missing")),
    }
}

fn cfg(args: &str) -> Config {
    let inv = split_dialects(&argv(args)).unwrap();
    let o = parse_dnsmasq(&inv.dnsmasq_args, &fs, None).unwrap();
    Config::build(&o, &fs).unwrap().0
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn manifest_13() {
    let c = cfg("--cache-size=1000 --no-resolv --server=127.0.0.1#10053");
    assert_eq!(c.cache_size, 1000);
    assert!(c.no_resolv);
    assert_eq!(c.default_servers, vec![sa("127.0.0.1:10053")]);
    assert_eq!(c.log_facility, LogTarget::Stderr);
    assert!(c.hosts.by_name.contains_key("localhost"));
    assert_eq!(c.forward_max, 150);
    assert_eq!(c.port, 53);
    assert_eq!(c.lame_duck, DEFAULT_LAME_DUCK);
    assert_eq!(c.drain_timeout, DEFAULT_DRAIN_TIMEOUT);
}

#[test]
fn allow_from_networks() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let c = cfg("--no-resolv");
    assert!(c.client_allowed(ip("203.0.113.9")), "empty list: everyone");
    let c = cfg(
        "--no-resolv --allow-from=10.0.0.0/8,127.0.0.1 --allow-from fd00::/8 \
         --allow-from=192.168.1.77/24",
    );
    for ok in [
        "10.0.0.1",
        "10.255.255.255",
        "127.0.0.1",
        "fd12::1",
        "::ffff:10.1.2.3",
        "192.168.1.1",
    ] {
        assert!(c.client_allowed(ip(ok)), "{ok}");
    }
    for no in [
        "11.0.0.1",
        "127.0.0.2",
        "fe80::1",
        "::1",
        "192.168.2.1",
        "::a00:1",
    ] {
        assert!(!c.client_allowed(ip(no)), "{no}");
    }
    assert!(cfg("--no-resolv --allow-from=0.0.0.0/0").client_allowed(ip("1.2.3.4")));
    assert!(!cfg("--no-resolv --allow-from=0.0.0.0/0").client_allowed(ip("::2")));
    assert!(cfg("--no-resolv --allow-from=::/0").client_allowed(ip("2001:db8::1")));
    for bad in [
        "--allow-from=10.0.0.0/33",
        "--allow-from=fd00::/129",
        "--allow-from=10.0.0.0/",
        "--allow-from=example.com",
        "--allow-from=10.0.0.0/8,",
    ] {
        let o = parse_dnsmasq(&argv(bad), &fs, None).unwrap();
        assert!(Config::build(&o, &fs).is_err(), "{bad}");
    }
}

#[test]
fn dns_0x20_and_minimal_any() {
    let c = cfg("--no-resolv");
    assert_eq!((c.dns_0x20, c.minimal_any), (CaseMode::Off, false));
    for (args, mode) in [
        ("--dns-0x20", CaseMode::Fallback),
        ("--dns-0x20=fallback", CaseMode::Fallback),
        ("--dns-0x20=strict", CaseMode::Strict),
        ("--dns-0x20=strict --dns-0x20=off", CaseMode::Off),
    ] {
        assert_eq!(cfg(&format!("--no-resolv {args}")).dns_0x20, mode, "{args}");
    }
    assert!(cfg("--no-resolv --minimal-any").minimal_any);
    let o = parse_dnsmasq(&argv("--dns-0x20=always"), &fs, None).unwrap();
    let e = Config::build(&o, &fs).unwrap_err().to_string();
    assert!(e.contains("dns-0x20") && e.contains("strict"), "{e}");
}

#[test]
fn lame_duck_and_drain_timeout() {
    let c = cfg("--no-resolv --lame-duck=2s --drain-timeout 1.5");
    assert_eq!(c.lame_duck, Duration::from_secs(2));
    assert_eq!(c.drain_timeout, Duration::from_millis(1500));
    let c = cfg("--no-resolv --lame-duck=0 --drain-timeout=1m");
    assert_eq!(c.lame_duck, Duration::ZERO);
    assert_eq!(c.drain_timeout, Duration::from_secs(60));
    for bad in ["--lame-duck=soon", "--drain-timeout=-1s", "--lame-duck=5y"] {
        let o = parse_dnsmasq(&argv(bad), &fs, None).unwrap();
        let e = Config::build(&o, &fs).unwrap_err();
        assert!(
            matches!(&e, ConfigError::Flag(FlagError::BadValue { .. })),
            "{bad}: {e}"
        );
    }
}

#[test]
fn manifest_14() {
    let c = cfg("--cache-size=1000 --no-resolv --server=127.0.0.1#10053 --log-facility=-");
    assert_eq!(c.log_facility, LogTarget::Stderr);
    assert_eq!(c.default_servers, vec![sa("127.0.0.1:10053")]);
}

fn nanny(extra: &str) -> Config {
    cfg(&format!(
        "-v=2 -logtostderr -configDir=/etc/k8s/dns/dnsmasq-nanny -restartDnsmasq=true -- -k \
         --cache-size=1000 {extra} --log-facility=- --server=/cluster.local/127.0.0.1#10053 \
         --server=/in-addr.arpa/127.0.0.1#10053 --server=/ip6.arpa/127.0.0.1#10053"
    ))
}

#[test]
fn manifest_nanny_eras() {
    for (extra, negcache, loopd) in [
        ("", false, false),
        ("--no-negcache", true, false),
        ("--no-negcache --dns-loop-detect", true, true),
    ] {
        let c = nanny(extra);
        assert_eq!(c.no_negcache, negcache);
        assert_eq!(c.loop_detect, loopd);
        assert!(c.keep_in_foreground);
        assert_eq!(c.cache_size, 1000);
        let k = vec![sa("127.0.0.1:10053")];
        for d in ["cluster.local", "in-addr.arpa", "ip6.arpa"] {
            assert_eq!(c.domains.get(d), Some(&Action::Forward(k.clone())), "{d}");
        }
        // Not --no-resolv: the node's resolv.conf provides default servers.
        assert_eq!(
            c.default_servers,
            // `fe80::1%eth0`: a named zone cannot become a scope id; skipped, not
            // used with the wrong (zero) scope.
            vec![sa("10.0.0.2:53")]
        );
    }
}

#[test]
fn server_selection_longest_match() {
    let c = cfg(
        "--no-resolv --server=1.1.1.1 --server=/cluster.local/127.0.0.1#10053 \
         --server=/svc.cluster.local/127.0.0.2#53 --server=/local.only/ \
         --address=/ads.example/0.0.0.0 --server=/a.local.only/# --server=/[v6].x/[::1]#5353",
    );
    assert_eq!(
        c.route("kubernetes.default.svc.cluster.local"),
        Route::Forward(&[sa("127.0.0.2:53")])
    );
    assert_eq!(
        c.route("pod.cluster.local"),
        Route::Forward(&[sa("127.0.0.1:10053")])
    );
    assert_eq!(
        c.route("cluster.local"),
        Route::Forward(&[sa("127.0.0.1:10053")])
    );
    assert_eq!(
        c.route("xcluster.local"),
        Route::Forward(&[sa("1.1.1.1:53")])
    );
    assert_eq!(c.route("example.com"), Route::Forward(&[sa("1.1.1.1:53")]));
    assert_eq!(c.route("foo.local.only"), Route::Local);
    assert_eq!(
        c.route("b.a.local.only"),
        Route::Forward(&[sa("1.1.1.1:53")])
    );
    assert_eq!(
        c.route("x.ads.example"),
        Route::Address(&["0.0.0.0".parse().unwrap()])
    );
    assert_eq!(c.route("q.[v6].x"), Route::Forward(&[sa("[::1]:5353")]));
}

#[test]
fn server_forms() {
    assert_eq!(parse_server_addr("1.2.3.4"), Some(sa("1.2.3.4:53")));
    assert_eq!(
        parse_server_addr("1.2.3.4#10053"),
        Some(sa("1.2.3.4:10053"))
    );
    assert_eq!(
        parse_server_addr("[2001:db8::1]#53"),
        Some(sa("[2001:db8::1]:53"))
    );
    assert_eq!(
        parse_server_addr("[2001:db8::2]"),
        Some(sa("[2001:db8::2]:53"))
    );
    assert_eq!(
        parse_server_addr("2001:db8::3"),
        Some(sa("[2001:db8::3]:53"))
    );
    assert_eq!(parse_server_addr("host.example"), None);
    assert_eq!(parse_server_addr("1.2.3.4#0"), None);
    let o = parse_dnsmasq(&argv("--server=/x/notanip"), &fs, None).unwrap();
    assert!(Config::build(&o, &fs).is_err());
}

#[test]
fn hosts_and_options() {
    let c = cfg(
        "-h -H /extra --max-ttl=30 --max-cache-ttl=30 --min-cache-ttl=5 --neg-ttl=7 \
                 -0 1500 --strict-order --all-servers -p 5353 -a 127.0.0.1,::1 -u nobody",
    );
    assert!(!c.hosts.by_name.contains_key("localhost"));
    assert_eq!(
        c.hosts.by_name["extra.host"],
        vec!["10.9.9.9".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(c.hosts.reverse("9.9.9.10.in-addr.arpa"), Some("extra.host"));
    assert_eq!(
        (c.max_ttl, c.max_cache_ttl, c.min_cache_ttl),
        (Some(30), Some(30), 5)
    );
    assert_eq!(c.neg_ttl, Some(7));
    assert_eq!(c.forward_max, 1500);
    assert!(c.strict_order && c.all_servers);
    assert_eq!(c.port, 5353);
    assert_eq!(c.listen_addresses.len(), 2);
    assert_eq!(c.user.as_deref(), Some("nobody"));
    let c = cfg("-h --host-record=h1.bench.test,10.0.0.1 --host-record=a.x,b.x,10.0.0.2,::2,3600");
    assert_eq!(
        c.hosts.by_name["h1.bench.test"],
        vec!["10.0.0.1".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(c.hosts.by_name["b.x"].len(), 2);
    assert_eq!(c.hosts.reverse("2.0.0.10.in-addr.arpa"), Some("a.x"));
    let c = cfg("--log-facility=/var/log/x.log --log-queries");
    assert_eq!(c.log_facility, LogTarget::File("/var/log/x.log".into()));
    assert!(c.log_queries);
}
