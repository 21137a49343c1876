//! A small typed builder for the replies dnsmasq-rs writes itself (local answers, CHAOS,
//! errors), so no caller computes section offsets (RFC 1035 §4.1): a [`Reply`] starts from
//! the client's question, takes answer records owned by the question name, and finishes with
//! the client's EDNS OPT (RFC 6891 §6.1.1) and, over UDP, the size cap (RFC 1035 §4.2.1,
//! RFC 6891 §6.2.5: truncate to the question with TC set).
//!
//! Writes into the caller's buffer, so a reply on the hot path does not allocate.

use std::net::IpAddr;

use crate::wire::{self, QueryInfo};

/// Byte offset of the ANCOUNT field in the header.
const ANCOUNT_AT: usize = 6;
/// Byte offset of the ARCOUNT field in the header.
const ARCOUNT_AT: usize = 10;

/// A reply being written into `out`.
pub struct Reply<'a> {
    out: &'a mut Vec<u8>,
    q: &'a QueryInfo,
}

impl<'a> Reply<'a> {
    /// Header (ID, opcode, RD, CD from the query; QR; `aa` for local authoritative data) and
    /// the client's question, with `rcode`.
    pub fn start(out: &'a mut Vec<u8>, pkt: &[u8], q: &'a QueryInfo, rcode: u8, aa: bool) -> Self {
        wire::begin_response(out, pkt, q, rcode, aa);
        Reply { out, q }
    }

    /// An answer record owned by the question name.
    pub fn answer(&mut self, rtype: u16, class: u16, ttl: u32, rdata: &[u8]) -> &mut Self {
        wire::push_answer(self.out, rtype, class, ttl, rdata);
        self
    }

    /// An A or AAAA record for `ip`, owned by the question name.
    pub fn address(&mut self, ip: IpAddr, ttl: u32) -> &mut Self {
        wire::push_ip(self.out, ip, ttl);
        self
    }

    /// Number of answer records so far.
    pub fn answers(&self) -> u16 {
        wire::u16_at(self.out, ANCOUNT_AT).unwrap_or(0)
    }

    /// Adds the OPT record when the client sent EDNS (`ext_rcode_high`: the upper 8 bits of
    /// an extended rcode, e.g. BADVERS), then applies the UDP size limit when given.
    pub fn finish_with(self, ext_rcode_high: u8, udp_limit: Option<usize>) {
        if let Some(e) = self.q.edns {
            wire::push_opt(self.out, e.dnssec_ok, ext_rcode_high);
            wire::bump_count(self.out, ARCOUNT_AT);
        }
        cap(self.out, self.q, udp_limit);
    }

    /// [`Reply::finish_with`] without an extended rcode.
    pub fn finish(self, udp_limit: Option<usize>) {
        self.finish_with(0, udp_limit);
    }
}

/// An error reply without records or OPT (REFUSED, SERVFAIL).
pub fn error(out: &mut Vec<u8>, pkt: &[u8], q: &QueryInfo, rcode: u8) {
    wire::error_response(out, pkt, q, rcode);
}

/// Truncates `out` to the question with TC set when it exceeds `limit`.
pub fn cap(out: &mut Vec<u8>, q: &QueryInfo, limit: Option<usize>) {
    if let Some(l) = limit
        && out.len() > l
    {
        wire::truncate_to_question(out, q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Parsed;

    fn query(edns: bool) -> (Vec<u8>, QueryInfo) {
        let mut pkt = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
        pkt.extend_from_slice(b"\x01a\x07example\x00\x00\x01\x00\x01");
        if edns {
            pkt.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        }
        let Parsed::Query(q) = wire::parse_query(&pkt) else {
            panic!("test query parses")
        };
        (pkt, q)
    }

    #[test]
    fn counts_and_opt_are_maintained() {
        for edns in [false, true] {
            let (pkt, q) = query(edns);
            let mut out = Vec::new();
            let mut r = Reply::start(&mut out, &pkt, &q, wire::RCODE_NOERROR, true);
            r.address("10.0.0.1".parse().unwrap(), 30)
                .address("10.0.0.2".parse().unwrap(), 30);
            assert_eq!(r.answers(), 2);
            r.finish(None);
            let msg = hickory_proto::op::Message::from_vec(&out).expect("valid reply");
            assert_eq!(msg.metadata.id, 0xabcd);
            assert!(msg.metadata.authoritative);
            assert_eq!(msg.answers.len(), 2);
            assert_eq!(
                msg.edns.is_some(),
                edns,
                "OPT only when the client sent EDNS"
            );
        }
    }

    #[test]
    fn udp_limit_truncates_to_the_question() {
        let (pkt, q) = query(false);
        let mut out = Vec::new();
        let mut r = Reply::start(&mut out, &pkt, &q, wire::RCODE_NOERROR, true);
        for i in 0..40u8 {
            r.address(IpAddr::from([10, 0, 0, i]), 30);
        }
        r.finish(Some(wire::UDP_PLAIN_MAX));
        let msg = hickory_proto::op::Message::from_vec(&out).expect("valid reply");
        assert!(msg.metadata.truncation);
        assert!(msg.answers.is_empty());
        assert_eq!(msg.queries.len(), 1);
    }
}
