//! Minimal, allocation-free DNS wire access for the hot path (RFC 1035 §4.1).
//!
//! Owns: reading the header and the single question of a query, the EDNS OPT record of a
//! query (RFC 6891 §6.1), and walking the resource records of a reply to find TTL offsets;
//! [`write`] (re-exported here) appends headers, records and OPT for the replies we build
//! (through [`crate::reply`]) and the upstream queries we send.
//! Full validation of upstream replies is done with hickory-proto in `cache::prepare`;
//! this module never panics on arbitrary input (every index is checked).

#[cfg(test)]
mod tests;
mod write;

pub use self::write::*;

/// Length of the fixed DNS header.
pub const HEADER_LEN: usize = 12;
/// Longest domain name in wire form (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Cache/coalescing key capacity: lowercased name + qtype + qclass + flag byte.
pub const MAX_KEY_LEN: usize = MAX_NAME_LEN + 5;
/// UDP payload without EDNS (RFC 1035 §4.2.1).
pub const UDP_PLAIN_MAX: usize = 512;
/// Largest UDP payload we ever send (DNS Flag Day 2020).
pub const UDP_EDNS_CAP: usize = 1232;
/// Size of the OPT record we append to answers for EDNS clients.
pub const OPT_LEN: usize = 11;

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_OPT: u16 = 41;
pub const TYPE_ANY: u16 = 255;
pub const CLASS_IN: u16 = 1;
pub const CLASS_CH: u16 = 3;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;
/// BADVERS is extended rcode 16: upper 8 bits (1) go in the OPT TTL (RFC 6891 §6.1.3).
pub const EXT_RCODE_BADVERS_HIGH: u8 = 1;

/// Errors reading a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message shorter than a header")]
    Short,
    #[error("truncated or malformed name")]
    BadName,
    #[error("record extends past the end of the message")]
    BadRecord,
    #[error("expected exactly one question")]
    QuestionCount,
    #[error("more than one OPT record")]
    MultipleOpt,
}

#[inline]
pub fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

#[inline]
pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

#[inline]
pub fn put_u16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

#[inline]
pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
    if let Some(s) = b.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// EDNS information of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    pub udp_size: u16,
    pub version: u8,
    pub dnssec_ok: bool,
}

/// What the hot path knows about a query after reading header + question (+ OPT).
#[derive(Debug, Clone, Copy)]
pub struct QueryInfo {
    pub id: u16,
    pub opcode: u8,
    pub rd: bool,
    pub cd: bool,
    /// End offset of the question section (start is always [`HEADER_LEN`]).
    pub question_end: usize,
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
    /// Key bytes: lowercased wire name, qtype, qclass, flags (DO=1, CD=2).
    pub key: [u8; MAX_KEY_LEN],
    pub key_len: usize,
}

impl QueryInfo {
    pub fn key(&self) -> &[u8] {
        &self.key[..self.key_len]
    }
    /// Lowercased wire-format qname.
    pub fn name_wire(&self) -> &[u8] {
        &self.key[..self.key_len.saturating_sub(5)]
    }
    pub fn dnssec_ok(&self) -> bool {
        self.edns.is_some_and(|e| e.dnssec_ok)
    }
    /// UDP response limit for this client (RFC 6891 §6.2.5 with the 1232 cap).
    pub fn udp_limit(&self) -> usize {
        match self.edns {
            None => UDP_PLAIN_MAX,
            Some(e) => (e.udp_size as usize).clamp(UDP_PLAIN_MAX, UDP_EDNS_CAP),
        }
    }
    /// Dotted, lowercased name without trailing dot ("" for the root).
    pub fn name_string(&self) -> String {
        wire_name_to_string(self.name_wire())
    }
}

/// Outcome of the cheap pre-checks.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // returned by value: no allocation per packet
pub enum Parsed {
    /// Silently drop (too short, or QR=1).
    Drop,
    /// Header readable but the rest is not: answer with this rcode (FORMERR, NOTIMP).
    Error {
        id: u16,
        opcode: u8,
        rd: bool,
        rcode: u8,
    },
    Query(QueryInfo),
}

/// Converts a (lowercase) uncompressed wire name to dotted text.
pub fn wire_name_to_string(w: &[u8]) -> String {
    let mut s = String::with_capacity(w.len());
    let mut i = 0;
    while let Some(&len) = w.get(i) {
        if len == 0 {
            break;
        }
        let Some(label) = w.get(i + 1..i + 1 + len as usize) else {
            break;
        };
        if !s.is_empty() {
            s.push('.');
        }
        for &c in label {
            if c.is_ascii_graphic() && c != b'.' && c != b'\\' {
                s.push(c as char);
            } else {
                s.push_str(&format!("\\{:03}", c));
            }
        }
        i += 1 + len as usize;
    }
    s
}

/// Writes a lowercase uncompressed wire name as dotted text into `buf` without allocating.
/// Returns `None` for names that would need escaping (then use [`wire_name_to_string`]).
pub fn dotted_name<'a>(w: &[u8], buf: &'a mut [u8; MAX_NAME_LEN + 1]) -> Option<&'a str> {
    let mut i = 0;
    let mut n = 0;
    while let Some(&len) = w.get(i) {
        if len == 0 {
            break;
        }
        let label = w.get(i + 1..i + 1 + len as usize)?;
        if label
            .iter()
            .any(|c| !c.is_ascii_graphic() || *c == b'.' || *c == b'\\')
        {
            return None;
        }
        if n > 0 {
            *buf.get_mut(n)? = b'.';
            n += 1;
        }
        buf.get_mut(n..n + label.len())?.copy_from_slice(label);
        n += label.len();
        i += 1 + len as usize;
    }
    std::str::from_utf8(buf.get(..n)?).ok()
}

/// Converts dotted text to uncompressed lowercase wire form.
pub fn string_to_wire_name(name: &str) -> Option<Vec<u8>> {
    let name = name.trim_end_matches('.');
    let mut out = Vec::with_capacity(name.len() + 2);
    if !name.is_empty() {
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return None;
            }
            out.push(label.len() as u8);
            out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
    }
    out.push(0);
    (out.len() <= MAX_NAME_LEN).then_some(out)
}

/// Skips a (possibly compressed) name starting at `at`; returns the offset after it.
/// Pointers must point strictly backwards (RFC 9267 §2), which rules out loops.
pub fn skip_name(b: &[u8], mut at: usize) -> Result<usize, WireError> {
    let mut total = 0usize;
    loop {
        let len = *b.get(at).ok_or(WireError::BadName)?;
        match len & 0xC0 {
            0x00 => {
                if len == 0 {
                    return Ok(at + 1);
                }
                total += len as usize + 1;
                if total > MAX_NAME_LEN || at + 1 + len as usize > b.len() {
                    return Err(WireError::BadName);
                }
                at += 1 + len as usize;
            }
            0xC0 => {
                let ptr = u16_at(b, at).ok_or(WireError::BadName)? & 0x3FFF;
                if ptr as usize >= at {
                    return Err(WireError::BadName);
                }
                return Ok(at + 2);
            }
            _ => return Err(WireError::BadName),
        }
    }
}

/// Reads a possibly compressed name at `at` into lowercase uncompressed wire form.
/// Returns the name and the offset after the name in the original position.
pub fn read_name(b: &[u8], at: usize) -> Result<(Vec<u8>, usize), WireError> {
    let mut out = Vec::with_capacity(32);
    let mut pos = at;
    let mut end = None;
    let mut hops = 0;
    loop {
        let len = *b.get(pos).ok_or(WireError::BadName)?;
        match len & 0xC0 {
            0x00 => {
                if len == 0 {
                    out.push(0);
                    return Ok((out, end.unwrap_or(pos + 1)));
                }
                let label = b
                    .get(pos + 1..pos + 1 + len as usize)
                    .ok_or(WireError::BadName)?;
                out.push(len);
                out.extend(label.iter().map(|c| c.to_ascii_lowercase()));
                if out.len() + 1 > MAX_NAME_LEN {
                    return Err(WireError::BadName);
                }
                pos += 1 + len as usize;
            }
            0xC0 => {
                let ptr = (u16_at(b, pos).ok_or(WireError::BadName)? & 0x3FFF) as usize;
                if ptr >= pos || hops > 127 {
                    return Err(WireError::BadName);
                }
                hops += 1;
                end.get_or_insert(pos + 2);
                pos = ptr;
            }
            _ => return Err(WireError::BadName),
        }
    }
}

/// Reads a query: header, exactly one uncompressed question, and the OPT record if any.
pub fn parse_query(b: &[u8]) -> Parsed {
    if b.len() < HEADER_LEN {
        return Parsed::Drop;
    }
    let id = u16::from_be_bytes([b[0], b[1]]);
    let flags = b[2];
    if flags & 0x80 != 0 {
        return Parsed::Drop;
    }
    let opcode = (flags >> 3) & 0x0F;
    let rd = flags & 0x01 != 0;
    let cd = b[3] & 0x10 != 0;
    let err = |rcode| Parsed::Error {
        id,
        opcode,
        rd,
        rcode,
    };
    if opcode != 0 {
        return err(RCODE_NOTIMP);
    }
    let qd = u16::from_be_bytes([b[4], b[5]]);
    if qd != 1 {
        return err(RCODE_FORMERR);
    }
    let mut key = [0u8; MAX_KEY_LEN];
    let mut at = HEADER_LEN;
    let mut k = 0;
    loop {
        let Some(&len) = b.get(at) else {
            return err(RCODE_FORMERR);
        };
        if len & 0xC0 != 0 || k + 1 + len as usize > MAX_NAME_LEN {
            return err(RCODE_FORMERR);
        }
        let Some(label) = b.get(at..at + 1 + len as usize) else {
            return err(RCODE_FORMERR);
        };
        for (dst, src) in key[k..k + label.len()].iter_mut().zip(label) {
            *dst = src.to_ascii_lowercase();
        }
        // The length byte must not be lowercased (a length of 'A'..'Z' would change).
        key[k] = len;
        k += label.len();
        at += label.len();
        if len == 0 {
            break;
        }
    }
    let (Some(qtype), Some(qclass)) = (u16_at(b, at), u16_at(b, at + 2)) else {
        return err(RCODE_FORMERR);
    };
    let question_end = at + 4;
    let an = u16_at(b, 6).unwrap_or(0) as usize;
    let ns = u16_at(b, 8).unwrap_or(0) as usize;
    let ar = u16_at(b, 10).unwrap_or(0) as usize;
    let mut pos = question_end;
    let mut edns = None;
    for i in 0..an + ns + ar {
        let Ok(rr) = read_rr(b, pos) else {
            return err(RCODE_FORMERR);
        };
        if rr.rtype == TYPE_OPT {
            if i < an + ns || edns.is_some() {
                return err(RCODE_FORMERR);
            }
            edns = Some(Edns {
                udp_size: rr.class,
                version: (rr.ttl >> 16) as u8,
                dnssec_ok: rr.ttl & 0x8000 != 0,
            });
        }
        pos = rr.end;
    }
    let flag_byte = u8::from(edns.is_some_and(|e: Edns| e.dnssec_ok)) | (u8::from(cd) << 1);
    key[k..k + 2].copy_from_slice(&qtype.to_be_bytes());
    key[k + 2..k + 4].copy_from_slice(&qclass.to_be_bytes());
    key[k + 4] = flag_byte;
    Parsed::Query(QueryInfo {
        id,
        opcode,
        rd,
        cd,
        question_end,
        qtype,
        qclass,
        edns,
        key,
        key_len: k + 5,
    })
}

/// One resource record located in a message.
#[derive(Debug, Clone, Copy)]
pub struct RrPos {
    pub start: usize,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub ttl_offset: usize,
    pub rdata: usize,
    pub end: usize,
}

/// Locates the record starting at `at`.
pub fn read_rr(b: &[u8], at: usize) -> Result<RrPos, WireError> {
    let n = skip_name(b, at)?;
    let rtype = u16_at(b, n).ok_or(WireError::BadRecord)?;
    let class = u16_at(b, n + 2).ok_or(WireError::BadRecord)?;
    let ttl = u32_at(b, n + 4).ok_or(WireError::BadRecord)?;
    let rdlen = u16_at(b, n + 8).ok_or(WireError::BadRecord)? as usize;
    let end = n + 10 + rdlen;
    if end > b.len() {
        return Err(WireError::BadRecord);
    }
    Ok(RrPos {
        start: at,
        rtype,
        class,
        ttl,
        ttl_offset: n + 4,
        rdata: n + 10,
        end,
    })
}

/// Sections of a reply.
#[derive(Debug, Default)]
pub struct Sections {
    pub answers: Vec<RrPos>,
    pub authority: Vec<RrPos>,
    pub additional: Vec<RrPos>,
    /// Offset just after the question section.
    pub question_end: usize,
    pub end: usize,
}

/// Walks every record of a message with one question.
pub fn walk(b: &[u8]) -> Result<Sections, WireError> {
    if b.len() < HEADER_LEN {
        return Err(WireError::Short);
    }
    if u16_at(b, 4) != Some(1) {
        return Err(WireError::QuestionCount);
    }
    let qend = skip_name(b, HEADER_LEN)? + 4;
    if qend > b.len() {
        return Err(WireError::BadRecord);
    }
    let counts = [
        u16_at(b, 6).unwrap_or(0),
        u16_at(b, 8).unwrap_or(0),
        u16_at(b, 10).unwrap_or(0),
    ];
    let mut s = Sections {
        question_end: qend,
        ..Default::default()
    };
    let mut pos = qend;
    for (sec, count) in counts.iter().enumerate() {
        for _ in 0..*count {
            let rr = read_rr(b, pos)?;
            pos = rr.end;
            match sec {
                0 => s.answers.push(rr),
                1 => s.authority.push(rr),
                _ => s.additional.push(rr),
            }
        }
    }
    s.end = pos;
    Ok(s)
}
