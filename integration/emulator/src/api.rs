//! HTTP routing: discovery (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/<g>`,
//! `/apis/<g>/<v>`), the resource paths (cluster-wide, namespaced, `/status`, legacy
//! `/watch/` prefix), and the middleware that logs each request and applies hangs, latency,
//! 500 windows and bearer-token checks (the `/_emulator/` admin paths live in [`super::admin`]; authentication and RBAC
//! in [`super::access`], layered inside the fault layer). Handlers lock the store
//! briefly and encode results; watches are handed to [`super::watch`].
//!
//! This file owns the router and the fault/token middleware; `discovery` serves the
//! discovery, OpenAPI and health paths, `route` parses paths, `resource` handles the
//! verbs on resource paths, `response` encodes answers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::time::Instant;

use super::admin;
use super::shared::Shared;
use super::status::ApiError;
use discovery::{api_groups, api_versions, ok_text, openapi_gv, openapi_root, version};
use resource::resource_handler;

mod discovery;
mod resource;
mod route;

pub use crate::paths::{ADMIN_PREFIX, EMULATED_MINOR};
pub use crate::response::{UNSERVED_BODY, channel_body, error_response, json_response};
pub use route::{Route, parse_path};

/// Builds the router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/api", get(api_versions))
        .route("/apis", get(api_groups))
        .route("/healthz", get(ok_text))
        .route("/livez", get(ok_text))
        .route("/readyz", get(ok_text))
        .route(
            "/_emulator/faults",
            get(admin::faults_get).delete(admin::faults_clear),
        )
        .route("/_emulator/faults/{action}", post(admin::faults_post))
        .route("/_emulator/stats", get(admin::stats))
        .route("/_emulator/requests", get(admin::requests))
        .route(
            "/_emulator/serviceaccounts/{ns}/{name}/token",
            post(admin::mint_token),
        )
        .route("/openapi/v3", get(openapi_root))
        .route("/openapi/v3/{*gv}", get(openapi_gv))
        .fallback(resource_handler)
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            super::access::auth_layer,
        ))
        .layer(middleware::from_fn_with_state(shared.clone(), fault_layer))
        .with_state(shared)
}

async fn fault_layer(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with(ADMIN_PREFIX) {
        return next.run(req).await;
    }
    shared.stats.requests.fetch_add(1, Ordering::Relaxed);
    crate::shared::lock(&shared.stats.log).record(
        req.method().as_str(),
        req.uri().path(),
        req.uri().query(),
    );
    let plural = match parse_path(req.uri().path()) {
        Some(Route::Resource { res, .. }) => Some(res.plural),
        _ => None,
    };
    if !shared.wait_unless_hung(plural).await {
        return error_response(&ApiError::internal("the emulator is shutting down"));
    }
    let (latency, erroring) = {
        let f = shared.faults();
        (f.latency, f.erroring(Instant::now()))
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if erroring {
        return error_response(&ApiError::internal(
            "fault injected: the API server is failing",
        ));
    }
    // With RBAC, authentication is done by `access::auth_layer` (inside this layer).
    if !shared.cfg.rbac
        && let Some(token) = &shared.cfg.token
    {
        let expected = format!("Bearer {token}");
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str())
            && !matches!(req.uri().path(), "/healthz" | "/livez" | "/readyz")
        {
            return error_response(&ApiError::unauthorized());
        }
    }
    next.run(req).await
}
