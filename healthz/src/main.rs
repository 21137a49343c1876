//! `healthz` binary: parse the command line (either dialect), init logging, bind the
//! HTTP port, run until SIGTERM/SIGINT or `/quit`, exit 0. Usage errors exit 2.

use anyhow::Context as _;
use healthz::cli::{Command, parse_args};
use healthz::{Config, VERSION};
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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
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
        // Install handlers before serving so an early SIGTERM is never fatal.
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        tokio::spawn(signals(term, int, shutdown.clone()));
        healthz::run(config, listener, shutdown).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

async fn signals(
    mut term: tokio::signal::unix::Signal,
    mut int: tokio::signal::unix::Signal,
    shutdown: CancellationToken,
) {
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
        () = shutdown.cancelled() => {}
    }
    shutdown.cancel();
}
