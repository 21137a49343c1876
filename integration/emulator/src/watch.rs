//! Watch streams: newline-delimited JSON `{"type":…,"object":…}` events (ADDED, MODIFIED,
//! DELETED, BOOKMARK, ERROR) over a chunked `application/json` response, with kube-apiserver
//! semantics: start from a resourceVersion (replay) or from "now" (synthetic ADDED for the
//! current state), `sendInitialEvents` + initial-events-end bookmark, selector transitions
//! (an object leaving a selector is DELETED for that watch), periodic BOOKMARKs,
//! `timeoutSeconds`, ERROR 410 Gone for compacted versions; a lagging consumer's stream is
//! closed and a watch from a future version waits for the store (before 1.32: gets "Too large
//! resource version"; see [`super::semantics`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::meta::labels;
use super::resources::ResourceDef;
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{Event, EventType};
use super::{Shared, table};
use crate::response::{channel_body, error_response};

/// Events buffered between the watch task and the socket.
const WATCH_CHANNEL: usize = 256;

/// What one watch filters on.
#[derive(Debug, Clone)]
pub struct WatchFilter {
    /// Resource.
    pub res: &'static ResourceDef,
    /// Namespace (None = all).
    pub ns: Option<String>,
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
}

impl WatchFilter {
    fn matches(&self, o: &Value) -> bool {
        self.fields.matches(o) && self.labels.matches(&labels(o))
    }

    /// The event type this watch sees for `ev`, if any (selector transitions turn
    /// MODIFIED into ADDED/DELETED as kube-apiserver does).
    pub fn classify(&self, ev: &Event) -> Option<EventType> {
        if ev.res != self.res || self.ns.as_deref().is_some_and(|n| n != ev.key.namespace) {
            return None;
        }
        let now = self.matches(&ev.object);
        let before = ev.prev.as_deref().is_some_and(|p| self.matches(p));
        match ev.kind {
            EventType::Added => now.then_some(EventType::Added),
            EventType::Deleted => (now || before).then_some(EventType::Deleted),
            EventType::Modified => match (before, now) {
                (true, true) => Some(EventType::Modified),
                (false, true) => Some(EventType::Added),
                (true, false) => Some(EventType::Deleted),
                (false, false) => None,
            },
        }
    }
}

#[derive(Serialize)]
struct WireEvent<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    object: &'a Value,
}

fn encode(ty: &str, object: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&WireEvent { ty, object }).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn bookmark(res: &ResourceDef, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": meta})
}

/// One wire event for `o` (a one-row Table when the client asked for Tables).
fn encode_object(ty: &str, res: &ResourceDef, o: &Value, as_table: bool) -> Bytes {
    if as_table {
        let t = table::table(
            res,
            &[o],
            json!({"resourceVersion": o["metadata"]["resourceVersion"]}),
        );
        encode(ty, &t)
    } else {
        encode(ty, o)
    }
}

/// Starts a watch for an HTTP request; returns the streaming response.
pub fn start(
    shared: Arc<Shared>,
    res: &'static ResourceDef,
    ns: Option<String>,
    p: &HashMap<String, String>,
    as_table: bool,
) -> Response {
    let parsed = (|| -> Result<_, ApiError> {
        let labels = LabelSelector::parse(p.get("labelSelector").map_or("", String::as_str))
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = FieldSelector::parse(p.get("fieldSelector").map_or("", String::as_str))
            .map_err(ApiError::bad_request)?;
        let rv =
            match p.get("resourceVersion").map(String::as_str) {
                None | Some("") => None,
                Some(s) => Some(s.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version {s:?}"))
                })?),
            };
        let timeout = match p.get("timeoutSeconds") {
            Some(t) => Some(Duration::from_secs(t.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid timeoutSeconds {t:?}"))
            })?)),
            None => None,
        };
        Ok((labels, fields, rv, timeout))
    })();
    let (labels, fields, rv, timeout) = match parsed {
        Ok(x) => x,
        Err(e) => return error_response(&e),
    };
    let bookmarks = p
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true" || v == "1");
    let send_initial = p
        .get("sendInitialEvents")
        .is_some_and(|v| v == "true" || v == "1");
    if send_initial && !shared.cfg.watch_list {
        return error_response(&ApiError::watch_list_disabled());
    }
    if send_initial && p.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan") {
        return error_response(&ApiError::watch_list_needs_not_older_than());
    }
    let filter = WatchFilter {
        res,
        ns: ns.clone(),
        labels,
        fields,
    };
    if shared.faults().take_watch_error(res.plural) {
        return error_response(&ApiError::internal(
            "fault injected: etcdserver: request timed out",
        ));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(WATCH_CHANNEL);
    let forced_gone = shared.faults().take_gone(res.plural);
    let kill = shared.watch_token();
    let started = if forced_gone {
        Err(ApiError::expired(
            "too old resource version (fault injected)",
        ))
    } else {
        // With sendInitialEvents the initial state is streamed even for a given version.
        let from = if send_initial { None } else { rv };
        let current = shared.store().resource_version();
        match from {
            // The store has not reached that version yet: decided in the task, after waiting.
            Some(n) if n > current => Err(ApiError::too_large_rv(n, current)),
            _ => shared.store().watch(res, ns.as_deref(), from),
        }
    };
    let future_rv = match &started {
        Err(e) if e.code == 504 => rv,
        _ => None,
    };
    let max = timeout
        .unwrap_or(shared.cfg.max_watch)
        .min(shared.cfg.max_watch);
    let bookmark_every = shared.cfg.bookmark_interval;
    shared.stats.watches_started.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        shared.stats.active_watches.fetch_add(1, Ordering::Relaxed);
        let started = match future_rv {
            Some(n) => wait_for_rv(&shared, res, ns.as_deref(), n, max).await,
            None => Some(started),
        };
        // `None`: the watch ended (its timeout) before the store reached its version.
        if let Some(started) = started {
            run(
                &tx,
                filter,
                started,
                send_initial,
                bookmarks,
                bookmark_every,
                max,
                kill,
                as_table,
            )
            .await;
        }
        shared.stats.active_watches.fetch_sub(1, Ordering::Relaxed);
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache, private"),
        ],
        channel_body(rx),
    )
        .into_response()
}

/// A watch from a version the store has not reached. From
/// [`FIRST_MINOR_WATCH_WAITS_FOR_RV`](super::semantics::FIRST_MINOR_WATCH_WAITS_FOR_RV) it waits
/// for the store as long as the watch lasts (`max`; `None` when that ends first). Before, it
/// waits up to [`TOO_LARGE_RV_WAIT`](super::semantics::TOO_LARGE_RV_WAIT), as the watch cache's
/// `blockTimeout`, then gives up with "Too large resource version".
async fn wait_for_rv(
    shared: &Shared,
    res: &'static ResourceDef,
    ns: Option<&str>,
    rv: u64,
    max: Duration,
) -> Option<Result<super::store::WatchStart, ApiError>> {
    let quiet = shared.cfg.minor >= super::semantics::FIRST_MINOR_WATCH_WAITS_FOR_RV;
    let wait = if quiet {
        max
    } else {
        super::semantics::TOO_LARGE_RV_WAIT
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        {
            let store = shared.store();
            let current = store.resource_version();
            if current >= rv {
                return Some(store.watch(res, ns, Some(rv)));
            }
            if tokio::time::Instant::now() >= deadline {
                return (!quiet).then(|| Err(ApiError::too_large_rv(rv, current)));
            }
        }
        tokio::time::sleep(super::semantics::TOO_LARGE_RV_POLL).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    tx: &mpsc::Sender<Bytes>,
    filter: WatchFilter,
    started: Result<super::store::WatchStart, ApiError>,
    send_initial: bool,
    bookmarks: bool,
    bookmark_every: Duration,
    max: Duration,
    kill: tokio_util::sync::CancellationToken,
    as_table: bool,
) {
    let res = filter.res;
    let start = match started {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(encode("ERROR", &e.to_status())).await;
            return;
        }
    };
    let mut last_rv = start.start_rv;
    for ev in &start.initial {
        if let Some(t) = filter.classify(ev)
            && tx
                .send(encode_object(t.as_str(), res, &ev.object, as_table))
                .await
                .is_err()
        {
            return;
        }
    }
    if send_initial
        && tx
            .send(encode("BOOKMARK", &bookmark(res, last_rv, true)))
            .await
            .is_err()
    {
        return;
    }
    let mut rx = start.rx;
    let deadline = tokio::time::sleep(max);
    tokio::pin!(deadline);
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + bookmark_every, bookmark_every);
    loop {
        tokio::select! {
            _ = kill.cancelled() => return,
            _ = &mut deadline => return,
            _ = tx.closed() => return,
            _ = tick.tick(), if bookmarks => {
                if tx.send(encode("BOOKMARK", &bookmark(res, last_rv, false))).await.is_err() {
                    return;
                }
            }
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    last_rv = ev.rv;
                    if let Some(t) = filter.classify(&ev)
                        && tx.send(encode_object(t.as_str(), res, &ev.object, as_table)).await.is_err()
                    {
                        return;
                    }
                }
                // The watch cache closes an unresponsive watcher's stream without an ERROR
                // event; the client re-watches from the last version it saw.
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(resource = res.plural, behind = n, "closing the stream of a watcher that cannot keep up");
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_plural;
    use crate::store::ObjKey;

    fn ev(kind: EventType, now: Value, prev: Option<Value>) -> Event {
        Event {
            rv: 7,
            res: by_plural("services").expect("svc"),
            kind,
            key: ObjKey {
                namespace: "ns".into(),
                name: "a".into(),
            },
            object: Arc::new(now),
            prev: prev.map(Arc::new),
        }
    }

    #[test]
    fn selector_transitions() {
        let f = WatchFilter {
            res: by_plural("services").expect("svc"),
            ns: Some("ns".into()),
            labels: LabelSelector::parse("app=web").expect("sel"),
            fields: FieldSelector::default(),
        };
        let web = json!({"metadata": {"name": "a", "labels": {"app": "web"}}});
        let db = json!({"metadata": {"name": "a", "labels": {"app": "db"}}});
        assert_eq!(
            f.classify(&ev(EventType::Added, web.clone(), None)),
            Some(EventType::Added)
        );
        assert_eq!(f.classify(&ev(EventType::Added, db.clone(), None)), None);
        assert_eq!(
            f.classify(&ev(EventType::Modified, web.clone(), Some(db.clone()))),
            Some(EventType::Added)
        );
        assert_eq!(
            f.classify(&ev(EventType::Modified, db.clone(), Some(web.clone()))),
            Some(EventType::Deleted)
        );
        assert_eq!(
            f.classify(&ev(EventType::Modified, web.clone(), Some(web.clone()))),
            Some(EventType::Modified)
        );
        assert_eq!(
            f.classify(&ev(EventType::Deleted, web.clone(), Some(web))),
            Some(EventType::Deleted)
        );
        let other_ns = WatchFilter {
            ns: Some("x".into()),
            ..f
        };
        assert_eq!(other_ns.classify(&ev(EventType::Added, db, None)), None);
    }

    #[test]
    fn wire_format() {
        let b = encode(
            "BOOKMARK",
            &bookmark(by_plural("pods").expect("pods"), 42, true),
        );
        let s = std::str::from_utf8(&b).expect("utf8");
        assert!(s.ends_with('\n'));
        let v: Value = serde_json::from_str(s.trim()).expect("json");
        assert_eq!(v["type"], "BOOKMARK");
        assert_eq!(v["object"]["metadata"]["resourceVersion"], "42");
        assert_eq!(
            v["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
            "true"
        );
        assert_eq!(v["object"]["kind"], "Pod");
    }
}
