//! Reply acceptance (RFC 5452 §9.1) as a table, the query layout, and the 0x20 spelling
//! and its undoing.

use super::*;

/// (what, datagram, its source, question expected, 0x20 spelling sent, verdict).
type AcceptCase<'a> = (
    &'a str,
    Vec<u8>,
    SocketAddr,
    Question,
    Option<&'a [u8]>,
    Result<(), Unwanted>,
);

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
    let cases: Vec<AcceptCase<'_>> = vec![
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
