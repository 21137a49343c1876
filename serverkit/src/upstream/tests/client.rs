//! The client against the scripted transport with paused time: spoofed datagrams ignored,
//! the per-try deadline, TC→TCP and the 0x20 modes, failover and the SERVFAIL/REFUSED policy.

use super::*;

/// (what, policy, rcode per server or silent, (server, rcode) returned or failure, time taken).
type PolicyCase = (
    &'static str,
    RcodePolicy,
    [Option<u8>; 2],
    Result<(&'static str, u8), ()>,
    Duration,
);

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
    let cases: [PolicyCase; 7] = [
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

/// `servfail_retries`: a SERVFAIL is asked again of the same server before moving on; a
/// REFUSED is not.
#[tokio::test(start_paused = true)]
async fn servfail_is_retried_on_the_same_server_first() {
    let servers = [addr("192.0.2.1:53"), addr("192.0.2.2:53")];
    for (rc, asked) in [(RCODE_SERVFAIL, 3), (RCODE_REFUSED, 2)] {
        let t = FnTransport::udp(move |s, q| {
            let rcode = if s == addr("192.0.2.1:53") { rc } else { 0 };
            vec![(reply(q, rcode, false, None), s)]
        });
        let policy = RcodePolicy {
            servfail_retries: 1,
            ..RcodePolicy::FAILOVER_THEN_RELAY
        };
        let (c, t) = client(t, CaseMode::Off, policy);
        let q = udp_query(question("a.example", A));
        let got = c
            .resolve(&servers, &q, &Quiet, |s, _| Ok::<_, String>(s))
            .await;
        assert_eq!(got.expect("second server"), servers[1], "rcode {rc}");
        let sent: Vec<_> = t.sent().iter().map(|s| s.server).collect();
        assert_eq!(sent.len(), asked, "rcode {rc}: {sent:?}");
        assert_eq!(sent[asked - 1], servers[1]);
    }
}
