//! Malformed queries and compression-pointer abuse over real UDP against the real kubedns
//! and dnsmasq-rs binaries (issue 8, B4 rows 10 and 12; RFC 9267 anti-patterns). Every case
//! has one expected outcome per server (dropped, or a specific RCODE with the query's ID),
//! must be decided in bounded time, and after every case the server still answers a good
//! query. Skipped with a message until the binaries are built.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use integration::harness::bins::skip_without_binaries;
use integration::harness::{DnsClient, Stack, StackOptions, Transport};

const NOERROR: u8 = 0;
const FORMERR: u8 = 1;
const NOTIMP: u8 = 4;

/// What a server must do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// No reply at all.
    Drop,
    /// A reply with this RCODE (low 4 bits) and the query's ID.
    Rcode(u8),
}

fn header(id: u16, flags: u16, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    [id, flags, qd, an, ns, ar]
        .iter()
        .flat_map(|x| x.to_be_bytes())
        .collect()
}

/// A well-formed question for `kubernetes.default.svc.cluster.local. A IN`.
fn question() -> Vec<u8> {
    let mut q = Vec::new();
    for l in ["kubernetes", "default", "svc", "cluster", "local"] {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// One table row: (name, packet, kubedns outcome, dnsmasq-rs outcome).
type Case = (&'static str, Vec<u8>, Outcome, Outcome);

fn cases() -> Vec<Case> {
    use Outcome::*;
    let rd = 0x0100;
    let good = [header(1, rd, 1, 0, 0, 0), question()].concat();
    let mut v = Vec::new();
    v.push(("zero bytes", Vec::new(), Drop, Drop));
    v.push(("11 bytes", good[..11].to_vec(), Drop, Drop));
    let mut qr = good.clone();
    qr[2] |= 0x80;
    v.push(("QR=1 (a response)", qr, Drop, Drop));
    let mut notify = good.clone();
    notify[2] |= 4 << 3;
    v.push(("opcode NOTIFY", notify, Rcode(NOTIMP), Rcode(NOTIMP)));
    let mut update = good.clone();
    update[2] |= 5 << 3;
    v.push(("opcode UPDATE", update, Rcode(NOTIMP), Rcode(NOTIMP)));

    // RFC 9267 §2: compression pointer to itself (C0 0C at offset 12).
    let p = [header(2, rd, 1, 0, 0, 0), vec![0xc0, 0x0c, 0, 1, 0, 1]].concat();
    v.push(("pointer to itself", p, Rcode(FORMERR), Rcode(FORMERR)));
    // Two pointers to each other: name at 12 is a label then a pointer to 16 (itself a
    // pointer back to 12).
    let p = [
        header(3, rd, 1, 0, 0, 0),
        vec![1, b'a', 0xc0, 0x10, 0xc0, 0x0c, 0, 1, 0, 1],
    ]
    .concat();
    v.push(("pointer loop of two", p, Rcode(FORMERR), Rcode(FORMERR)));
    // §3: forward pointer (points past itself, to a name in trailing data).
    let p = [
        header(4, rd, 1, 0, 0, 0),
        vec![0xc0, 0x12, 0, 1, 0, 1, 1, b'a', 0],
    ]
    .concat();
    v.push(("forward pointer", p, Rcode(FORMERR), Rcode(FORMERR)));
    // Pointer out of the packet.
    let p = [header(5, rd, 1, 0, 0, 0), vec![0xff, 0xff, 0, 1, 0, 1]].concat();
    v.push(("pointer past the end", p, Rcode(FORMERR), Rcode(FORMERR)));
    // §4: 64-byte label (the length byte 64 is a reserved label type).
    let mut p = header(6, rd, 1, 0, 0, 0);
    p.push(64);
    p.extend_from_slice(&[b'x'; 64]);
    p.extend_from_slice(&[0, 0, 1, 0, 1]);
    v.push(("64-byte label", p, Rcode(FORMERR), Rcode(FORMERR)));
    // §5: name longer than 255 bytes (five 63-byte labels).
    let mut p = header(7, rd, 1, 0, 0, 0);
    for _ in 0..5 {
        p.push(63);
        p.extend_from_slice(&[b'a'; 63]);
    }
    p.extend_from_slice(&[0, 0, 1, 0, 1]);
    v.push(("name over 255 bytes", p, Rcode(FORMERR), Rcode(FORMERR)));
    // §6: counts larger than the data.
    let p = [header(8, rd, 1, 3, 0, 0), question()].concat();
    v.push(("ANCOUNT 3 without data", p, Rcode(FORMERR), Rcode(FORMERR)));
    let p = [header(9, rd, 2, 0, 0, 0), question()].concat();
    v.push((
        "QDCOUNT 2 with one question",
        p,
        Rcode(FORMERR),
        Rcode(FORMERR),
    ));
    // Question cut in the middle of QTYPE.
    let mut p = [header(10, rd, 1, 0, 0, 0), question()].concat();
    p.truncate(p.len() - 3);
    v.push(("truncated question", p, Rcode(FORMERR), Rcode(FORMERR)));
    // OPT with an RDLENGTH larger than the data.
    let p = [
        header(11, rd, 1, 0, 0, 1),
        question(),
        vec![0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 50, 1, 2],
    ]
    .concat();
    v.push(("bad RDLENGTH", p, Rcode(FORMERR), Rcode(FORMERR)));
    v
}

async fn exercise(what: &str, server: SocketAddr, pick: fn(&Case) -> Outcome) {
    let client = DnsClient {
        timeout: Duration::from_millis(700),
        ..DnsClient::new(server)
    };
    let good = DnsClient::new(server);
    for case in cases() {
        let (name, pkt, _, _) = &case;
        let want = pick(&case);
        let start = Instant::now();
        let got = client.send_raw(pkt, Transport::Udp).await;
        match (want, got) {
            (Outcome::Drop, Err(_)) => {}
            (Outcome::Drop, Ok(r)) => panic!("{what}: {name}: expected no reply, got {r:02x?}"),
            (Outcome::Rcode(_), Err(e)) => panic!("{what}: {name}: expected a reply, got {e}"),
            (Outcome::Rcode(rc), Ok(r)) => {
                assert!(r.len() >= 12, "{what}: {name}: short reply {r:02x?}");
                assert_eq!(r[..2], pkt[..2], "{what}: {name}: reply ID");
                assert_ne!(r[2] & 0x80, 0, "{what}: {name}: QR set");
                assert_eq!(r[3] & 0x0f, rc, "{what}: {name}: RCODE");
                assert!(
                    start.elapsed() < Duration::from_millis(500),
                    "{what}: {name}: took {:?}",
                    start.elapsed()
                );
            }
        }
        // still alive and answering
        let m = good
            .udp("kubernetes.default.svc.cluster.local.", RecordType::A)
            .await
            .unwrap_or_else(|e| panic!("{what}: not answering after {name}: {e}"));
        assert_eq!(
            m.metadata.response_code.low(),
            NOERROR,
            "{what} after {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9267_table_against_both_servers() -> anyhow::Result<()> {
    if skip_without_binaries() {
        return Ok(());
    }
    let mut opts = StackOptions::full();
    opts.healthz = false;
    let stack = Stack::start(opts).await?;
    exercise("kubedns", stack.kubedns_addr(), |c| c.2).await;
    let dnsmasq = stack
        .dnsmasq_addr()
        .ok_or_else(|| anyhow::anyhow!("no dnsmasq-rs"))?;
    exercise("dnsmasq-rs", dnsmasq, |c| c.3).await;
    Ok(())
}
