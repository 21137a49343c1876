//! The admin paths under `/_emulator/` (never subject to faults or auth): fault injection
//! (`GET`/`DELETE /_emulator/faults`, `POST /_emulator/faults/{action}`) and counters
//! (`GET /_emulator/stats`). Actions: `close-watches`, `outage` (`mode`: `error500` |
//! `refuse`, `seconds`), `forbid` / `allow` (`resource`), `gone-next-watch` (`count`,
//! optional `resource`), `error-next-watch` (`count`, optional `resource`), `hang` / `unhang`
//! (`resource`, `*` for every request), `compact`, `latency` (`millis`), and the request log
//! (`GET /_emulator/requests`). `POST
//! /_emulator/serviceaccounts/{ns}/{name}/token` mints a service-account bearer token
//! (`{"token": …, "user": …}`) for RBAC-enabled emulators.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::Shared;
use super::faults::OutageMode;
use super::resources;
use super::status::ApiError;
use crate::response::{error_response, json_response};

pub async fn faults_get(State(shared): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, &shared.faults_view())
}

pub async fn faults_clear(State(shared): State<Arc<Shared>>) -> Response {
    shared.clear_faults();
    json_response(StatusCode::OK, &shared.faults_view())
}

/// Body of `POST /_emulator/faults/{action}` (every field optional).
#[derive(Debug, Default, Deserialize)]
struct FaultBody {
    seconds: Option<f64>,
    millis: Option<u64>,
    mode: Option<OutageMode>,
    resource: Option<String>,
    count: Option<u32>,
}

pub async fn faults_post(
    State(shared): State<Arc<Shared>>,
    Path(action): Path<String>,
    body: Bytes,
) -> Response {
    let b: FaultBody = if body.is_empty() {
        FaultBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return error_response(&ApiError::bad_request(format!("fault body: {e}"))),
        }
    };
    let secs = Duration::from_secs_f64(b.seconds.unwrap_or(5.0).clamp(0.0, 86_400.0));
    match action.as_str() {
        "close-watches" => shared.close_watches(),
        "outage" => shared.outage(b.mode.unwrap_or(OutageMode::Error500), secs),
        "forbid" => {
            let Some(r) = b.resource else {
                return error_response(&ApiError::bad_request("forbid needs \"resource\""));
            };
            shared.faults().forbidden.insert(r);
            shared.close_watches();
        }
        "allow" => {
            let Some(r) = b.resource else {
                return error_response(&ApiError::bad_request("allow needs \"resource\""));
            };
            shared.faults().forbidden.remove(&r);
        }
        "unserve" => {
            let Some(r) = b.resource else {
                return error_response(&ApiError::bad_request("unserve needs \"resource\""));
            };
            shared.faults().unserved.insert(r);
            shared.close_watches();
        }
        "serve" => {
            let Some(r) = b.resource else {
                return error_response(&ApiError::bad_request("serve needs \"resource\""));
            };
            shared.faults().unserved.remove(&r);
        }
        "hang" | "unhang" => {
            let Some(r) = b.resource else {
                return error_response(&ApiError::bad_request(format!(
                    "{action} needs \"resource\" (\"*\" for every request)"
                )));
            };
            if action == "hang" {
                shared.hang(&r);
            } else {
                shared.unhang(&r);
            }
        }
        "error-next-watch" => {
            let mut f = shared.faults();
            f.error_next_watches = b.count.unwrap_or(1);
            f.error_watch_resource = b.resource;
        }
        "gone-next-watch" => {
            let mut f = shared.faults();
            f.gone_next_watches = b.count.unwrap_or(1);
            f.gone_resource = b.resource;
        }
        "compact" => {
            shared.store().compact();
            shared.close_watches();
        }
        "latency" => shared.faults().latency = Duration::from_millis(b.millis.unwrap_or(0)),
        other => return error_response(&ApiError::no_route(&format!("/_emulator/faults/{other}"))),
    }
    json_response(StatusCode::OK, &shared.faults_view())
}

pub async fn mint_token(
    State(shared): State<Arc<Shared>>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    let token = shared.mint_service_account_token(&ns, &name);
    json_response(
        StatusCode::CREATED,
        &json!({"token": token, "user": super::rbac::service_account_username(&ns, &name)}),
    )
}

pub async fn requests(State(shared): State<Arc<Shared>>) -> Response {
    let view = crate::shared::lock(&shared.stats.log).view();
    json_response(StatusCode::OK, &view)
}

pub async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let st = shared.store();
    let counts: HashMap<&str, usize> = resources::RESOURCES
        .iter()
        .map(|r| (r.plural, st.count(r)))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "resourceVersion": st.resource_version().to_string(),
            "compactedResourceVersion": st.compacted_rv().to_string(),
            "requests": shared.stats.requests.load(Ordering::Relaxed),
            "activeWatches": shared.stats.active_watches.load(Ordering::Relaxed),
            "watchesStarted": shared.stats.watches_started.load(Ordering::Relaxed),
            "objects": counts,
        }),
    )
}
