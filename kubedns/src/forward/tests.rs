//! Forwarder tests: scripted transport for the retry rules, loopback fake upstreams for the
//! socket path (good answer, wrong ID ignored, timeout → next server, all down).

use std::sync::Mutex;

use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;

fn question() -> Query {
    Query::query(
        Name::from_ascii("example.com.").expect("name"),
        RecordType::A,
    )
}

fn reply_to(query: &[u8], rcode: ResponseCode, id_delta: u16) -> Vec<u8> {
    let q = Message::from_vec(query).expect("query");
    let mut m = Message::response(q.metadata.id.wrapping_add(id_delta), OpCode::Query);
    m.metadata.response_code = rcode;
    m.metadata.recursion_available = true;
    m.add_queries(q.queries.clone());
    if rcode == ResponseCode::NoError {
        m.add_answer(Record::from_rdata(
            q.queries[0].name().clone(),
            300,
            RData::A(A([192, 0, 2, 1].into())),
        ));
    }
    m.to_vec().expect("encode")
}

/// Scripted transport: per call, what the "server" does.
#[derive(Clone, Copy, Debug)]
enum Step {
    Reply(ResponseCode),
    Fail,
}

struct Scripted {
    steps: Mutex<Vec<Step>>,
    calls: Mutex<Vec<(SocketAddr, bool)>>,
}

#[async_trait::async_trait]
impl Transport for Scripted {
    async fn exchange(
        &self,
        server: SocketAddr,
        query: &[u8],
        tcp: bool,
        _timeout: Duration,
        accept: Validator<'_>,
    ) -> Result<Vec<u8>, ForwardError> {
        self.calls.lock().expect("lock").push((server, tcp));
        let step = self.steps.lock().expect("lock").remove(0);
        match step {
            Step::Reply(rc) => {
                let r = reply_to(query, rc, 0);
                assert!(accept(&r));
                Ok(r)
            }
            Step::Fail => Err(ForwardError::Timeout(server)),
        }
    }
}

fn scripted(steps: Vec<Step>) -> (Forwarder, Arc<Scripted>) {
    let t = Arc::new(Scripted {
        steps: Mutex::new(steps),
        calls: Mutex::default(),
    });
    (Forwarder::new(t.clone(), Duration::from_millis(100)), t)
}

fn addr(p: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], p))
}

#[tokio::test]
async fn order_failover_and_servfail_retry() {
    let (f, t) = scripted(vec![
        Step::Fail,
        Step::Reply(ResponseCode::ServFail),
        Step::Reply(ResponseCode::NoError),
    ]);
    let r = f
        .forward(&[addr(1), addr(2)], &question(), true, false, true)
        .await
        .expect("reply");
    assert_eq!(rcode_of(&r), Some(ResponseCode::NoError));
    assert_eq!(
        *t.calls.lock().expect("lock"),
        vec![(addr(1), true), (addr(2), true), (addr(2), true)]
    );

    // SERVFAIL twice: relayed after one retry, next server not tried
    let (f, t) = scripted(vec![
        Step::Reply(ResponseCode::ServFail),
        Step::Reply(ResponseCode::ServFail),
    ]);
    let r = f
        .forward(&[addr(1), addr(2)], &question(), true, false, false)
        .await
        .expect("reply");
    assert_eq!(rcode_of(&r), Some(ResponseCode::ServFail));
    assert_eq!(t.calls.lock().expect("lock").len(), 2);

    let (f, _) = scripted(vec![Step::Fail, Step::Fail]);
    assert!(matches!(
        f.forward(&[addr(1), addr(2)], &question(), true, false, false)
            .await,
        Err(ForwardError::AllFailed(_))
    ));
    let (f, _) = scripted(vec![]);
    assert!(matches!(
        f.forward(&[], &question(), true, false, false).await,
        Err(ForwardError::NoUpstreams)
    ));
}

#[test]
fn reply_matching_rules() {
    let mut q = Message::new(77, MessageType::Query, OpCode::Query);
    q.add_query(question());
    let qb = q.to_vec().expect("encode");
    let good = reply_to(&qb, ResponseCode::NoError, 0);
    assert!(reply_matches(77, &question(), &good));
    assert!(!reply_matches(78, &question(), &good));
    let other = Query::query(Name::from_ascii("example.org.").expect("n"), RecordType::A);
    assert!(!reply_matches(77, &other, &good));
    let upper = Query::query(Name::from_ascii("EXAMPLE.com.").expect("n"), RecordType::A);
    assert!(reply_matches(77, &upper, &good));
    // QR=0 (a query, not a response) is rejected
    assert!(!reply_matches(77, &question(), &qb));
    assert!(!reply_matches(77, &question(), &good[..11]));
}

/// Loopback fake upstream: answers each UDP query per `mode`.
async fn fake_udp(mode: &'static str) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let a = sock.local_addr().expect("addr");
    let h = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let q = buf[..n].to_vec();
            match mode {
                "good" => {
                    let _ = sock
                        .send_to(&reply_to(&q, ResponseCode::NoError, 0), from)
                        .await;
                }
                "wrong-id-then-good" => {
                    let _ = sock
                        .send_to(&reply_to(&q, ResponseCode::NoError, 1), from)
                        .await;
                    let _ = sock
                        .send_to(&reply_to(&q, ResponseCode::NoError, 0), from)
                        .await;
                }
                _ => {} // blackhole
            }
        }
    });
    (a, h)
}

#[tokio::test]
async fn loopback_upstreams() {
    let f = Forwarder::new(Arc::new(NetTransport), Duration::from_millis(300));
    let (good, h1) = fake_udp("good").await;
    let (tricky, h2) = fake_udp("wrong-id-then-good").await;
    let (dead, h3) = fake_udp("blackhole").await;
    let r = f
        .forward(&[good], &question(), true, false, false)
        .await
        .expect("good");
    assert_eq!(Message::from_vec(&r).expect("msg").answers.len(), 1);
    let r = f
        .forward(&[tricky], &question(), true, false, false)
        .await
        .expect("tricky");
    assert_eq!(rcode_of(&r), Some(ResponseCode::NoError));
    assert_eq!(f.mismatches(), 1);
    // timeout on the first server → the second answers
    let r = f
        .forward(&[dead, good], &question(), true, true, false)
        .await
        .expect("failover");
    assert_eq!(Message::from_vec(&r).expect("msg").answers.len(), 1);
    assert!(matches!(
        f.forward(&[dead], &question(), true, false, false).await,
        Err(ForwardError::AllFailed(_))
    ));
    for h in [h1, h2, h3] {
        h.abort();
    }
}

/// RFC 5452 §9.2: IDs and source ports of upstream queries are unpredictable. 200 queries
/// must show (almost) no repeated (port, ID) pairs and many distinct ports.
#[tokio::test]
async fn upstream_ids_and_ports_vary() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let a = sock.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::<(u16, u16)>::new()));
    let rec = seen.clone();
    let h = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let q = buf[..n].to_vec();
            rec.lock()
                .expect("lock")
                .push((from.port(), u16::from_be_bytes([q[0], q[1]])));
            let _ = sock
                .send_to(&reply_to(&q, ResponseCode::NoError, 0), from)
                .await;
        }
    });
    let f = Forwarder::new(Arc::new(NetTransport), Duration::from_secs(2));
    for _ in 0..200 {
        f.forward(&[a], &question(), true, false, false)
            .await
            .expect("reply");
    }
    h.abort();
    let seen = seen.lock().expect("lock").clone();
    let pairs: std::collections::HashSet<_> = seen.iter().collect();
    let ports: std::collections::HashSet<_> = seen.iter().map(|p| p.0).collect();
    let ids: std::collections::HashSet<_> = seen.iter().map(|p| p.1).collect();
    assert_eq!(seen.len(), 200);
    assert!(pairs.len() >= 198, "{}", pairs.len());
    assert!(ports.len() >= 100, "{}", ports.len());
    assert!(ids.len() >= 190, "{}", ids.len());
}

#[test]
fn question_case_is_echoed_from_our_query() {
    let q = Query::query(
        Name::from_ascii("WwW.Example.COM.").expect("name"),
        RecordType::A,
    );
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.add_query(q);
    let query = m.to_vec().expect("encode");
    let lower = Query::query(
        Name::from_ascii("www.example.com.").expect("name"),
        RecordType::A,
    );
    let mut r = Message::response(7, OpCode::Query);
    r.add_query(lower.clone());
    r.add_answer(Record::from_rdata(
        lower.name().clone(),
        30,
        RData::A(A([192, 0, 2, 1].into())),
    ));
    let mut reply = r.to_vec().expect("encode");
    echo_question_case(&query, &mut reply);
    let back = Message::from_vec(&reply).expect("decodes");
    assert_eq!(back.queries[0].name().to_string(), "WwW.Example.COM.");
    // A different name is left alone.
    let other = Query::query(
        Name::from_ascii("www.example.org.").expect("name"),
        RecordType::A,
    );
    let mut r2 = Message::response(7, OpCode::Query);
    r2.add_query(other);
    let mut reply2 = r2.to_vec().expect("encode");
    let before = reply2.clone();
    echo_question_case(&query, &mut reply2);
    assert_eq!(reply2, before);
}
