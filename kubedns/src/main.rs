//! `kubedns` binary: parse flags, install tracing, bind sockets, run (everything else is in the
//! library). Exit codes: 0 clean shutdown / `--version` / `--help`, 2 bad flags, 1 fatal error.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::Context as _;
use kubedns::cli::{self, CliError, Options};
use kubedns::lifecycle::Shutdown;
use kubedns::run::{bind_sockets, describe, run};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let opts = match cli::parse(&args, &env) {
        Ok(o) => o,
        Err(CliError::Help) => {
            eprint!("{}", cli::usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("kubedns: {e} (see --help)");
            return ExitCode::from(2);
        }
    };
    if let Some(mode) = opts.version {
        println!("{}", cli::version_text(mode));
        return ExitCode::SUCCESS;
    }
    serverkit::logging::init(&cli::tracing_filter_for(opts.verbosity), None);
    if !opts.ignored_args.is_empty() {
        tracing::warn!(args = ?opts.ignored_args, "ignoring positional arguments");
    }
    if opts.profiling {
        tracing::warn!("--profiling: pprof is not available in kube-dns-rs; flag ignored");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kubedns: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(async_main(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("kubedns: fatal: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn async_main(opts: Options) -> anyhow::Result<()> {
    let sockets = bind_sockets(&opts)?;
    let (udp, tcp, healthz, metrics) = describe(&sockets);
    let show =
        |a: Option<std::net::SocketAddr>| a.map_or_else(|| "-".to_string(), |a| a.to_string());
    // One stable line a harness can parse to learn ports chosen with `0`.
    tracing::info!(
        version = cli::VERSION,
        domain = %opts.domain,
        dns_udp = %show(udp.first().copied()),
        udp_sockets = udp.len(),
        dns_tcp = %show(tcp.first().copied()),
        healthz = %show(healthz),
        metrics = %show(metrics),
        "kubedns listening"
    );
    let shutdown = Shutdown::new();
    serverkit::lifecycle::watch_signals(&shutdown).context("cannot install signal handlers")?;
    run(opts, sockets, shutdown).await?;
    Ok(())
}
