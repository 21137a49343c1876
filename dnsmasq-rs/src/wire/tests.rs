//! Named cases for the wire reader and writer.

use super::*;

fn query(name: &str, qtype: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
    let mut b = vec![0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.').filter(|l| !l.is_empty()) {
        b.push(l.len() as u8);
        b.extend_from_slice(l.as_bytes());
    }
    b.push(0);
    b.extend_from_slice(&qtype.to_be_bytes());
    b.extend_from_slice(&1u16.to_be_bytes());
    if let Some((size, d)) = edns {
        b[11] = 1;
        b.extend_from_slice(&[0, 0, 41]);
        b.extend_from_slice(&size.to_be_bytes());
        b.extend_from_slice(&[0, 0, if d { 0x80 } else { 0 }, 0, 0, 0]);
    }
    b
}

#[test]
fn parses_question_and_lowercases_key() {
    let b = query("WwW.Example.COM", TYPE_A, Some((4096, true)));
    let Parsed::Query(q) = parse_query(&b) else {
        panic!("not a query")
    };
    assert_eq!(q.id, 0x1234);
    assert!(q.rd);
    assert_eq!(q.name_string(), "www.example.com");
    assert_eq!(q.udp_limit(), UDP_EDNS_CAP);
    assert!(q.dnssec_ok());
    assert_eq!(q.key().last(), Some(&1));
}

#[test]
fn cheap_rejections() {
    assert!(matches!(parse_query(&[0; 11]), Parsed::Drop));
    let mut b = query("a", TYPE_A, None);
    b[2] |= 0x80;
    assert!(matches!(parse_query(&b), Parsed::Drop));
    let mut b = query("a", TYPE_A, None);
    b[2] = 0x10; // opcode 2 (STATUS)
    assert!(matches!(
        parse_query(&b),
        Parsed::Error {
            rcode: RCODE_NOTIMP,
            ..
        }
    ));
    let mut b = query("a", TYPE_A, None);
    b.truncate(b.len() - 1);
    assert!(matches!(
        parse_query(&b),
        Parsed::Error {
            rcode: RCODE_FORMERR,
            ..
        }
    ));
    // 64-byte label
    let mut b = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64];
    b.extend_from_slice(&[b'a'; 64]);
    b.extend_from_slice(&[0, 0, 1, 0, 1]);
    assert!(matches!(parse_query(&b), Parsed::Error { .. }));
}

#[test]
fn udp_limits() {
    let Parsed::Query(q) = parse_query(&query("a", TYPE_A, None)) else {
        panic!()
    };
    assert_eq!(q.udp_limit(), 512);
    let Parsed::Query(q) = parse_query(&query("a", TYPE_A, Some((100, false)))) else {
        panic!()
    };
    assert_eq!(q.udp_limit(), 512);
}

#[test]
fn pointer_loops_rejected() {
    let b = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 12];
    assert_eq!(skip_name(&b, 12), Err(WireError::BadName));
    assert_eq!(read_name(&b, 12).err(), Some(WireError::BadName));
    let b = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 14, 0];
    assert_eq!(skip_name(&b, 12), Err(WireError::BadName));
}

#[test]
fn name_conversions() {
    let w = string_to_wire_name("Cluster.Local.").unwrap();
    assert_eq!(wire_name_to_string(&w), "cluster.local");
    assert_eq!(string_to_wire_name("").unwrap(), vec![0]);
    assert!(string_to_wire_name("a..b").is_none());
    let mut buf = [0u8; MAX_NAME_LEN + 1];
    assert_eq!(dotted_name(&w, &mut buf), Some("cluster.local"));
    assert_eq!(dotted_name(&[0], &mut buf), Some(""));
    assert_eq!(dotted_name(&[3, b'a', b'.', b'b', 0], &mut buf), None);
}
