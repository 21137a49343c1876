//! Readiness and polling helpers: a minimal HTTP/1.0 client (GET for `/readiness`,
//! `/healthcheck/<label>`, `/metrics`; POST for etcd's JSON gateway), waiting for an HTTP 200 or a DNS answer, and a
//! generic "poll until this holds, with a deadline" used to wait for DNS answers to change.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::dns::{DnsClient, Transport};

/// Poll period of the wait helpers.
pub const POLL: Duration = Duration::from_millis(50);
/// Timeout of one HTTP GET.
const HTTP_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest HTTP response read.
const MAX_HTTP_BODY: u64 = 8 << 20;

/// Errors from the wait helpers.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// HTTP request failed.
    #[error("http://{addr}{path}: {message}")]
    Http {
        /// Server.
        addr: SocketAddr,
        /// Path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The condition did not hold before the deadline.
    #[error("timed out after {waited:?} waiting for {what}; last observation: {last}")]
    Timeout {
        /// Description.
        what: String,
        /// How long.
        waited: Duration,
        /// Last observed value.
        last: String,
    },
}

/// `GET path` over HTTP/1.0; returns (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), WaitError> {
    http_request(addr, "GET", path, None).await
}

/// `POST path` with a JSON body over HTTP/1.0; returns (status, body).
pub async fn http_post_json(
    addr: SocketAddr,
    path: &str,
    body: &str,
) -> Result<(u16, String), WaitError> {
    http_request(addr, "POST", path, Some(body)).await
}

/// One HTTP/1.0 request (`Connection: close`); returns (status, body).
async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    json: Option<&str>,
) -> Result<(u16, String), WaitError> {
    let err = |message: String| WaitError::Http {
        addr,
        path: path.to_string(),
        message,
    };
    let fut = async {
        let mut s = TcpStream::connect(addr)
            .await
            .map_err(|e| err(e.to_string()))?;
        let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n");
        match json {
            Some(b) => req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            )),
            None => req.push_str("\r\n"),
        }
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| err(e.to_string()))?;
        let mut buf = Vec::new();
        s.take(MAX_HTTP_BODY)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| err(e.to_string()))?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| {
                err(format!(
                    "malformed response {:?}",
                    text.chars().take(80).collect::<String>()
                ))
            })?;
        let body = text
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string();
        Ok((status, body))
    };
    tokio::time::timeout(HTTP_TIMEOUT, fut)
        .await
        .map_err(|_| err("timed out".into()))?
}

/// Polls `probe` until it returns `Ok(Some(v))`; `Ok(None)`/`Err` keep waiting (the last
/// one is reported on timeout).
pub async fn until<T, E, F, Fut>(
    what: &str,
    timeout: Duration,
    mut probe: F,
) -> Result<T, WaitError>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
{
    let start = Instant::now();
    loop {
        let last = match probe().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => "condition not met".to_string(),
            Err(e) => e.to_string(),
        };
        if start.elapsed() >= timeout {
            return Err(WaitError::Timeout {
                what: what.to_string(),
                waited: start.elapsed(),
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits for `GET path` to answer 200.
pub async fn http_ok(addr: SocketAddr, path: &str, timeout: Duration) -> Result<String, WaitError> {
    until(
        &format!("HTTP 200 from http://{addr}{path}"),
        timeout,
        || async move {
            let (code, body) = http_get(addr, path).await?;
            if code == 200 {
                Ok(Some(body))
            } else {
                Err(WaitError::Http {
                    addr,
                    path: path.into(),
                    message: format!("status {code}: {}", body.trim()),
                })
            }
        },
    )
    .await
}

/// Waits for any DNS response (whatever the rcode) to `name`/`rtype` over UDP.
pub async fn dns_responds(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    timeout: Duration,
) -> Result<(), WaitError> {
    let client = DnsClient {
        timeout: Duration::from_millis(500),
        ..DnsClient::new(server)
    };
    until(
        &format!("a DNS response from {server} for {name} {rtype}"),
        timeout,
        || {
            let client = client.clone();
            async move {
                client
                    .query(name, rtype, Transport::Udp)
                    .await
                    .map(|_| Some(()))
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn until_reports_last_observation() {
        let mut n = 0;
        let r: Result<u32, _> = until("never", Duration::from_millis(120), || {
            n += 1;
            let n = n;
            async move { Err::<Option<u32>, String>(format!("attempt {n}")) }
        })
        .await;
        let msg = r.expect_err("timeout").to_string();
        assert!(msg.contains("never") && msg.contains("attempt"), "{msg}");
        let ok = until("soon", Duration::from_secs(5), || async {
            Ok::<_, String>(Some(7))
        })
        .await;
        assert_eq!(ok.expect("ok"), 7);
    }

    #[tokio::test]
    async fn http_get_reads_status_and_body() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            if let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nnope")
                    .await;
            }
        });
        let (code, body) = http_get(addr, "/readiness").await.expect("get");
        assert_eq!((code, body.as_str()), (503, "nope"));
    }
}
