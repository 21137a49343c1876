//! healthz option parsers: dialect detection and the sidecar and exechealthz flag sets
//! (pflag/Go-flag tokenizer, `--probe` specs, server addresses, Go durations, ports,
//! booleans). Input: NUL-separated strings (the first picks argv0). Invariant: no panic.
#![no_main]

use fuzz_support::strings;
use healthz::{cli, flags};
use healthz::dns::ServerAddr;
use healthz::gotime;
use healthz::sidecar::options::parse_probe;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = strings(data, 16);
    let get = |i: usize| s.get(i).map(String::as_str).unwrap_or("");
    let argv0 = match get(0).len() % 3 {
        0 => "healthz",
        1 => "/usr/bin/exechealthz",
        _ => "k8s-dns-sidecar",
    };
    let args = &s[1.min(s.len())..];
    let _ = cli::parse_args(argv0, args);
    let _ = cli::detect_dialect(get(0), args);
    let _ = parse_probe(get(1));
    let _ = ServerAddr::parse(get(2));
    let _ = gotime::parse_go_duration(get(3));
    let _ = flags::parse_bool("flag", get(4));
    let _ = flags::parse_port("port", get(5));
});
