//! `healthz` binary: parse the command line (either dialect), init logging, bind the
//! HTTP port, run until SIGTERM/SIGINT or `/quit`, exit 0. Usage errors exit 2.

use anyhow::Context as _;
use healthz::cli::{Command, parse_args};
use healthz::{Config, VERSION};
use serverkit::lifecycle::{self, Shutdown};
use tokio_util::sync::CancellationToken;

fn main() {
    let mut argv = std::env::args();
    let argv0 = argv.next().unwrap_or_default();
    let args: Vec<String> = argv.collect();
    let config = match parse_args(&argv0, &args) {
        Ok(Command::Run(c)) => c,
        Ok(Command::Version) => {
            println!("{VERSION}");
            return;
        }
        Ok(Command::Help(text)) => {
            print!("{text}");
            return;
        }
        Err(e) => {
            eprintln!("healthz: {e}");
            std::process::exit(2);
        }
    };
    init_tracing(&config);
    if let Err(e) = serve(config) {
        tracing::error!(error = format!("{e:#}"), "fatal");
        std::process::exit(1);
    }
}

fn init_tracing(config: &Config) {
    let default = match config {
        Config::Sidecar(c) if c.verbosity >= 6 => "trace",
        Config::Sidecar(c) if c.verbosity >= 4 => "debug",
        Config::Exec(c) if c.quiet => "warn",
        _ => "info",
    };
    serverkit::logging::init(default, None);
}

fn serve(config: Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async move {
        // Sidecar: IP literal (brackets optional) or host name; exechealthz: all IPv4.
        let (host, port) = match &config {
            Config::Sidecar(c) => (
                c.prometheus_addr
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                c.prometheus_port,
            ),
            Config::Exec(c) => ("0.0.0.0".to_string(), c.port),
        };
        let listener = tokio::net::TcpListener::bind((host.as_str(), port))
            .await
            .with_context(|| format!("bind {host}:{port}"))?;
        tracing::info!(version = VERSION, ?config, "starting healthz");
        let shutdown = CancellationToken::new();
        // Installed before serving so an early SIGTERM is never fatal. healthz has no
        // lame-duck period: the first signal stops it.
        lifecycle::watch_signals(&Shutdown::from(shutdown.clone())).context("signal handlers")?;
        healthz::run(config, listener, shutdown).await?;
        tracing::info!("stopped");
        Ok(())
    })
}
