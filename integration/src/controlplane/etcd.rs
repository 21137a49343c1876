//! The two etcd operations tests need, through etcd's gRPC-gateway JSON API (`/v3/kv/...`):
//! the current revision and a physical compaction.

use std::net::SocketAddr;

use anyhow::{Context, bail};

use crate::harness::wait::http_post_json;

/// The store's current revision (from the header of a range request for an absent key).
pub async fn revision(addr: SocketAddr) -> anyhow::Result<i64> {
    // key = base64("\0"): any key works, only the response header matters.
    let (code, body) = http_post_json(addr, "/v3/kv/range", r#"{"key":"AA=="}"#).await?;
    if code != 200 {
        bail!("etcd range: HTTP {code}: {body}");
    }
    parse_revision(&body)
}

fn parse_revision(body: &str) -> anyhow::Result<i64> {
    let v: serde_json::Value = serde_json::from_str(body).context("etcd range response")?;
    // The gateway encodes int64 as a JSON string.
    let rev = &v["header"]["revision"];
    rev.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| rev.as_i64())
        .with_context(|| format!("no header.revision in {body}"))
}

/// Compacts the key space up to `rev` and waits until the compaction is physically applied.
pub async fn compact(addr: SocketAddr, rev: i64) -> anyhow::Result<()> {
    let req = format!(r#"{{"revision":"{rev}","physical":true}}"#);
    let (code, body) = http_post_json(addr, "/v3/kv/compaction", &req).await?;
    if code != 200 {
        bail!("etcd compaction at {rev}: HTTP {code}: {body}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_from_string_or_number() {
        assert_eq!(
            parse_revision(r#"{"header":{"cluster_id":"1","revision":"42"}}"#).expect("rev"),
            42
        );
        assert_eq!(
            parse_revision(r#"{"header":{"revision":7}}"#).expect("rev"),
            7
        );
        assert!(parse_revision(r#"{"error":"x"}"#).is_err());
    }
}
