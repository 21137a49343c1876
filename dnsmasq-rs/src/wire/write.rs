//! Writing DNS messages (RFC 1035 §4.1): response headers with the client's question, answer
//! records owned by the question name, OPT (RFC 6891 §6.1.2), error and truncated replies,
//! and upstream queries. Callers building replies use [`crate::reply::Reply`].

use std::net::IpAddr;

use super::*;

/// Appends an OPT record (RFC 6891 §6.1.2) advertising [`UDP_EDNS_CAP`].
pub fn push_opt(out: &mut Vec<u8>, dnssec_ok: bool, ext_rcode_high: u8) {
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&(UDP_EDNS_CAP as u16).to_be_bytes());
    out.push(ext_rcode_high);
    out.push(0);
    out.push(if dnssec_ok { 0x80 } else { 0 });
    out.push(0);
    out.extend_from_slice(&[0, 0]);
}

/// Writes a response header + the client's question, with the given rcode and flags.
/// `aa` marks local authoritative data. Counts for answer/authority/additional start at 0.
pub fn begin_response(out: &mut Vec<u8>, query: &[u8], q: &QueryInfo, rcode: u8, aa: bool) {
    out.clear();
    out.extend_from_slice(&q.id.to_be_bytes());
    let mut f1 = 0x80 | (q.opcode << 3);
    if aa {
        f1 |= 0x04;
    }
    if q.rd {
        f1 |= 0x01;
    }
    let f2 = 0x80 | (if q.cd { 0x10 } else { 0 }) | (rcode & 0x0F);
    out.push(f1);
    out.push(f2);
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    if let Some(question) = query.get(HEADER_LEN..q.question_end) {
        out.extend_from_slice(question);
    }
}

/// Increments a section count (6 = answers, 8 = authority, 10 = additional).
pub fn bump_count(out: &mut [u8], at: usize) {
    let v = u16_at(out, at).unwrap_or(0).saturating_add(1);
    put_u16(out, at, v);
}

/// Appends an answer RR whose owner is the question name (pointer to offset 12).
pub fn push_answer(out: &mut Vec<u8>, rtype: u16, class: u16, ttl: u32, rdata: &[u8]) {
    out.extend_from_slice(&[0xC0, 0x0C]);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&class.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    bump_count(out, 6);
}

/// Adds an address answer.
pub fn push_ip(out: &mut Vec<u8>, ip: IpAddr, ttl: u32) {
    match ip {
        IpAddr::V4(v4) => push_answer(out, TYPE_A, CLASS_IN, ttl, &v4.octets()),
        IpAddr::V6(v6) => push_answer(out, TYPE_AAAA, CLASS_IN, ttl, &v6.octets()),
    }
}

/// TXT rdata of one string, split in 255-byte character strings.
pub fn txt_rdata(text: &str) -> Vec<u8> {
    let mut r = Vec::with_capacity(text.len() + 2);
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        r.push(0);
    }
    for chunk in bytes.chunks(255) {
        r.push(chunk.len() as u8);
        r.extend_from_slice(chunk);
    }
    r
}

/// A complete error response (FORMERR/NOTIMP/SERVFAIL/REFUSED) echoing the question.
pub fn error_response(out: &mut Vec<u8>, query: &[u8], q: &QueryInfo, rcode: u8) {
    begin_response(out, query, q, rcode, false);
    if let Some(e) = q.edns {
        push_opt(out, e.dnssec_ok, 0);
        bump_count(out, 10);
    }
}

/// Header-only error for queries whose question could not be read.
pub fn header_error(out: &mut Vec<u8>, id: u16, opcode: u8, rd: bool, rcode: u8) {
    out.clear();
    out.extend_from_slice(&id.to_be_bytes());
    out.push(0x80 | (opcode << 3) | u8::from(rd));
    out.push(0x80 | (rcode & 0x0F));
    out.extend_from_slice(&[0; 8]);
}

/// Replaces `out` by a header + question + OPT with TC=1 (RFC 1035 §4.2.1, RFC 6891 §7).
pub fn truncate_to_question(out: &mut Vec<u8>, q: &QueryInfo) {
    let keep = q.question_end.min(out.len());
    out.truncate(keep);
    put_u16(out, 6, 0);
    put_u16(out, 8, 0);
    put_u16(out, 10, 0);
    if let Some(b) = out.get_mut(2) {
        *b |= 0x02;
    }
    if let Some(e) = q.edns {
        push_opt(out, e.dnssec_ok, 0);
        bump_count(out, 10);
    }
}

/// Builds an upstream query for `q`: fresh `id`, the question spelt `name` (the lowercase
/// `q.name_wire()`, or its 0x20 spelling), RD=1, CD copied, EDNS 1232.
pub fn build_upstream_query(q: &QueryInfo, id: u16, name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.key_len + 30);
    out.extend_from_slice(&id.to_be_bytes());
    out.push(0x01);
    out.push(if q.cd { 0x10 } else { 0 });
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]);
    out.extend_from_slice(name);
    out.extend_from_slice(&q.qtype.to_be_bytes());
    out.extend_from_slice(&q.qclass.to_be_bytes());
    push_opt(&mut out, q.dnssec_ok(), 0);
    out
}
