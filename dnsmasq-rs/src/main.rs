//! `dnsmasq-rs` binary: parse argv (nanny or dnsmasq dialect), init logging, bind sockets,
//! apply the initial ConfigMap, and serve until SIGTERM/SIGINT; then lame-duck, drain, exit 0.

use std::path::PathBuf;

use dnsmasq_rs::config::LogTarget;
use dnsmasq_rs::{flags, reload, run};

const DEFAULT_CONF: &str = "/etc/dnsmasq.conf";
/// After `run` returns, leftover blocking work (a system-resolver lookup) gets this long.
const RUNTIME_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

fn init_tracing(target: &LogTarget, verbosity: u32) {
    let default = if verbosity >= 4 { "debug" } else { "info" };
    let file = match target {
        LogTarget::File(p) => Some(p.as_path()),
        LogTarget::Stderr | LogTarget::Syslog(_) => None,
    };
    serverkit::logging::init(default, file);
}

/// dnsmasq's `--version` (alone or among other arguments, in either dialect): one line, exit 0.
const VERSION_FLAG: &str = "--version";

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == VERSION_FLAG) {
        println!(
            "dnsmasq-rs version {} (kube-dns-rs)",
            env!("CARGO_PKG_VERSION")
        );
        return std::process::ExitCode::SUCCESS;
    }
    let inv = match flags::split_dialects(&args) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("dnsmasq-rs: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let default_conf = PathBuf::from(DEFAULT_CONF);
    let (cfg, warnings) = match reload::build_config(&inv.dnsmasq_args, Some(&default_conf)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dnsmasq-rs: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let verbosity = inv.nanny.as_ref().map_or(0, |n| n.verbosity);
    init_tracing(&cfg.log_facility, verbosity);
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let workers = cfg
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dnsmasq-rs: cannot start runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let result = rt.block_on(run::start(inv, cfg, warnings, workers, default_conf));
    rt.shutdown_timeout(RUNTIME_SHUTDOWN_GRACE);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
