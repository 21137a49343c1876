//! Reply preparation for the uncached forward path (`--cache-size=0`).
//!
//! Owns: [`prepare_uncached`] — what [`cache::prepare`] does for a reply that is relayed to
//! the waiting clients but never stored: TC check, structural walk (every name and record
//! bounded, `wire::walk`), OPT stripping, TTL clamps. It skips the hickory-proto decode and
//! re-encode that `cache::prepare` uses to canonicalise compression pointers, **unless** the
//! reply might contain a pointer into the header: the relayed bytes get a rewritten ID, flags
//! and ARCOUNT (RFC 1035 §4.1.4 lets a pointer name any prior offset, so a name pointing
//! into offsets 0–11 would decode differently for the client). [`may_point_into_header`] is a
//! conservative byte scan — any `0xC0 0x00..0x0B` pair after the header, wherever it sits —
//! and every reply it flags goes through the full `cache::prepare` instead. False positives
//! only cost the slow path.

use tokio::time::Instant;

use crate::cache::{self, CachedMsg, ReplyError, TtlPolicy};
use crate::wire::{self, QueryInfo};

/// True when some two bytes after the header could be a compression pointer to an offset
/// below [`wire::HEADER_LEN`] (a pointer is `11xxxxxx xxxxxxxx`; a target < 12 means the
/// first byte is exactly `0xC0` and the second is < 12).
pub fn may_point_into_header(reply: &[u8]) -> bool {
    reply.get(wire::HEADER_LEN..).is_some_and(|tail| {
        tail.windows(2)
            .any(|w| w[0] == 0xC0 && (w[1] as usize) < wire::HEADER_LEN)
    })
}

/// Prepares an accepted upstream reply for relaying only (lifetime 0: never cached).
pub fn prepare_uncached(
    reply: &[u8],
    q: &QueryInfo,
    policy: &TtlPolicy,
    now: Instant,
) -> Result<CachedMsg, ReplyError> {
    cache::check_header(reply)?;
    if may_point_into_header(reply) {
        let mut m = cache::prepare(reply, q, policy, now)?;
        m.lifetime = 0;
        return Ok(m);
    }
    let s = wire::walk(reply).map_err(|e| ReplyError::Malformed(e.to_string()))?;
    cache::serveable(reply, &s, policy, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    fn reply_for(name: &str) -> (QueryInfo, Vec<u8>) {
        let (qb, q) = query(name, wire::TYPE_A, None);
        let r = answer_a(&qb, &[(name, 60, [1, 2, 3, 4])], false);
        (q, r)
    }

    #[test]
    fn same_bytes_as_full_prepare_for_a_plain_reply() {
        let (q, r) = reply_for("a.example");
        let now = Instant::now();
        let p = TtlPolicy::default();
        let fast = prepare_uncached(&r, &q, &p, now).unwrap();
        let full = cache::prepare(&r, &q, &p, now).unwrap();
        assert_eq!(fast.lifetime, 0);
        assert_eq!(fast.rcode(), full.rcode());
        // Both decode to the same message.
        let a = hickory_proto::op::Message::from_vec(&fast.bytes).unwrap();
        let b = hickory_proto::op::Message::from_vec(&full.bytes).unwrap();
        assert_eq!(a.answers, b.answers);
    }

    #[test]
    fn pointer_into_header_is_reencoded() {
        let (q, mut r) = reply_for("a.example");
        // Make the answer owner name point at offset 0 (the ID) instead of the question.
        let s = wire::walk(&r).unwrap();
        let at = s.answers[0].start;
        assert_eq!(r[at], 0xC0);
        r[at + 1] = 0;
        assert!(may_point_into_header(&r));
        let p = TtlPolicy::default();
        match prepare_uncached(&r, &q, &p, Instant::now()) {
            // Either hickory rejects it, or the stored bytes no longer point into the header.
            Err(_) => {}
            Ok(m) => assert!(!may_point_into_header(&m.bytes)),
        }
    }

    #[test]
    fn clean_reply_is_not_flagged_and_truncated_is_rejected() {
        let (q, mut r) = reply_for("b.example");
        assert!(!may_point_into_header(&r));
        r[2] |= 0x02;
        assert!(matches!(
            prepare_uncached(&r, &q, &TtlPolicy::default(), Instant::now()),
            Err(ReplyError::Truncated)
        ));
    }

    #[test]
    fn ttl_clamps_apply() {
        let (q, r) = reply_for("c.example");
        let p = TtlPolicy {
            min_cache_ttl: 100,
            ..Default::default()
        };
        let m = prepare_uncached(&r, &q, &p, Instant::now()).unwrap();
        assert_eq!(m.ttls.len(), 1);
        assert_eq!(m.ttls[0].1, 100);
        assert_eq!(wire::u32_at(&m.bytes, m.ttls[0].0 as usize), Some(100));
    }
}
