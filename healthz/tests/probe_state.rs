//! Probe state transitions against an in-process fake DNS target on paused tokio time:
//! 503 "waiting for first probe" → 200 after a success (latency recorded) → 503 after a
//! failure (empty answer, transport error, stuck target) → 200 again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use healthz::dns::{ExchangeError, Exchanger, ServerAddr, SharedExchanger};
use healthz::sidecar::options::parse_probe;
use healthz::sidecar::probe::{ProbeHandle, ProbeStatus, WAITING, healthcheck_body, run_probe};
use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::rdata::SRV;
use hickory_proto::rr::{Name, RData, Record};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
enum Mode {
    Answer(Duration),
    Empty,
    Fail(&'static str),
    Hang,
}

struct FakeTarget {
    mode: Mutex<Mode>,
    queries: Mutex<Vec<Message>>,
}

impl FakeTarget {
    fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }
}

impl Exchanger for FakeTarget {
    fn exchange(
        &self,
        _server: &ServerAddr,
        query: Message,
    ) -> BoxFuture<'static, Result<Message, ExchangeError>> {
        let mode = self.mode.lock().unwrap().clone();
        self.queries.lock().unwrap().push(query.clone());
        Box::pin(async move {
            let mut reply = Message::new(
                query.metadata.id,
                MessageType::Response,
                query.metadata.op_code,
            );
            reply.add_queries(query.queries.clone());
            match mode {
                Mode::Answer(delay) => {
                    tokio::time::sleep(delay).await;
                    let name = query.queries[0].name().clone();
                    let target = Name::from_ascii("kubernetes.default.svc.cluster.local.").unwrap();
                    reply.add_answer(Record::from_rdata(
                        name,
                        30,
                        RData::SRV(SRV::new(10, 100, 443, target)),
                    ));
                    Ok(reply)
                }
                Mode::Empty => Ok(reply),
                Mode::Fail(e) => Err(ExchangeError(e.into())),
                Mode::Hang => futures::future::pending().await,
            }
        })
    }
}

async fn at(t0: tokio::time::Instant, secs: f64) {
    tokio::time::sleep_until(t0 + Duration::from_secs_f64(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn state_transitions() {
    let spec =
        parse_probe("kubedns,127.0.0.1:10053,kubernetes.default.svc.cluster.local,5,SRV").unwrap();
    let handle = Arc::new(ProbeHandle::new(spec));
    let target = Arc::new(FakeTarget {
        mode: Mutex::new(Mode::Answer(Duration::from_millis(7))),
        queries: Mutex::new(Vec::new()),
    });
    let exch: SharedExchanger = target.clone();
    let shutdown = CancellationToken::new();
    let t0 = tokio::time::Instant::now();
    let task = tokio::spawn(run_probe(
        handle.clone(),
        exch,
        Duration::from_secs(1),
        shutdown.clone(),
    ));

    // Before the first probe (start delay 1 s).
    at(t0, 0.5).await;
    let (code, body) = healthcheck_body(&handle.status());
    assert_eq!(code, 503);
    assert_eq!(
        body,
        r#"{"IsOk":false,"LatencySeconds":0,"Err":"waiting for first probe"}"#
    );
    assert_eq!(handle.status(), ProbeStatus::Failed(WAITING.into()));
    assert!(target.queries.lock().unwrap().is_empty());

    // First probe at t=1 s answers after 7 ms.
    at(t0, 1.5).await;
    assert_eq!(
        handle.status(),
        ProbeStatus::Ok {
            latency: Duration::from_millis(7)
        }
    );
    let (code, body) = healthcheck_body(&handle.status());
    assert_eq!(code, 200);
    assert_eq!(body, r#"{"IsOk":true,"LatencySeconds":0.007,"Err":""}"#);
    let h = handle.latency_ms.snapshot();
    assert_eq!(h.count, 1);
    assert!((h.sum - 7.0).abs() < 1e-9, "sum {}", h.sum);
    // 7 ms falls in the 8 ms bucket, not the 4 ms one.
    assert_eq!(h.buckets.iter().find(|(b, _)| *b == 4.0).unwrap().1, 0);
    assert_eq!(h.buckets.iter().find(|(b, _)| *b == 8.0).unwrap().1, 1);
    assert_eq!(handle.errors.get(), 0);
    {
        let q = target.queries.lock().unwrap();
        assert_eq!(q.len(), 1);
        assert!(q[0].metadata.recursion_desired);
        assert_eq!(
            q[0].queries[0].query_type(),
            hickory_proto::rr::RecordType::SRV
        );
        assert_eq!(
            q[0].queries[0].query_class(),
            hickory_proto::rr::DNSClass::IN
        );
        assert_eq!(
            q[0].queries[0].name().to_ascii(),
            "kubernetes.default.svc.cluster.local."
        );
    }

    // Next probe at t=6 s (interval − latency): empty answer section fails.
    target.set(Mode::Empty);
    at(t0, 5.9).await;
    assert_eq!(
        handle.status().clone(),
        ProbeStatus::Ok {
            latency: Duration::from_millis(7)
        }
    );
    at(t0, 6.5).await;
    let (code, body) = healthcheck_body(&handle.status());
    assert_eq!(code, 503);
    assert_eq!(
        body,
        r#"{"IsOk":false,"LatencySeconds":0,"Err":"no RRs for domain \"kubernetes.default.svc.cluster.local.\""}"#
    );
    assert_eq!(handle.errors.get(), 1);

    // Transport error at t=11 s.
    target.set(Mode::Fail(
        "read udp 127.0.0.1:4242->127.0.0.1:10053: connection refused",
    ));
    at(t0, 11.5).await;
    assert_eq!(
        handle.status(),
        ProbeStatus::Failed("read udp 127.0.0.1:4242->127.0.0.1:10053: connection refused".into())
    );
    assert_eq!(handle.errors.get(), 2);

    // Stuck target at t=16 s: the probe's own timeout (2.5 s) turns it into an error.
    target.set(Mode::Hang);
    at(t0, 18.0).await;
    assert_eq!(handle.errors.get(), 2, "still waiting on the stuck query");
    at(t0, 19.0).await;
    assert_eq!(handle.errors.get(), 3);
    match handle.status() {
        ProbeStatus::Failed(e) => assert!(e.contains("i/o timeout"), "{e}"),
        other => panic!("unexpected {other:?}"),
    }

    // Recovery at t=21 s (16 + 5: the stuck probe's time counts against the interval).
    target.set(Mode::Answer(Duration::from_millis(3)));
    at(t0, 21.5).await;
    assert_eq!(
        handle.status(),
        ProbeStatus::Ok {
            latency: Duration::from_millis(3)
        }
    );
    assert_eq!(handle.latency_ms.snapshot().count, 2);
    assert_eq!(target.queries.lock().unwrap().len(), 5);

    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_start_delay() {
    let spec = parse_probe("a,127.0.0.1:53,x,5,A").unwrap();
    let handle = Arc::new(ProbeHandle::new(spec));
    let target = Arc::new(FakeTarget {
        mode: Mutex::new(Mode::Hang),
        queries: Mutex::new(Vec::new()),
    });
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_probe(
        handle,
        target.clone(),
        Duration::from_secs(3),
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    shutdown.cancel();
    task.await.unwrap();
    assert!(target.queries.lock().unwrap().is_empty());
}
