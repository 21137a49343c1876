//! Tests of the upstream client: acceptance rules (table), 0x20 spelling and restore, and
//! the whole client against the scripted [`FnTransport`] with paused time (spoofs ignored,
//! deadlines, TC→TCP, 0x20 modes, failover and the rcode policy), plus one real-socket run.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::fake::FnTransport;
use super::wire::*;
use super::*;

const A: u16 = 1;
const AAAA: u16 = 28;
const IN: u16 = 1;
const TIMEOUT: Duration = Duration::from_millis(500);

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

/// `www.example.com` in the spelling given.
fn name(spelling: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in spelling.split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

fn question(spelling: &str, qtype: u16) -> Question {
    Question {
        name: name(spelling),
        qtype,
        qclass: IN,
    }
}

fn udp_query(q: Question) -> Query {
    Query {
        question: q,
        flags: QueryFlags {
            rd: true,
            cd: false,
            edns: None,
        },
        tcp: false,
    }
}

/// A reply to `query`: same ID and question bytes, `rcode`, `tc`, one A record whose owner
/// is the question name written out in full as `owner` (or compressed to it when `None`).
fn reply(query: &[u8], rcode: u8, tc: bool, owner: Option<&[u8]>) -> Vec<u8> {
    let end = HEADER_LEN + name_len(query, HEADER_LEN).expect("name") + 4;
    let mut r = query[..end].to_vec();
    r[2] = 0x81 | if tc { 0x02 } else { 0 };
    r[3] = 0x80 | rcode;
    r[6..12].copy_from_slice(&[0, 1, 0, 0, 0, 0]);
    r.extend_from_slice(owner.unwrap_or(&[0xC0, 0x0C]));
    r.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    r
}

/// The same message with another ID.
fn with_id(mut msg: Vec<u8>, id: u16) -> Vec<u8> {
    msg[..2].copy_from_slice(&id.to_be_bytes());
    msg
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.0.lock().expect("lock").clone()
    }
}

impl Observer for Recorder {
    fn attempt(&self, s: SocketAddr) {
        self.0.lock().expect("lock").push(format!("attempt {s}"));
    }
    fn unwanted(&self, _: SocketAddr, _: SocketAddr, why: Unwanted) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("unwanted {why:?}"));
    }
    fn tcp_retry(&self, _: SocketAddr, why: TcpRetry) {
        self.0.lock().expect("lock").push(format!("tcp {why:?}"));
    }
    fn failed(&self, s: SocketAddr, failure: &str) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("failed {s} {failure}"));
    }
    fn succeeded(&self, s: SocketAddr) {
        self.0.lock().expect("lock").push(format!("ok {s}"));
    }
}

fn client(t: FnTransport, case: CaseMode, rcode: RcodePolicy) -> (Client, Arc<FnTransport>) {
    let t = Arc::new(t);
    let opts = Options {
        attempt_timeout: TIMEOUT,
        case,
        rcode,
        ..Options::default()
    };
    (Client::new(t.clone(), opts), t)
}

#[test]
fn acceptance_rules() {
    let server = addr("192.0.2.53:53");
    let q = question("www.example.com", A);
    let query = build_query(7, &q.name, &q, udp_query(q.clone()).flags);
    let good = reply(&query, 0, false, None);
    let mut not_response = good.clone();
    not_response[2] &= !0x80;
    let mut opcode_update = good.clone();
    opcode_update[2] |= 5 << 3;
    let mut no_question = good.clone();
    no_question[5] = 0;
    let upper = question("WWW.EXAMPLE.COM", A);
    let sent_upper = upper.name.clone();
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, SocketAddr, Question, Option<&[u8]>, Result<(), Unwanted>)> = vec![
        ("good", good.clone(), server, q.clone(), None, Ok(())),
        ("wrong source port", good.clone(), addr("192.0.2.53:54"), q.clone(), None, Err(Unwanted::WrongSource)),
        ("wrong source address", good.clone(), addr("192.0.2.54:53"), q.clone(), None, Err(Unwanted::WrongSource)),
        ("wrong ID", with_id(good.clone(), 8), server, q.clone(), None, Err(Unwanted::WrongId)),
        ("QR=0", not_response, server, q.clone(), None, Err(Unwanted::NotResponse)),
        ("opcode UPDATE", opcode_update, server, q.clone(), None, Err(Unwanted::NotResponse)),
        ("QDCOUNT 0", no_question, server, q.clone(), None, Err(Unwanted::WrongQuestion)),
        ("other name", good.clone(), server, question("www.example.org", A), None, Err(Unwanted::WrongQuestion)),
        ("other type", good.clone(), server, question("www.example.com", AAAA), None, Err(Unwanted::WrongQuestion)),
        ("other class", good.clone(), server, Question { qclass: 3, ..q.clone() }, None, Err(Unwanted::WrongQuestion)),
        ("case differs, 0x20 off", good.clone(), server, upper.clone(), None, Ok(())),
        ("case differs, 0x20 on", good.clone(), server, upper, Some(&sent_upper), Err(Unwanted::CaseMismatch)),
        ("case echoed, 0x20 on", good.clone(), server, q.clone(), Some(&q.name), Ok(())),
        ("header only", good[..12].to_vec(), server, q.clone(), None, Err(Unwanted::WrongQuestion)),
        ("empty", vec![], server, q.clone(), None, Err(Unwanted::WrongId)),
    ];
    for (what, msg, from, q, exact, want) in cases {
        assert_eq!(
            accept_reply(&msg, from, server, 7, &q, exact),
            want,
            "{what}"
        );
    }
}

#[test]
fn query_layout() {
    let q = question("a.example", AAAA);
    let plain = QueryFlags {
        rd: false,
        cd: true,
        edns: None,
    };
    let b = build_query(0x1234, &q.name, &q, plain);
    assert_eq!(b[..12], [0x12, 0x34, 0, 0x10, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(b.len(), 12 + q.name.len() + 4);
    let edns = QueryFlags {
        rd: true,
        cd: false,
        edns: Some(EdnsOpt {
            payload: 1232,
            dnssec_ok: true,
        }),
    };
    let b = build_query(1, &q.name, &q, edns);
    assert_eq!(b[2], 0x01);
    assert_eq!(u16_at(&b, 10), Some(1));
    let opt = &b[12 + q.name.len() + 4..];
    assert_eq!(opt, [0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
}

#[test]
fn randomize_case_keeps_the_name_and_flips_only_letters() {
    let n = name("ab-1.Example.COM");
    assert_eq!(randomize_case(&n, &mut || true), name("AB-1.EXAMPLE.COM"));
    assert_eq!(randomize_case(&n, &mut || false), name("ab-1.example.com"));
    let n = name("abcdefghij.klmnopqrst");
    let spellings: std::collections::HashSet<Vec<u8>> = (0..64)
        .map(|_| randomize_case(&n, &mut rand::random))
        .inspect(|s| assert!(s.eq_ignore_ascii_case(&n)))
        .collect();
    assert!(spellings.len() > 60, "{} spellings", spellings.len());
    // Root and malformed input do not panic.
    assert_eq!(randomize_case(&[0], &mut || true), [0]);
    assert_eq!(randomize_case(&[5, b'a'], &mut || true), [5, b'A']);
}

#[test]
fn restore_case_gives_back_the_callers_spelling() {
    let wanted = name("WwW.Example.com");
    let sent = name("wWw.exAMple.COM");
    let q = question("WwW.Example.com", A);
    let query = build_query(9, &sent, &q, udp_query(q.clone()).flags);
    // Owner written out as sent: question and owner restored.
    let mut r = reply(&query, 0, false, Some(&sent));
    restore_case(&mut r, &wanted, Some(&sent));
    assert_eq!(r[12..12 + wanted.len()], wanted[..]);
    let owners = owner_starts(&r);
    assert_eq!(owners.len(), 1);
    assert_eq!(r[owners[0]..owners[0] + wanted.len()], wanted[..]);
    // The server's own spelling of an owner is left alone.
    let theirs = name("WWW.example.com");
    let mut r = reply(&query, 0, false, Some(&theirs));
    restore_case(&mut r, &wanted, Some(&sent));
    assert_eq!(r[owners[0]..owners[0] + theirs.len()], theirs[..]);
    // Without 0x20 only the question is rewritten, and only when equal up to case.
    let mut r = reply(&query, 0, false, Some(&sent));
    restore_case(&mut r, &wanted, None);
    assert_eq!(r[12..12 + wanted.len()], wanted[..]);
    assert_eq!(r[owners[0]..owners[0] + sent.len()], sent[..]);
    let mut other = reply(&query, 0, false, None);
    let before = other.clone();
    restore_case(&mut other, &name("www.example.org"), None);
    assert_eq!(other, before);
}

/// RFC 5452 §9.1: spoofed datagrams (wrong port, ID, question, 0x20 case) are dropped and
/// counted; the real reply that follows is used.
#[tokio::test(start_paused = true)]
async fn spoofs_are_ignored_until_the_real_reply() {
    let server = addr("192.0.2.53:53");
    let t = FnTransport::udp(move |s, q| {
        let good = reply(q, 0, false, None);
        let id = u16_at(q, 0).expect("id");
        let mut folded = good.clone();
        folded[13] ^= 0x20; // the first letter in the other case
        let other_name = reply(
            &build_query(
                id,
                &name("evil.example.com"),
                &question("evil.example.com", A),
                udp_query(question("x", A)).flags,
            ),
            0,
            false,
            None,
        );
        vec![
            (good.clone(), addr("192.0.2.53:5353")),
            (good.clone(), addr("192.0.2.99:53")),
            (with_id(good.clone(), id.wrapping_add(1)), s),
            (other_name, s),
            (folded, s),
            (good, s),
        ]
    });
    let (c, t) = client(t, CaseMode::Strict, RcodePolicy::FAILOVER_THEN_RELAY);
    let obs = Recorder::default();
    let q = udp_query(question("WWW.example.COM", A));
    let got = c.exchange(server, &q, &obs).await.expect("reply");
    assert!(!got.tcp);
    assert_eq!(
        got.reply[12..12 + q.question.name.len()],
        q.question.name[..]
    );
    assert_eq!(
        obs.events(),
        [
            "unwanted WrongSource",
            "unwanted WrongSource",
            "unwanted WrongId",
            "unwanted WrongQuestion",
            "unwanted CaseMismatch",
        ]
    );
    // The 0x20 spelling went out: the same name ignoring case.
    let sent = t.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].bytes[12..29].eq_ignore_ascii_case(&q.question.name));
}

/// Only spoofs: the try fails at exactly the per-try deadline.
#[tokio::test(start_paused = true)]
async fn only_spoofs_time_out_at_the_deadline() {
    let server = addr("192.0.2.53:53");
    let t = FnTransport::udp(|_, q| vec![(reply(q, 0, false, None), addr("192.0.2.53:1"))]);
    let (c, _) = client(t, CaseMode::Off, RcodePolicy::FAILOVER_THEN_RELAY);
    let start = tokio::time::Instant::now();
    let err = c
        .exchange(server, &udp_query(question("a.example", A)), &Quiet)
        .await
        .expect_err("spoof only");
    assert!(matches!(err, TryError::Timeout), "{err}");
    assert_eq!(start.elapsed(), TIMEOUT);
}

/// TC=1 → the same server over TCP with a new ID and the caller's spelling; 0x20 fallback
/// → TCP; 0x20 strict with a case-folding server → timeout.
#[tokio::test(start_paused = true)]
async fn tcp_retry_cases() {
    let server = addr("192.0.2.53:53");
    let fold = |q: &[u8]| {
        let mut r = reply(q, 0, false, None);
        r[13] ^= 0x20; // the first letter in the other case: not the spelling sent
        r
    };
    #[rustfmt::skip]
    let cases: [(&str, CaseMode, bool, Option<TcpRetry>); 4] = [
        ("truncated", CaseMode::Off, true, Some(TcpRetry::Truncated)),
        ("0x20 echoed", CaseMode::Strict, false, None),
        ("0x20 folded, fallback", CaseMode::Fallback, true, Some(TcpRetry::CaseNotEchoed)),
        ("0x20 folded, strict", CaseMode::Strict, true, None),
    ];
    for (what, case, misbehave, want) in cases {
        let t = FnTransport::udp(move |s, q| {
            let r = match (misbehave, case) {
                (true, CaseMode::Off) => reply(q, 0, true, None),
                (true, _) => fold(q),
                (false, _) => reply(q, 0, false, None),
            };
            vec![(r, s)]
        })
        .with_tcp(|_, q| Ok(reply(q, 0, false, None)));
        let (c, t) = client(t, case, RcodePolicy::FAILOVER_THEN_RELAY);
        let obs = Recorder::default();
        let q = udp_query(question("Www.Example.com", A));
        let got = c.exchange(server, &q, &obs).await;
        let sent = t.sent();
        match (misbehave, case, want) {
            (true, CaseMode::Strict, _) => {
                assert!(matches!(got, Err(TryError::Timeout)), "{what}");
                assert_eq!(sent.len(), 1, "{what}");
            }
            (_, _, Some(why)) => {
                let got = got.expect(what);
                assert!(got.tcp, "{what}");
                assert_eq!(obs.events(), [format!("tcp {why:?}")], "{what}");
                assert_eq!(sent.len(), 2, "{what}");
                assert!(sent[1].tcp, "{what}");
                assert_ne!(sent[0].bytes[..2], sent[1].bytes[..2], "{what}: new ID");
                assert_eq!(sent[1].bytes[12..29], q.question.name[..], "{what}");
                assert_eq!(got.reply[12..29], q.question.name[..], "{what}");
            }
            _ => {
                let got = got.expect(what);
                assert!(!got.tcp, "{what}");
                assert_eq!(got.reply[12..29], q.question.name[..], "{what}");
            }
        }
    }
}

/// A TCP reply for another question is rejected; a TCP-first query never touches UDP.
#[tokio::test(start_paused = true)]
async fn tcp_replies_are_checked_too() {
    let server = addr("192.0.2.53:53");
    let t = FnTransport::udp(|s, q| vec![(reply(q, 0, true, None), s)]).with_tcp(|_, q| {
        Ok(with_id(
            reply(q, 0, false, None),
            0xffff ^ u16_at(q, 0).unwrap_or(0),
        ))
    });
    let (c, t) = client(t, CaseMode::Off, RcodePolicy::FAILOVER_THEN_RELAY);
    let q = udp_query(question("a.example", A));
    let err = c.exchange(server, &q, &Quiet).await.expect_err("bad TCP");
    assert!(
        matches!(err, TryError::TcpMismatch(Unwanted::WrongId)),
        "{err}"
    );
    let tcp_first = Query { tcp: true, ..q };
    let _ = c.exchange(server, &tcp_first, &Quiet).await;
    assert!(t.sent()[2].tcp);
    assert_eq!(t.sent().len(), 3);
}

/// Failover and the SERVFAIL/REFUSED policy, by server behaviour.
#[tokio::test(start_paused = true)]
async fn failover_and_rcode_policy() {
    const S1: &str = "192.0.2.1:53";
    const S2: &str = "192.0.2.2:53";
    // behaviour per server: None = silent (timeout), Some(rcode)
    #[rustfmt::skip]
    let cases: [(&str, RcodePolicy, [Option<u8>; 2], Result<(&str, u8), ()>, Duration); 7] = [
        ("first answers", RcodePolicy::FAILOVER_THEN_RELAY, [Some(0), Some(0)], Ok((S1, 0)), Duration::ZERO),
        ("timeout → next", RcodePolicy::FAILOVER_THEN_RELAY, [None, Some(0)], Ok((S2, 0)), TIMEOUT),
        ("SERVFAIL → next", RcodePolicy::FAILOVER_THEN_RELAY, [Some(RCODE_SERVFAIL), Some(0)], Ok((S2, 0)), Duration::ZERO),
        ("REFUSED → next", RcodePolicy::FAILOVER_THEN_FAIL, [Some(RCODE_REFUSED), Some(3)], Ok((S2, 3)), Duration::ZERO),
        ("all SERVFAIL, relay last", RcodePolicy::FAILOVER_THEN_RELAY, [Some(RCODE_SERVFAIL), Some(RCODE_REFUSED)], Ok((S2, RCODE_REFUSED)), Duration::ZERO),
        ("all SERVFAIL, fail", RcodePolicy::FAILOVER_THEN_FAIL, [Some(RCODE_SERVFAIL), Some(RCODE_SERVFAIL)], Err(()), Duration::ZERO),
        ("SERVFAIL relayed at once", RcodePolicy { failover_on_servfail: false, ..RcodePolicy::FAILOVER_THEN_FAIL }, [Some(RCODE_SERVFAIL), Some(0)], Ok((S1, RCODE_SERVFAIL)), Duration::ZERO),
    ];
    for (what, policy, behaviour, want, took) in cases {
        let t = FnTransport::udp(move |s, q| {
            let i = usize::from(s != addr(S1));
            behaviour[i]
                .map(|rc| (reply(q, rc, false, None), s))
                .into_iter()
                .collect()
        });
        let (c, _) = client(t, CaseMode::Off, policy);
        let obs = Recorder::default();
        let start = tokio::time::Instant::now();
        let got = c
            .resolve(
                &[addr(S1), addr(S2)],
                &udp_query(question("a.example", A)),
                &obs,
                |s, got| Ok::<_, String>((s, rcode(&got.reply).unwrap_or(0xff))),
            )
            .await;
        assert_eq!(start.elapsed(), took, "{what}");
        match want {
            Ok((s, rc)) => assert_eq!(got.expect(what), (addr(s), rc), "{what}"),
            Err(()) => assert!(
                matches!(got, Err(UpstreamError::AllFailed { .. })),
                "{what}"
            ),
        }
        assert_eq!(obs.events()[0], format!("attempt {S1}"), "{what}");
    }
    let (c, _) = client(
        FnTransport::udp(|_, _| vec![]),
        CaseMode::Off,
        RcodePolicy::FAILOVER_THEN_RELAY,
    );
    let q = udp_query(question("a.example", A));
    let none = c.resolve(&[], &q, &Quiet, |_, g| Ok::<_, String>(g)).await;
    assert!(matches!(none, Err(UpstreamError::NoServers)));
}

/// A reply the caller's `finish` rejects counts as that server failing.
#[tokio::test(start_paused = true)]
async fn rejected_by_finish_moves_on() {
    let t = FnTransport::udp(|s, q| vec![(reply(q, 0, false, None), s)]);
    let (c, _) = client(t, CaseMode::Off, RcodePolicy::FAILOVER_THEN_RELAY);
    let obs = Recorder::default();
    let servers = [addr("192.0.2.1:53"), addr("192.0.2.2:53")];
    let got = c
        .resolve(
            &servers,
            &udp_query(question("a.example", A)),
            &obs,
            |s, _| {
                if s == servers[0] {
                    Err("unusable")
                } else {
                    Ok(s)
                }
            },
        )
        .await;
    assert_eq!(got.expect("second"), servers[1]);
    assert_eq!(
        obs.events(),
        [
            "attempt 192.0.2.1:53",
            "failed 192.0.2.1:53 unusable",
            "attempt 192.0.2.2:53",
            "ok 192.0.2.2:53",
        ]
    );
}

/// Real sockets: a fresh source port and ID per query (RFC 5452 §9.2), a wrong-ID datagram
/// ignored, TC=1 answered over TCP.
#[tokio::test]
async fn real_sockets_vary_ports_and_ids_and_retry_over_tcp() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const QUERIES: usize = 100;
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = udp.local_addr().expect("addr");
    let tcp = tokio::net::TcpListener::bind(server)
        .await
        .expect("bind tcp");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = Arc::clone(&seen);
    let u = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            let q = buf[..n].to_vec();
            rec.lock()
                .expect("lock")
                .push((from.port(), u16_at(&q, 0).unwrap_or(0)));
            let tc = q[12 + 1] == b't';
            let good = reply(&q, 0, tc, None);
            let _ = udp
                .send_to(&with_id(good.clone(), !u16_at(&q, 0).unwrap_or(0)), from)
                .await;
            let _ = udp.send_to(&good, from).await;
        }
    });
    let tcp_task = tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            let n = usize::from(s.read_u16().await.expect("len"));
            let mut q = vec![0u8; n];
            s.read_exact(&mut q).await.expect("query");
            let r = reply(&q, 0, false, None);
            let mut framed = (r.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&r);
            s.write_all(&framed).await.expect("write");
        }
    });
    let c = Client::new(Arc::new(RealTransport), Options::default());
    let got = c
        .exchange(server, &udp_query(question("tc.example", A)), &Quiet)
        .await
        .expect("tcp answer");
    assert!(got.tcp);
    for i in 0..QUERIES {
        let q = udp_query(question(&format!("n{i}.example"), A));
        assert!(
            !c.exchange(server, &q, &Quiet)
                .await
                .expect("udp answer")
                .tcp
        );
    }
    u.abort();
    tcp_task.abort();
    let seen = seen.lock().expect("lock").clone();
    let ports: std::collections::HashSet<_> = seen.iter().map(|p| p.0).collect();
    let ids: std::collections::HashSet<_> = seen.iter().map(|p| p.1).collect();
    assert_eq!(seen.len(), QUERIES + 1);
    assert!(ports.len() >= QUERIES / 2, "{} ports", ports.len());
    assert!(ids.len() >= QUERIES - 3, "{} IDs", ids.len());
}
