//! The bytes of the upstream client: building the upstream query, the RFC 5452 §9.1 reply
//! acceptance test ([`accept_reply`]), the 0x20 spelling (draft-vixie-dnsext-dns0x20,
//! [`randomize_case`]) and putting the caller's spelling back ([`restore_case`]).
//!
//! Names are wire-format label sequences (RFC 1035 §3.1). The question is the first name of a
//! message, so a well-formed one is never compressed (RFC 1035 §4.1.4 pointers only go back);
//! a compressed question is treated as a different question.

use std::net::SocketAddr;

/// DNS header length (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
/// Longest wire-format name (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Most compression pointers followed while skipping one name.
const MAX_POINTERS: usize = 64;
/// RR type of the EDNS OPT pseudo-record (RFC 6891 §6.1.1).
const TYPE_OPT: u16 = 41;
/// Header flag bits (byte 2 / byte 3).
const FLAG_QR: u8 = 0x80;
const FLAG_TC: u8 = 0x02;
const FLAG_RD: u8 = 0x01;
const FLAG_CD: u8 = 0x10;
/// EDNS DO bit in the high byte of the OPT TTL flags (RFC 3225 §3).
const EDNS_DO: u8 = 0x80;

/// The question asked upstream, spelt as the caller wants it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Uncompressed wire-format name.
    pub name: Vec<u8>,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
}

/// EDNS(0) record to send (RFC 6891 §6.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdnsOpt {
    /// Advertised UDP payload size.
    pub payload: u16,
    /// DNSSEC OK (RFC 3225).
    pub dnssec_ok: bool,
}

/// Header bits and EDNS of the upstream query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryFlags {
    /// Recursion desired.
    pub rd: bool,
    /// Checking disabled (RFC 4035 §3.2.2).
    pub cd: bool,
    /// OPT record, if any.
    pub edns: Option<EdnsOpt>,
}

/// Big-endian u16 at `at`.
pub fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]))
}

/// RCODE (low 4 bits, RFC 1035 §4.1.1).
pub fn rcode(msg: &[u8]) -> Option<u8> {
    msg.get(3).map(|b| b & 0x0f)
}

/// TC bit set (or no header at all).
pub fn truncated(msg: &[u8]) -> bool {
    msg.get(2).is_none_or(|f| f & FLAG_TC != 0)
}

/// Length of the uncompressed name at `at`, root byte included.
pub fn name_len(msg: &[u8], at: usize) -> Option<usize> {
    let mut i = at;
    loop {
        let l = usize::from(*msg.get(i)?);
        if l == 0 {
            return Some(i + 1 - at).filter(|n| *n <= MAX_NAME_LEN);
        }
        if l > 63 {
            return None;
        }
        i += 1 + l;
    }
}

/// Offset just past the (possibly compressed) name at `at`.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    for _ in 0..MAX_POINTERS {
        let l = *msg.get(at)?;
        match l {
            0 => return Some(at + 1),
            1..=63 => at += 1 + usize::from(l),
            0xC0..=0xFF => return msg.get(at + 1).map(|_| at + 2),
            _ => return None,
        }
    }
    None
}

/// Offsets of every record's owner name (answer, authority, additional), in order; stops at
/// the first record that does not fit.
pub fn owner_starts(msg: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let (Some(qd), Some(an), Some(ns), Some(ar)) = (
        u16_at(msg, 4),
        u16_at(msg, 6),
        u16_at(msg, 8),
        u16_at(msg, 10),
    ) else {
        return out;
    };
    let mut at = HEADER_LEN;
    for _ in 0..qd {
        match skip_name(msg, at) {
            Some(end) => at = end + 4,
            None => return out,
        }
    }
    for _ in 0..u32::from(an) + u32::from(ns) + u32::from(ar) {
        let Some(end) = skip_name(msg, at) else {
            break;
        };
        let Some(rdlen) = u16_at(msg, end + 8) else {
            break;
        };
        out.push(at);
        at = end + 10 + usize::from(rdlen);
    }
    out
}

/// The upstream query: header (`id`, flags), one question spelt `name`, and the OPT record.
pub fn build_query(id: u16, name: &[u8], q: &Question, flags: QueryFlags) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + name.len() + 4 + 11);
    out.extend_from_slice(&id.to_be_bytes());
    out.push(if flags.rd { FLAG_RD } else { 0 });
    out.push(if flags.cd { FLAG_CD } else { 0 });
    let arcount: u16 = flags.edns.is_some().into();
    for count in [1, 0, 0, arcount] {
        out.extend_from_slice(&u16::to_be_bytes(count));
    }
    out.extend_from_slice(name);
    out.extend_from_slice(&q.qtype.to_be_bytes());
    out.extend_from_slice(&q.qclass.to_be_bytes());
    if let Some(e) = flags.edns {
        out.push(0); // root owner
        out.extend_from_slice(&TYPE_OPT.to_be_bytes());
        out.extend_from_slice(&e.payload.to_be_bytes());
        out.extend_from_slice(&[0, 0]); // extended rcode, version 0
        out.push(if e.dnssec_ok { EDNS_DO } else { 0 });
        out.extend_from_slice(&[0, 0, 0]); // rest of the flags, RDLEN 0
    }
    out
}

/// Why a datagram was not accepted as the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unwanted {
    /// Source address or port is not the server's.
    #[error("reply from an unexpected address or port")]
    WrongSource,
    /// Transaction ID differs.
    #[error("reply with a different transaction ID")]
    WrongId,
    /// QR=0 or an opcode other than QUERY.
    #[error("not a response to a standard query")]
    NotResponse,
    /// Question name (ignoring case), type or class differs.
    #[error("reply for a different question")]
    WrongQuestion,
    /// 0x20 on and the question's spelling was not echoed exactly.
    #[error("reply did not echo the 0x20 query-name case")]
    CaseMismatch,
}

/// RFC 5452 §9.1 acceptance: source address and port equal to `server`, same `id`, QR=1,
/// opcode QUERY, one question with the same name (ASCII case-insensitive, RFC 4343), type
/// and class. With `exact_case` (the 0x20 spelling sent) the reply's question must spell the
/// name byte for byte. The checks run in this order, so the first failure is reported.
pub fn accept_reply(
    reply: &[u8],
    from: SocketAddr,
    server: SocketAddr,
    id: u16,
    q: &Question,
    exact_case: Option<&[u8]>,
) -> Result<(), Unwanted> {
    if from != server {
        return Err(Unwanted::WrongSource);
    }
    if u16_at(reply, 0) != Some(id) {
        return Err(Unwanted::WrongId);
    }
    let flags = reply.get(2).copied().unwrap_or(0);
    if flags & FLAG_QR == 0 || (flags >> 3) & 0x0F != 0 {
        return Err(Unwanted::NotResponse);
    }
    let len = q.name.len();
    let theirs = reply.get(HEADER_LEN..HEADER_LEN + len);
    if u16_at(reply, 4) != Some(1)
        || name_len(reply, HEADER_LEN) != Some(len)
        || !theirs.is_some_and(|t| t.eq_ignore_ascii_case(&q.name))
        || u16_at(reply, HEADER_LEN + len) != Some(q.qtype)
        || u16_at(reply, HEADER_LEN + len + 2) != Some(q.qclass)
    {
        return Err(Unwanted::WrongQuestion);
    }
    if exact_case.is_some_and(|sent| theirs != Some(sent)) {
        return Err(Unwanted::CaseMismatch);
    }
    Ok(())
}

/// `name` with each ASCII letter's case chosen by `bits` (true = upper); length bytes and
/// non-letters unchanged; stops at the root or anything that is not a plain label.
pub fn randomize_case(name: &[u8], bits: &mut impl FnMut() -> bool) -> Vec<u8> {
    let mut out = name.to_vec();
    let mut i = 0;
    while let Some(&len) = out.get(i) {
        if len == 0 || len & 0xC0 != 0 {
            break;
        }
        let end = (i + 1 + usize::from(len)).min(out.len());
        for c in out.get_mut(i + 1..end).unwrap_or(&mut []) {
            if c.is_ascii_alphabetic() {
                if bits() {
                    c.make_ascii_uppercase();
                } else {
                    c.make_ascii_lowercase();
                }
            }
        }
        i = end;
    }
    out
}

/// Gives an accepted reply the caller's spelling `wanted` back: the question (equal to it up
/// to case) always, and with 0x20 (`sent` = the random spelling) every record owner name
/// written out in full as exactly `sent`. Equal lengths, so no offset moves; names
/// compressed to the question follow it. The server's own spellings are left alone.
pub fn restore_case(reply: &mut [u8], wanted: &[u8], sent: Option<&[u8]>) {
    let len = wanted.len();
    let mut starts = vec![HEADER_LEN];
    if sent.is_some_and(|s| s.len() == len) {
        starts.extend(owner_starts(reply));
    }
    for (n, at) in starts.into_iter().enumerate() {
        let Some(dst) = reply.get_mut(at..at + len) else {
            continue;
        };
        let question = n == 0 && dst.eq_ignore_ascii_case(wanted);
        if question || sent.is_some_and(|s| dst == s) {
            dst.copy_from_slice(wanted);
        }
    }
}
