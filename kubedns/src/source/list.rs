//! LIST responses decoded item by item, so a whole list of typed objects never exists.
//!
//! A kube-apiserver serving `resourceVersion=0` from its watch cache ignores `limit` before
//! Kubernetes 1.33: a 10k-Service / 100k-endpoint cluster arrives as one response of tens of
//! MiB of JSON (managedFields, targetRefs…), which `Api::list` would hold as text and then as
//! a `Vec<K>` several times that size. Here the body is read chunk by chunk
//! ([`kube::Client::request_stream`], so kube-rs still provides the transport, auth and API
//! error handling) into a bounded channel; a blocking thread parses it with
//! `serde_json::Deserializer::from_reader` and a visitor over the List object that takes each
//! element of `items` as raw JSON, decodes that one item as `K` and hands it to the caller,
//! which converts it into the store's compact form and drops it. At most
//! [`CHUNK_QUEUE`] × [`CHUNK_SIZE`] bytes of body and one item are held at a time.
//!
//! An item that does not decode as `K` is skipped with one warning (naming it when its
//! metadata is readable); the rest of the list is kept. A body that is not a JSON List fails
//! the whole list ([`ListError::Decode`]).

use std::fmt;
use std::io::Read;
use std::marker::PhantomData;

use futures::AsyncBufReadExt;
use kube::api::ListParams;
use kube::{Client, Resource};
use serde::Deserialize;
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

/// Bytes read from the response body per chunk handed to the decoder.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Chunks queued between the body reader and the decoder thread.
pub const CHUNK_QUEUE: usize = 4;

/// Why a list failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListError {
    /// The request failed or the API answered with an error Status.
    #[error(transparent)]
    Api(#[from] kube::Error),
    /// The body is not a JSON List (or was cut short).
    #[error("cannot decode the list response: {0}")]
    Decode(String),
    /// The decoder thread panicked or was cancelled.
    #[error("list decoder stopped: {0}")]
    Decoder(String),
}

/// Receives each decoded item (on the decoder thread).
pub trait ItemSink<K> {
    /// One item of the list.
    fn item(&mut self, obj: K);
}

impl<K, F: FnMut(K)> ItemSink<K> for F {
    fn item(&mut self, obj: K) {
        self(obj)
    }
}

/// The List's own metadata and counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListSummary {
    /// `metadata.resourceVersion`: where a watch continues from.
    pub resource_version: String,
    /// `metadata.continue`: the next page, when the server paginated.
    pub continue_token: Option<String>,
    /// Items decoded and handed over.
    pub items: usize,
    /// Items skipped because they did not decode.
    pub skipped: usize,
}

/// A `std::io::Read` over body chunks arriving on a channel (the decoder thread's side).
struct ChannelReader {
    rx: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(Ok(c)) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(default, rename = "resourceVersion")]
    resource_version: Option<String>,
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

#[derive(Deserialize, Default)]
struct NameOnly {
    #[serde(default)]
    metadata: NameMeta,
}

#[derive(Deserialize, Default)]
struct NameMeta {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// Decodes one raw item; `None` (after one warning) when it is not a `K`.
fn decode_item<K: DeserializeOwned>(raw: &RawValue, resource: &str) -> Option<K> {
    match serde_json::from_str::<K>(raw.get()) {
        Ok(o) => Some(o),
        Err(err) => {
            let who = serde_json::from_str::<NameOnly>(raw.get()).unwrap_or_default();
            tracing::warn!(
                resource,
                namespace = who.metadata.namespace.as_deref().unwrap_or(""),
                name = who.metadata.name.as_deref().unwrap_or(""),
                %err,
                "skipping a list item that does not decode"
            );
            None
        }
    }
}

struct ListVisitor<'a, K, F> {
    resource: &'a str,
    on_item: &'a mut F,
    _k: PhantomData<fn() -> K>,
}

impl<'de, K: DeserializeOwned, F: ItemSink<K>> Visitor<'de> for ListVisitor<'_, K, F> {
    type Value = ListSummary;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes List object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ListSummary, A::Error> {
        let mut summary = ListSummary::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "metadata" => {
                    let m: Option<ListMeta> = map.next_value()?;
                    let m = m.unwrap_or_default();
                    summary.resource_version = m.resource_version.unwrap_or_default();
                    summary.continue_token = m.continue_token.filter(|c| !c.is_empty());
                }
                "items" => {
                    let (items, skipped) = map.next_value_seed(ItemsSeed::<K, F> {
                        resource: self.resource,
                        on_item: &mut *self.on_item,
                        _k: PhantomData,
                    })?;
                    summary.items += items;
                    summary.skipped += skipped;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(summary)
    }
}

struct ItemsSeed<'a, K, F> {
    resource: &'a str,
    on_item: &'a mut F,
    _k: PhantomData<fn() -> K>,
}

impl<'de, K: DeserializeOwned, F: ItemSink<K>> DeserializeSeed<'de> for ItemsSeed<'_, K, F> {
    type Value = (usize, usize);

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(usize, usize), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, K: DeserializeOwned, F: ItemSink<K>> Visitor<'de> for ItemsSeed<'_, K, F> {
    type Value = (usize, usize);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(usize, usize), E> {
        Ok((0, 0))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(usize, usize), A::Error> {
        let (mut items, mut skipped) = (0, 0);
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            match decode_item::<K>(&raw, self.resource) {
                Some(o) => {
                    drop(raw);
                    self.on_item.item(o);
                    items += 1;
                }
                None => skipped += 1,
            }
        }
        Ok((items, skipped))
    }
}

/// Decodes a List body from `reader`, calling `on_item` for every item (blocking).
pub fn decode_list<K, F, R>(
    reader: R,
    resource: &str,
    on_item: &mut F,
) -> Result<ListSummary, ListError>
where
    K: DeserializeOwned,
    F: ItemSink<K>,
    R: Read,
{
    let mut de = serde_json::Deserializer::from_reader(reader);
    let visitor = ListVisitor::<K, F> {
        resource,
        on_item,
        _k: PhantomData,
    };
    let summary = serde::Deserializer::deserialize_map(&mut de, visitor)
        .map_err(|e| ListError::Decode(e.to_string()))?;
    de.end().map_err(|e| ListError::Decode(e.to_string()))?;
    Ok(summary)
}

/// LIST one page of `K` at `url` (the collection path, [`kube::Api::resource_url`]: all
/// namespaces or one) and stream its items into `on_item`, which runs on a
/// blocking thread and is handed back with the summary (dropped on error: a failed page is
/// abandoned as a whole).
///
/// `resource_version` is added to the query as given: kube-rs leaves out `resourceVersion=0`
/// whenever a `limit` is set (which turns the request into a consistent read from etcd), while
/// `resourceVersion=0&limit=…` is what client-go's reflector (and legacy kube-dns) sends so
/// the list is served from the API server's watch cache.
pub async fn list_streaming<K, F>(
    client: &Client,
    url: &str,
    resource: &'static str,
    lp: &ListParams,
    resource_version: Option<&str>,
    mut on_item: F,
) -> Result<(ListSummary, F), ListError>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Send + 'static,
    F: ItemSink<K> + Send + 'static,
{
    let build = |e| ListError::Api(kube::Error::BuildRequest(e));
    let mut req = kube::core::Request::new(url.to_string())
        .list(lp)
        .map_err(build)?;
    if let Some(rv) = resource_version {
        let uri = req.uri().to_string();
        let sep = if uri.ends_with('?') { "" } else { "&" };
        let with_rv = format!("{uri}{sep}resourceVersion={rv}");
        match with_rv.parse() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(e) => {
                let msg = format!("list URL {with_rv:?}: {e}");
                return Err(ListError::Api(kube::Error::BuildRequest(
                    kube::core::request::Error::Validation(msg),
                )));
            }
        }
    }
    req.extensions_mut().insert("list");
    let body = client.request_stream(req).await?;
    let (tx, rx) = mpsc::channel(CHUNK_QUEUE);
    let decoder = tokio::task::spawn_blocking(move || {
        let reader = ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
        };
        let r = decode_list::<K, F, _>(reader, resource, &mut on_item);
        r.map(|s| (s, on_item))
    });
    let mut body = Box::pin(body);
    loop {
        let chunk = match body.as_mut().fill_buf().await {
            Ok([]) => break,
            Ok(buf) => {
                let n = buf.len().min(CHUNK_SIZE);
                let c = buf[..n].to_vec();
                futures::AsyncBufRead::consume(body.as_mut(), n);
                Ok(c)
            }
            Err(e) => Err(e),
        };
        let failed = chunk.is_err();
        // A send error means the decoder already finished (or failed): its result says which.
        if tx.send(chunk).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    decoder
        .await
        .map_err(|e| ListError::Decoder(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1 as core;

    fn decode(body: &str) -> (Result<ListSummary, ListError>, Vec<String>) {
        let mut names = Vec::new();
        let mut f = |s: core::Service| names.push(s.metadata.name.unwrap_or_default());
        let r = decode_list::<core::Service, _, _>(body.as_bytes(), "services", &mut f);
        (r, names)
    }

    /// (case, body, expected (resourceVersion, continue, items, skipped) or None for an
    /// error, expected names)
    type Case = (
        &'static str,
        &'static str,
        Option<(&'static str, Option<&'static str>, usize, usize)>,
        &'static [&'static str],
    );

    #[test]
    fn items_metadata_and_bad_items() {
        // (case, body, expected summary or None for an error, expected names)
        let cases: &[Case] = &[
            (
                "plain list, metadata first",
                r#"{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"42"},
                   "items":[{"metadata":{"name":"a","namespace":"n"},"spec":{"clusterIP":"10.0.0.1"}},
                            {"metadata":{"name":"b","namespace":"n","managedFields":[{"manager":"m"}]}}]}"#,
                Some(("42", None, 2, 0)),
                &["a", "b"],
            ),
            (
                "items before metadata, continue token",
                r#"{"items":[{"metadata":{"name":"a"}}],"metadata":{"resourceVersion":"7","continue":"tok"}}"#,
                Some(("7", Some("tok"), 1, 0)),
                &["a"],
            ),
            (
                "a bad item is skipped, the rest kept",
                r#"{"metadata":{"resourceVersion":"9"},"items":[{"metadata":{"name":"a"}},
                   {"metadata":{"name":"bad","namespace":"n"},"spec":{"ports":[{"port":"eighty"}]}},
                   {"metadata":{"name":"c"}}]}"#,
                Some(("9", None, 2, 1)),
                &["a", "c"],
            ),
            (
                "null items, empty continue",
                r#"{"metadata":{"resourceVersion":"3","continue":""},"items":null}"#,
                Some(("3", None, 0, 0)),
                &[],
            ),
            ("not a list", r#"[1,2]"#, None, &[]),
            (
                "cut short",
                r#"{"metadata":{"resourceVersion":"3"},"items":[{"metadata":{}}"#,
                None,
                &["x"],
            ),
        ];
        for (case, body, want, names) in cases {
            let (got, got_names) = decode(body);
            match want {
                Some((rv, cont, items, skipped)) => {
                    let s = got.unwrap_or_else(|e| panic!("{case}: {e}"));
                    assert_eq!(s.resource_version, *rv, "{case}");
                    assert_eq!(s.continue_token.as_deref(), *cont, "{case}");
                    assert_eq!((s.items, s.skipped), (*items, *skipped), "{case}");
                    assert_eq!(got_names, *names, "{case}");
                }
                None => assert!(matches!(got, Err(ListError::Decode(_))), "{case}: {got:?}"),
            }
        }
    }

    #[test]
    fn channel_reader_joins_chunks() {
        let (tx, rx) = mpsc::channel(64);
        let body = r#"{"metadata":{"resourceVersion":"5"},"items":[{"metadata":{"name":"a"}}]}"#;
        for c in body.as_bytes().chunks(3) {
            tx.try_send(Ok(c.to_vec())).expect("queue");
        }
        drop(tx);
        let reader = ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
        };
        let mut n = 0;
        let mut f = |_: core::Service| n += 1;
        let s = decode_list::<core::Service, _, _>(reader, "services", &mut f).expect("list");
        assert_eq!((s.resource_version.as_str(), s.items), ("5", 1));
        assert_eq!(n, 1);
    }
}
