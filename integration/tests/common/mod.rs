//! Shared helpers for the emulator's HTTP-level tests: an emulator with a tiny JSON HTTP
//! client, a reader for newline-delimited watch streams, a ConfigMap builder, and the Service
//! names a kube client lists.

#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube_emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};

/// How long a test waits for one HTTP answer or watch event.
pub const T: Duration = Duration::from_secs(5);

/// An emulator started with `cfg` and a JSON client for it.
pub async fn emulator_with_http(cfg: EmulatorConfig) -> anyhow::Result<(Emulator, Http)> {
    let emu = Emulator::start(cfg).await?;
    let http = Http::new(&emu.url());
    Ok((emu, http))
}

/// A ConfigMap named `name` with these labels and one data key.
pub fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

/// JSON client for one base URL.
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    pub fn new(base: &str) -> Self {
        Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: base.to_string(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        ct: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<hyper::Response<Incoming>> {
        let req = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path))
            .header("content-type", ct)
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        Ok(self.client.request(req).await?)
    }

    /// Sends a request and returns (status, JSON body or Null).
    pub async fn req(
        &self,
        method: Method,
        path: &str,
        ct: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let resp = self
            .send(
                method,
                path,
                ct,
                body.map(|b| serde_json::to_vec(b).unwrap_or_default()),
            )
            .await?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        self.req(Method::GET, path, "application/json", None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        self.req(Method::POST, path, "application/json", Some(body))
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        self.req(Method::PUT, path, "application/json", Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, ct: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        self.req(Method::PATCH, path, ct, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        self.req(Method::DELETE, path, "application/json", None)
            .await
    }

    /// Opens a watch; checks the content type.
    pub async fn watch(&self, path: &str) -> anyhow::Result<WatchStream> {
        let resp = self
            .send(Method::GET, path, "application/json", None)
            .await?;
        anyhow::ensure!(resp.status() == 200, "watch status {}", resp.status());
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        anyhow::ensure!(ct == "application/json", "watch content-type {ct:?}");
        Ok(WatchStream {
            body: resp.into_body(),
            buf: Vec::new(),
        })
    }
}

/// Reads one JSON event per line.
pub struct WatchStream {
    body: Incoming,
    buf: Vec<u8>,
}

impl WatchStream {
    /// Next event; `Ok(None)` when the stream ended; error on timeout.
    pub async fn next(&mut self, timeout: Duration) -> anyhow::Result<Option<Value>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Ok(Some(serde_json::from_slice(&line)?));
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .map_err(|_| anyhow::anyhow!("no watch event within {timeout:?}"))?;
            match frame {
                None => return Ok(None),
                Some(f) => {
                    if let Ok(data) = f?.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    /// Next event that is not a BOOKMARK.
    pub async fn next_non_bookmark(&mut self, timeout: Duration) -> anyhow::Result<Option<Value>> {
        loop {
            match self.next(timeout).await? {
                Some(e) if e["type"] == "BOOKMARK" => continue,
                other => return Ok(other),
            }
        }
    }
}

/// `metadata.resourceVersion` as a number.
pub fn rv(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
pub mod rbac;

/// The names of every Service `client` lists.
pub async fn service_names(client: kube::Client) -> anyhow::Result<Vec<String>> {
    let api: kube::Api<k8s_openapi::api::core::v1::Service> = kube::Api::all(client);
    Ok(api
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect())
}
