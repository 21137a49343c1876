//! The read path: GET (one object, all of a resource), LIST (selectors, paging with continue tokens, resourceVersion matching,
//! snapshots reconstructed from the event history) and WATCH registration (history replay
//! or the current state, 410 Gone for compacted versions).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::super::meta::{labels, meta_str};
use super::super::resources::ResourceDef;
use super::super::status::ApiError;
use super::{Event, EventType, ListOpts, ListResult, Obj, ObjKey, Store, WatchStart};

/// Encodes a continue token (`<rv>/<namespace>/<name>` in hex).
fn encode_continue(rv: u64, key: &ObjKey) -> String {
    hex::encode(format!("{rv}/{}/{}", key.namespace, key.name))
}

fn decode_continue(token: &str) -> Option<(u64, ObjKey)> {
    let raw = String::from_utf8(hex::decode(token).ok()?).ok()?;
    let mut it = raw.splitn(3, '/');
    let rv = it.next()?.parse().ok()?;
    Some((
        rv,
        ObjKey {
            namespace: it.next()?.into(),
            name: it.next()?.into(),
        },
    ))
}

fn parse_rv(s: &str) -> Result<u64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))
}

/// Whether an object of `res` in a namespace-scoped request belongs to `ns`.
fn in_ns(key: &ObjKey, ns: Option<&str>) -> bool {
    ns.is_none_or(|n| key.namespace == n)
}

impl Store {
    /// Every stored object of a resource, in key order.
    pub fn all(&self, res: &ResourceDef) -> Vec<Obj> {
        self.map(res)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Number of stored objects of a resource.
    pub fn count(&self, res: &ResourceDef) -> usize {
        self.objects.get(res.plural).map_or(0, BTreeMap::len)
    }

    pub(super) fn map(&self, res: &ResourceDef) -> Option<&BTreeMap<ObjKey, Obj>> {
        self.objects.get(res.plural)
    }

    pub(super) fn key(res: &ResourceDef, ns: &str, name: &str) -> ObjKey {
        ObjKey {
            namespace: if res.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    /// GET one object.
    pub fn get(&self, res: &'static ResourceDef, ns: &str, name: &str) -> Result<Obj, ApiError> {
        self.map(res)
            .and_then(|m| m.get(&Self::key(res, ns, name)))
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))
    }
}

impl Store {
    /// The state of `res` as it was at `at` (current state with newer history undone).
    fn snapshot(&self, res: &'static ResourceDef, at: u64) -> BTreeMap<ObjKey, Obj> {
        let mut snap = self.map(res).cloned().unwrap_or_default();
        if at >= self.rv {
            return snap;
        }
        for ev in self.history.iter().rev().take_while(|e| e.rv > at) {
            if ev.res != res {
                continue;
            }
            match &ev.prev {
                Some(p) => {
                    snap.insert(ev.key.clone(), p.clone());
                }
                None => {
                    snap.remove(&ev.key);
                }
            }
        }
        snap
    }

    /// LIST with kube-apiserver's resourceVersion semantics: unset → most recent;
    /// `0`/`NotOlderThan` → any state not older than the given version (served current);
    /// `Exact` → the state at exactly that version (410 if compacted). Paging with
    /// `limit`/`continue` is consistent at the first page's resourceVersion.
    pub fn list(
        &self,
        res: &'static ResourceDef,
        ns: Option<&str>,
        opts: &ListOpts,
    ) -> Result<ListResult, ApiError> {
        let mut start_after: Option<ObjKey> = None;
        let at = if let Some(tok) = opts.continue_token.as_deref().filter(|t| !t.is_empty()) {
            let (rv, key) = decode_continue(tok)
                .ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
            if rv < self.compacted_rv {
                return Err(ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. \
                     You can start a new list without the continue parameter, or use the continue token \
                     in this response to retrieve the remainder of the results.",
                ));
            }
            start_after = Some(key);
            rv
        } else {
            let rv = opts.resource_version.as_deref().filter(|s| !s.is_empty());
            match (
                rv,
                opts.resource_version_match
                    .as_deref()
                    .filter(|s| !s.is_empty()),
            ) {
                (None, None) => self.rv,
                (None, Some(m)) => {
                    return Err(ApiError::bad_request(format!(
                        "resourceVersionMatch {m} is forbidden unless resourceVersion is provided"
                    )));
                }
                (Some(v), Some("Exact")) => {
                    let v = parse_rv(v)?;
                    if v > self.rv {
                        return Err(ApiError::too_large_rv(v, self.rv));
                    }
                    if v < self.compacted_rv {
                        return Err(ApiError::expired(format!(
                            "too old resource version: {v} ({})",
                            self.compacted_rv
                        )));
                    }
                    v
                }
                (Some(v), None | Some("NotOlderThan")) => {
                    let v = parse_rv(v)?;
                    if v > self.rv {
                        return Err(ApiError::too_large_rv(v, self.rv));
                    }
                    self.rv
                }
                (Some(_), Some(m)) => {
                    return Err(ApiError::bad_request(format!(
                        "unsupported resourceVersionMatch {m:?}"
                    )));
                }
            }
        };
        let snap = self.snapshot(res, at);
        let matching: Vec<(&ObjKey, &Obj)> = snap
            .iter()
            .filter(|(k, _)| in_ns(k, ns))
            .filter(|(k, _)| start_after.as_ref().is_none_or(|s| *k > s))
            .filter(|(_, o)| opts.fields.matches(o) && opts.labels.matches(&labels(o)))
            .collect();
        let limit = opts.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let page = &matching[..limit.min(matching.len())];
        let remaining = matching.len() - page.len();
        let items: Vec<Obj> = page.iter().map(|(_, o)| (*o).clone()).collect();
        let continue_token = match page.last() {
            Some((k, _)) if remaining > 0 => Some(encode_continue(at, k)),
            _ => None,
        };
        let no_selectors = opts.labels.0.is_empty() && opts.fields.0.is_empty();
        Ok(ListResult {
            items,
            resource_version: at,
            remaining: (continue_token.is_some() && no_selectors).then_some(remaining),
            continue_token,
        })
    }

    /// Registers a watch. `rv`: `None`/`Some(0)` start with synthetic ADDED events for the
    /// current state; `Some(n)` replays history after `n` (410 Gone if compacted).
    pub fn watch(
        &self,
        res: &'static ResourceDef,
        ns: Option<&str>,
        rv: Option<u64>,
    ) -> Result<WatchStart, ApiError> {
        let initial = match rv {
            None | Some(0) => self
                .map(res)
                .into_iter()
                .flatten()
                .filter(|(k, _)| in_ns(k, ns))
                .map(|(k, o)| {
                    Arc::new(Event {
                        rv: meta_str(o, "resourceVersion")
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(self.rv),
                        res,
                        kind: EventType::Added,
                        key: k.clone(),
                        object: o.clone(),
                        prev: None,
                    })
                })
                .collect(),
            Some(n) => {
                if n < self.compacted_rv {
                    return Err(ApiError::expired(format!(
                        "too old resource version: {n} ({})",
                        self.compacted_rv
                    )));
                }
                self.history
                    .iter()
                    .filter(|e| e.rv > n && e.res == res && in_ns(&e.key, ns))
                    .cloned()
                    .collect()
            }
        };
        Ok(WatchStart {
            initial,
            rx: self.tx.subscribe(),
            start_rv: self.rv,
        })
    }
}
