//! Compact encoding of the commonest large replies: address records (A/AAAA) owned by the
//! question name — a Service's, a headless Service's or an endpoint's addresses — and SRV
//! records owned by it (a headless Service's SRV set, once its additional section is dropped).
//!
//! hickory-proto compresses at most 120 names per message (the Unbound limit adopted for
//! CVE-2024-8508, where compression search cost grows with the names written). Past that,
//! every owner is written in full, so 1000 endpoint addresses took 43 KB instead of 16 KB
//! and about 1400 no longer fitted in a TCP message, where legacy kube-dns fitted about 4000.
//! Here every owner is the two-byte pointer to the question name at offset 12 (RFC 1035
//! §4.1.4): constant work per record, no search, and the same bytes hickory writes for the
//! records it does compress. SRV targets are written in full, as RFC 2782 requires ("name
//! compression is not to be used for this field"), so 1000 SRV records of a headless Service
//! take 62 KB and fit in a TCP message (hickory alone fitted about 710).

use hickory_proto::ProtoError;
use hickory_proto::op::Message;
use hickory_proto::rr::RData;
use hickory_proto::serialize::binary::BinEncodable;

use serverkit::serve::DNS_HEADER_LEN as HEADER_LEN;

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
    records: Vec<Vec<u8>>,
}

impl Compact {
    /// `Some` when `msg` has only A/AAAA/SRV answers owned by its single question's name, and
    /// no authority or additional records (the OPT record is kept by hickory at the end).
    pub(super) fn new(msg: &Message) -> Option<Result<Self, ProtoError>> {
        let [q] = msg.queries.as_slice() else {
            return None;
        };
        let eligible = !msg.answers.is_empty()
            && msg.authorities.is_empty()
            && msg.additionals.is_empty()
            && msg.signature.is_none()
            && msg.answers.iter().all(|r| {
                matches!(r.data, RData::A(_) | RData::AAAA(_) | RData::SRV(_))
                    && r.name == *q.name()
            });
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
        for r in &msg.answers {
            let rdata: Vec<u8> = match &r.data {
                RData::A(a) => a.0.octets().to_vec(),
                RData::AAAA(a) => a.0.octets().to_vec(),
                // RFC 2782: priority, weight, port, then the target, never compressed (a
                // fresh encoder has no names to point at)
                RData::SRV(srv) => {
                    let mut v = Vec::with_capacity(6 + srv.target.len() + 2);
                    v.extend_from_slice(&srv.priority.to_be_bytes());
                    v.extend_from_slice(&srv.weight.to_be_bytes());
                    v.extend_from_slice(&srv.port.to_be_bytes());
                    v.extend_from_slice(&srv.target.to_bytes()?);
                    v
                }
                _ => unreachable!("checked in Compact::new"),
            };
            let mut rec = Vec::with_capacity(2 + RR_FIXED_LEN + rdata.len());
            rec.extend_from_slice(&QUESTION_POINTER);
            rec.extend_from_slice(&u16::from(r.record_type()).to_be_bytes());
            rec.extend_from_slice(&u16::from(r.dns_class).to_be_bytes());
            rec.extend_from_slice(&r.ttl.to_be_bytes());
            // a name is at most 255 bytes, so RDLENGTH fits in u16
            rec.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            rec.extend_from_slice(&rdata);
            records.push(rec);
        }
        Ok(Self {
            base,
            split,
            records,
        })
    }

    /// How many records (in order) fit in `limit` bytes.
    pub(super) fn fitting(&self, limit: usize) -> usize {
        let mut room = limit.saturating_sub(self.base.len());
        let mut n = 0;
        for rec in &self.records {
            let l = rec.len();
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
        let size: usize = self.records[..n].iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(self.base.len() + size);
        out.extend_from_slice(&self.base[..self.split]);
        for rec in &self.records[..n] {
            out.extend_from_slice(rec);
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
