//! Forwarder tests: kubedns's choices on top of the shared client (the client's own rules
//! are tested in `serverkit::upstream`): order, SERVFAIL/REFUSED failover and relay, RD,
//! EDNS and TCP copied from the client, the client's spelling given back, the re-encode,
//! and loopback fake upstreams for the socket path.

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serverkit::upstream::fake::FnTransport;
use tokio::net::UdpSocket;

use super::*;

fn question(name: &str) -> Query {
    Query::query(Name::from_ascii(name).expect("name"), RecordType::A)
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

fn rcode_of(reply: &[u8]) -> ResponseCode {
    ResponseCode::from_low(reply[3] & 0x0f)
}

fn addr(p: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], p))
}

const TRY: Duration = Duration::from_millis(100);

/// Server behaviour by port: 1 silent, 2 SERVFAIL, 3 REFUSED, 4 answers (UDP and TCP).
fn scripted() -> Arc<FnTransport> {
    let answer = |server: SocketAddr, q: &[u8]| match server.port() {
        2 => Some(reply_to(q, ResponseCode::ServFail, 0)),
        3 => Some(reply_to(q, ResponseCode::Refused, 0)),
        4 => Some(reply_to(q, ResponseCode::NoError, 0)),
        _ => None,
    };
    Arc::new(
        FnTransport::udp(move |s, q| answer(s, q).map(|r| (r, s)).into_iter().collect())
            .with_tcp(move |s, q| answer(s, q).ok_or(std::io::ErrorKind::TimedOut.into())),
    )
}

/// (server ports, client over TCP, rcode relayed or `None` = error, servers asked in order).
type RcodeCase = (&'static [u16], bool, Option<ResponseCode>, &'static [u16]);

#[tokio::test(start_paused = true)]
async fn order_failover_and_rcodes() {
    #[rustfmt::skip]
    let cases: [RcodeCase; 6] = [
        (&[4, 1], false, Some(ResponseCode::NoError), &[4]),
        (&[1, 4], false, Some(ResponseCode::NoError), &[1, 4]),
        (&[2, 4], true, Some(ResponseCode::NoError), &[2, 2, 4]),
        (&[3, 4], false, Some(ResponseCode::NoError), &[3, 4]),
        (&[2, 3], false, Some(ResponseCode::Refused), &[2, 2, 3]),
        (&[1, 1], false, None, &[1, 1]),
    ];
    for (ports, tcp, want, asked) in cases {
        let t = scripted();
        let f = Forwarder::new(t.clone(), TRY);
        let servers: Vec<_> = ports.iter().map(|p| addr(*p)).collect();
        let got = f
            .forward(&servers, &question("example.com."), true, false, tcp)
            .await;
        let what = format!("{ports:?} tcp={tcp}");
        match want {
            Some(rc) => assert_eq!(rcode_of(&got.expect(&what)), rc, "{what}"),
            None => assert!(
                matches!(got, Err(UpstreamError::AllFailed { .. })),
                "{what}"
            ),
        }
        let sent = t.sent();
        let sent_ports: Vec<u16> = sent.iter().map(|s| s.server.port()).collect();
        assert_eq!(sent_ports, asked, "{what}");
        assert!(sent.iter().all(|s| s.tcp == tcp), "{what}");
    }
    let f = Forwarder::new(scripted(), TRY);
    assert!(matches!(
        f.forward(&[], &question("example.com."), true, false, false)
            .await,
        Err(UpstreamError::NoServers)
    ));
}

#[tokio::test(start_paused = true)]
async fn rd_and_edns_follow_the_client() {
    for (rd, edns) in [(true, true), (false, false)] {
        let t = scripted();
        let f = Forwarder::new(t.clone(), TRY);
        f.forward(&[addr(4)], &question("example.com."), rd, edns, false)
            .await
            .expect("reply");
        let sent = Message::from_vec(&t.sent()[0].bytes).expect("query");
        assert_eq!(sent.metadata.recursion_desired, rd);
        assert_eq!(
            sent.edns.map(|e| e.max_payload()),
            edns.then_some(UPSTREAM_EDNS_PAYLOAD)
        );
    }
}

/// An upstream that lower-cases the question: the client gets its own spelling back
/// (RFC 4343 §4.1), also in the re-encoded reply.
#[tokio::test(start_paused = true)]
async fn question_case_is_given_back() {
    let t = Arc::new(FnTransport::udp(|s, q| {
        let mut r = reply_to(q, ResponseCode::NoError, 0);
        r[12..12 + 17].make_ascii_lowercase();
        vec![(r, s)]
    }));
    let f = Forwarder::new(t, TRY);
    let r = f
        .forward(
            &[addr(4)],
            &question("WwW.Example.COM."),
            true,
            false,
            false,
        )
        .await
        .expect("reply");
    let back = Message::from_vec(&r).expect("decodes");
    assert_eq!(back.queries[0].name().to_string(), "WwW.Example.COM.");
    assert_eq!(back.answers.len(), 1);
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
    let f = Forwarder::new(Arc::new(RealTransport), Duration::from_millis(300));
    let (good, h1) = fake_udp("good").await;
    let (tricky, h2) = fake_udp("wrong-id-then-good").await;
    let (dead, h3) = fake_udp("blackhole").await;
    let q = question("example.com.");
    let r = f
        .forward(&[good], &q, true, false, false)
        .await
        .expect("good");
    assert_eq!(Message::from_vec(&r).expect("msg").answers.len(), 1);
    let r = f
        .forward(&[tricky], &q, true, false, false)
        .await
        .expect("tricky");
    assert_eq!(rcode_of(&r), ResponseCode::NoError);
    assert_eq!(f.mismatches(), 1);
    // timeout on the first server → the second answers
    let r = f
        .forward(&[dead, good], &q, true, true, false)
        .await
        .expect("failover");
    assert_eq!(Message::from_vec(&r).expect("msg").answers.len(), 1);
    assert!(matches!(
        f.forward(&[dead], &q, true, false, false).await,
        Err(UpstreamError::AllFailed { .. })
    ));
    let m = Message::new(1, MessageType::Query, OpCode::Query);
    assert!(decode_reply(&m.to_vec().expect("encode")).is_some());
    for h in [h1, h2, h3] {
        h.abort();
    }
}
