//! Tracing setup shared by the binaries: one `fmt` subscriber on stderr (ANSI colours only on
//! a terminal) or appended to a file, filtered by `RUST_LOG` when set and otherwise by the
//! binary's default filter (each binary maps its glog `--v` onto one).

use std::io::IsTerminal as _;
use std::path::Path;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `log_file`: append there instead of stderr; when it
/// cannot be opened, logs go to stderr and the first line says why.
pub fn init(default_filter: &str, log_file: Option<&Path>) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let opened = log_file.map(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| (p, e))
    });
    match opened {
        Some(Ok(f)) => builder
            .with_writer(std::sync::Mutex::new(f))
            .with_ansi(false)
            .init(),
        other => {
            builder
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .init();
            if let Some(Err((path, err))) = other {
                tracing::warn!(path = %path.display(), %err, "cannot open the log file; logging to stderr");
            }
        }
    }
}
