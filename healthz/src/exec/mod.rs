//! exechealthz dialect: one worker per `-cmd` on its own ticker (first run one period
//! after start), and HTTP handlers with the legacy status codes and bodies:
//! last run failed → 503 `Healthz probe on <url> error: …`, result older than
//! `-latency` → 503 `Latest result too old to be useful: ….`, else 200 `ok`.
//! The initial state is a success stamped at start time.

pub mod command;
pub mod options;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dns::SharedExchanger;
use crate::gotime::format_go_time;
use command::run_command;
pub use options::{ExecConfig, ExecProbe};

/// Latest result of one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecResult {
    /// Captured output.
    pub output: String,
    /// Error text (`None` = success).
    pub err: Option<String>,
    /// Wall-clock time of the result (for the body text).
    pub wall: SystemTime,
    /// Monotonic time of the result (for staleness).
    pub at: Instant,
}

impl fmt::Display for ExecResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Result of last exec: {}, at {}, error {}",
            self.output,
            format_go_time(self.wall),
            self.err.as_deref().unwrap_or("None")
        )
    }
}

/// Status code and body for one GET on a probe URL (pure; `now` injected).
pub fn evaluate(
    url: &str,
    result: &ExecResult,
    now: Instant,
    max_latency: Duration,
    legacy_single: bool,
    output_mode: bool,
) -> (u16, String) {
    if result.err.is_some() {
        let prefix = if legacy_single {
            "Healthz probe error".to_string()
        } else {
            format!("Healthz probe on {url} error")
        };
        (503, format!("{prefix}: {result}\n"))
    } else if now.saturating_duration_since(result.at) > max_latency {
        (
            503,
            format!("Latest result too old to be useful: {result}.\n"),
        )
    } else if output_mode {
        (200, result.output.clone())
    } else {
        (200, "ok".to_string())
    }
}

/// One endpoint's state.
#[derive(Debug)]
pub struct Worker {
    /// Definition.
    pub probe: ExecProbe,
    result: Mutex<ExecResult>,
}

impl Worker {
    /// New worker whose initial result is a success stamped now.
    pub fn new(probe: ExecProbe) -> Self {
        Self {
            probe,
            result: Mutex::new(ExecResult {
                output: String::new(),
                err: None,
                wall: SystemTime::now(),
                at: Instant::now(),
            }),
        }
    }

    /// Copy of the latest result.
    pub fn result(&self) -> ExecResult {
        self.result
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, r: ExecResult) {
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = r;
    }
}

/// Runs `worker`'s command every `period` until `shutdown`. A slow command delays the
/// next tick (Go ticker semantics); it never blocks the HTTP handlers.
pub async fn run_worker(
    worker: Arc<Worker>,
    exchanger: SharedExchanger,
    period: Duration,
    timeout: Duration,
    quiet: bool,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if shutdown.run_until_cancelled(ticker.tick()).await.is_none() {
            return;
        }
        if !quiet {
            tracing::info!(cmd = %worker.probe.raw, url = %worker.probe.url, "worker running command");
        }
        let Some(outcome) = shutdown
            .run_until_cancelled(run_command(&worker.probe.command, &exchanger, timeout))
            .await
        else {
            return;
        };
        let was_ok = worker.result().err.is_none();
        match &outcome.err {
            Some(e) if was_ok => {
                tracing::warn!(url = %worker.probe.url, error = %e, output = %outcome.output, "health command failing");
            }
            Some(e) => {
                tracing::debug!(url = %worker.probe.url, error = %e, "health command failed")
            }
            None if !was_ok => {
                tracing::info!(url = %worker.probe.url, "health command succeeding again")
            }
            None => {}
        }
        worker.set(ExecResult {
            output: outcome.output,
            err: outcome.err,
            wall: SystemTime::now(),
            at: Instant::now(),
        });
    }
}

/// Shared state behind the exechealthz handlers.
#[derive(Debug)]
pub struct ExecServer {
    /// Configuration.
    pub config: ExecConfig,
    /// Workers by URL.
    pub workers: HashMap<String, Arc<Worker>>,
    /// Cancelled by `/quit`.
    pub shutdown: CancellationToken,
}

impl ExecServer {
    /// Builds the state; workers start in the initial-success state.
    pub fn new(config: ExecConfig, shutdown: CancellationToken) -> Self {
        let workers = config
            .probes
            .iter()
            .map(|p| (p.url.clone(), Arc::new(Worker::new(p.clone()))))
            .collect();
        Self {
            config,
            workers,
            shutdown,
        }
    }

    /// Starts one worker task per command.
    pub fn spawn_tasks(&self, tracker: &TaskTracker, exchanger: &SharedExchanger) {
        for w in self.workers.values() {
            tracker.spawn(run_worker(
                w.clone(),
                exchanger.clone(),
                self.config.period,
                self.config.timeout,
                self.config.quiet,
                self.shutdown.clone(),
            ));
        }
    }

    /// The HTTP routes (all paths go through one dispatcher, like Go's `ServeMux`).
    pub fn router(self: Arc<Self>) -> Router {
        Router::new().fallback(dispatch).with_state(self)
    }

    fn index(&self) -> String {
        let mut s = String::from("<b> Kubernetes healthz sidecar container </b><br/><br/>");
        for p in &self.config.probes {
            s.push_str(&format!(
                "<a href=\"{0}\">{0}: healthz probe. Returns \"ok\" if the command given through -cmd exits with 0.</a><br/>",
                p.url
            ));
        }
        if self.config.allow_quit {
            s.push_str("<a href=\"/quit\">/quit: Cause this container to exit.</a><br/>");
        }
        s
    }
}

fn go_http_error(code: StatusCode, body: String) -> Response {
    (
        code,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn dispatch(State(s): State<Arc<ExecServer>>, uri: Uri) -> Response {
    let path = uri.path();
    if let Some(w) = s.workers.get(path) {
        if !s.config.quiet {
            tracing::info!(url = %path, cmd = %w.probe.raw, "probe requested");
        }
        let (code, body) = evaluate(
            path,
            &w.result(),
            Instant::now(),
            s.config.latency,
            s.config.legacy_single,
            s.config.output,
        );
        if code == 200 {
            return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response();
        }
        tracing::debug!(url = %path, body = %body.trim_end(), "unhealthy");
        return go_http_error(StatusCode::SERVICE_UNAVAILABLE, body);
    }
    match path {
        "/" => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            s.index(),
        )
            .into_response(),
        "/quit" if s.config.allow_quit => {
            tracing::warn!("shutdown requested via /quit");
            s.shutdown.cancel();
            (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "quitting\n",
            )
                .into_response()
        }
        _ => go_http_error(StatusCode::NOT_FOUND, "404 page not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn result(err: Option<&str>, output: &str, at: Instant) -> ExecResult {
        ExecResult {
            output: output.into(),
            err: err.map(Into::into),
            wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            at,
        }
    }

    #[test]
    fn legacy_bodies() {
        let t0 = Instant::now();
        let lat = Duration::from_secs(30);
        let ok = result(None, "", t0);
        assert_eq!(
            evaluate("/healthz", &ok, t0, lat, false, false),
            (200, "ok".into())
        );
        assert_eq!(
            evaluate(
                "/healthz",
                &ok,
                t0 + Duration::from_secs(30),
                lat,
                false,
                false
            )
            .0,
            200
        );
        assert_eq!(
            evaluate("/healthz", &ok, t0 + Duration::from_secs(31), lat, false, false),
            (
                503,
                "Latest result too old to be useful: Result of last exec: , at 2023-11-14 22:13:20 +0000 UTC, error None.\n".into()
            )
        );
        let bad = result(Some("exit status 1"), "boom\n", t0);
        assert_eq!(
            evaluate("/healthz-kubedns", &bad, t0, lat, false, false),
            (
                503,
                "Healthz probe on /healthz-kubedns error: Result of last exec: boom\n, at 2023-11-14 22:13:20 +0000 UTC, error exit status 1\n".into()
            )
        );
        assert!(
            evaluate("/healthz", &bad, t0, lat, true, false)
                .1
                .starts_with("Healthz probe error: Result of last exec: boom")
        );
        let out = result(None, "hello\n", t0);
        assert_eq!(
            evaluate("/x", &out, t0, lat, false, true),
            (200, "hello\n".into())
        );
    }
}
