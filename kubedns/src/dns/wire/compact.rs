//! Compact encoding of the commonest large reply: address records (A/AAAA) owned by the
//! question name — a Service's, a headless Service's or an endpoint's addresses.
//!
//! hickory-proto compresses at most 120 names per message (the Unbound limit adopted for
//! CVE-2024-8508, where compression search cost grows with the names written). Past that,
//! every owner is written in full, so 1000 endpoint addresses took 43 KB instead of 16 KB
//! and about 1400 no longer fitted in a TCP message, where legacy kube-dns fitted about 4000.
//! Here every owner is the two-byte pointer to the question name at offset 12 (RFC 1035
//! §4.1.4): constant work per record, no search, and the same bytes hickory writes for the
//! records it does compress.

use hickory_proto::ProtoError;
use hickory_proto::op::Message;
use hickory_proto::rr::RData;
use hickory_proto::serialize::binary::BinEncodable;

use super::HEADER_LEN;

/// A compression pointer to offset 12, where the question name starts (RFC 1035 §4.1.4).
const QUESTION_POINTER: [u8; 2] = [0xC0, 0x0C];
/// TYPE, CLASS, TTL and RDLENGTH (RFC 1035 §4.1.3).
const RR_FIXED_LEN: usize = 10;

/// Encoded answer records, ready to be placed after the question.
pub(super) struct Compact {
    /// The message without answers (header with ANCOUNT 0, question, OPT).
    base: Vec<u8>,
    /// Where the question ends in `base`.
    split: usize,
    /// Each answer record, encoded.
    records: Vec<[u8; 2 + RR_FIXED_LEN + 16]>,
    /// Lengths of `records` entries (12 + 4 or 12 + 16).
    lens: Vec<u8>,
}

impl Compact {
    /// `Some` when `msg` has only A/AAAA answers owned by its single question's name, and no
    /// authority or additional records (the OPT record is kept by hickory at the end).
    pub(super) fn new(msg: &Message) -> Option<Result<Self, ProtoError>> {
        let [q] = msg.queries.as_slice() else {
            return None;
        };
        let eligible = !msg.answers.is_empty()
            && msg.authorities.is_empty()
            && msg.additionals.is_empty()
            && msg.signature.is_none()
            && msg
                .answers
                .iter()
                .all(|r| matches!(r.data, RData::A(_) | RData::AAAA(_)) && r.name == *q.name());
        if !eligible {
            return None;
        }
        Some(Self::encode(msg, q))
    }

    fn encode(msg: &Message, q: &hickory_proto::op::Query) -> Result<Self, ProtoError> {
        let mut bare = Message::new(
            msg.metadata.id,
            msg.metadata.message_type,
            msg.metadata.op_code,
        );
        bare.metadata = msg.metadata;
        bare.queries = msg.queries.clone();
        bare.edns = msg.edns.clone();
        let base = bare.to_vec()?;
        let split = HEADER_LEN + q.to_bytes()?.len();
        let mut records = Vec::with_capacity(msg.answers.len());
        let mut lens = Vec::with_capacity(msg.answers.len());
        for r in &msg.answers {
            let mut rec = [0u8; 2 + RR_FIXED_LEN + 16];
            rec[..2].copy_from_slice(&QUESTION_POINTER);
            rec[2..4].copy_from_slice(&u16::from(r.record_type()).to_be_bytes());
            rec[4..6].copy_from_slice(&u16::from(r.dns_class).to_be_bytes());
            rec[6..10].copy_from_slice(&r.ttl.to_be_bytes());
            let rdata: &[u8] = match &r.data {
                RData::A(a) => &a.0.octets(),
                RData::AAAA(a) => &a.0.octets(),
                _ => unreachable!("checked in Compact::new"),
            };
            rec[10..12].copy_from_slice(&(rdata.len() as u16).to_be_bytes());
            rec[12..12 + rdata.len()].copy_from_slice(rdata);
            records.push(rec);
            lens.push((12 + rdata.len()) as u8);
        }
        Ok(Self {
            base,
            split,
            records,
            lens,
        })
    }

    /// How many records (in order) fit in `limit` bytes.
    pub(super) fn fitting(&self, limit: usize) -> usize {
        let mut room = limit.saturating_sub(self.base.len());
        let mut n = 0;
        for &l in &self.lens {
            let l = usize::from(l);
            if l > room {
                break;
            }
            room -= l;
            n += 1;
        }
        n
    }

    /// Total records.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// The message with the first `n` records, TC set when `truncated`.
    pub(super) fn bytes(&self, n: usize, truncated: bool) -> Vec<u8> {
        let size: usize = self.lens[..n].iter().map(|&l| usize::from(l)).sum();
        let mut out = Vec::with_capacity(self.base.len() + size);
        out.extend_from_slice(&self.base[..self.split]);
        for (rec, &l) in self.records[..n].iter().zip(&self.lens) {
            out.extend_from_slice(&rec[..usize::from(l)]);
        }
        out.extend_from_slice(&self.base[self.split..]);
        // ANCOUNT (RFC 1035 §4.1.1): n ≤ 65535 / 16
        out[6..8].copy_from_slice(&(n as u16).to_be_bytes());
        if truncated {
            out[2] |= 0x02;
        }
        out
    }
}
