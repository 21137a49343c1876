//! The accept loop: HTTP/1.1 (optionally TLS) connections served by the API router, and
//! the refuse outage (listener dropped, connections cut, address bound again after).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::api;
use crate::shared::Shared;

/// Delay between attempts to re-bind the listener after a refuse outage.
const REBIND_RETRY: Duration = Duration::from_millis(50);

/// Accept loop: serves HTTP/1.1 connections; during a refuse outage the listener is
/// dropped (so connects are refused), open connections are cut, and the same address is
/// bound again afterwards.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    addr: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) {
    let router = api::router(shared.clone());
    let mut refuse_rx = shared.refuse_until.subscribe();
    let mut listener = Some(listener);
    loop {
        let refuse = (*refuse_rx.borrow_and_update()).filter(|t| *t > Instant::now());
        if let Some(until) = refuse {
            listener = None;
            shared.kill_connections();
            tracing::info!(%addr, "fault: refusing connections");
            tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(until) => {}
                _ = refuse_rx.changed() => continue,
            }
        }
        let l = match listener.take() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "re-binding after outage failed; retrying");
                    tokio::select! {
                        _ = shared.shutdown.cancelled() => return,
                        _ = tokio::time::sleep(REBIND_RETRY) => {}
                    }
                    continue;
                }
            },
        };
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = refuse_rx.changed() => {
                listener = Some(l);
                continue;
            }
            a = l.accept() => a,
        };
        listener = Some(l);
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let token = shared.conn_token();
        let svc = TowerToHyperService::new(router.clone());
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let http = hyper::server::conn::http1::Builder::new();
            let serve = async {
                match acceptor {
                    Some(a) => match a.accept(stream).await {
                        Ok(tls) => {
                            let _ = http.serve_connection(TokioIo::new(tls), svc).await;
                        }
                        Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                    },
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            };
            tokio::select! {
                _ = serve => {}
                _ = token.cancelled() => {}
            }
        });
    }
}
