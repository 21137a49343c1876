//! CNAME chains: the limit and loop rule shared by in-zone ([`super::cluster`]) and upstream
//! ([`super::chase`]) hops, and the SERVFAIL that keeps a broken chain visible.
//!
//! Rules (RFC 1034 §4.3.2 step 3a, RFC 6604 §2, RFC 2308 §2.1/§2.2/§3/§7.1):
//! * the answer holds every CNAME of the chain, then the records of the asked type owned by
//!   the last name;
//! * the RCODE is the one of the last name: NXDOMAIN when it does not exist, NOERROR when it
//!   exists without data of that type (NODATA);
//! * a negative answer carries the SOA of the zone of the last name: the cluster SOA when
//!   the chain ends inside the cluster zone, the upstream's SOA (only if its owner is that
//!   name or one of its ancestors) when it ends outside;
//! * from an upstream reply only the chain is taken: CNAMEs walked from the name asked,
//!   records of the asked type at the end of the walk, and that SOA. Records owned by other
//!   names, the additional section, NS records and any record for a name inside the cluster
//!   zone (the upstream has no authority there) are dropped;
//! * every record taken from upstream keeps its TTL but never more than the store record TTL
//!   (30 s): the whole answer then expires with its CNAME, and nothing is served longer than
//!   its owner allows;
//! * a chain that re-enters the cluster zone is resolved from the store, and may leave it
//!   again;
//! * a loop, a chain of more than [`MAX_CNAME_CHAIN`] CNAMEs, or a target that cannot be
//!   resolved (every upstream failed or timed out, upstream SERVFAIL/REFUSED/other RCODE)
//!   answers SERVFAIL carrying the chain built so far: the alias stays visible, and no cache
//!   stores a NODATA or NXDOMAIN for a name whose target was never answered (RFC 2308 §7.1;
//!   docs/compat.md explains the choice against CoreDNS's CNAME-alone NOERROR).

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};

use super::records::finish;
use super::response::Response;

/// Most CNAME records one answer may hold (ExternalName → … → final name, in-zone and
/// upstream hops together). The 9th CNAME, like a loop, makes the answer SERVFAIL. CoreDNS
/// stops at 8 as well (`len(previousRecords) > 7`).
pub const MAX_CNAME_CHAIN: usize = 8;

/// Why a chain cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Broken {
    /// The next name is already an owner in the chain.
    Loop,
    /// More than [`MAX_CNAME_CHAIN`] CNAMEs.
    TooLong,
}

/// Check the chain in `resp` (its last CNAME just pushed) before following it to `next`.
pub(super) fn check(resp: &Response, next: &Name) -> Result<(), Broken> {
    let mut cnames = 0;
    for r in &resp.answers {
        if r.record_type() == RecordType::CNAME {
            cnames += 1;
            if r.name == *next {
                return Err(Broken::Loop);
            }
        }
    }
    if cnames > MAX_CNAME_CHAIN {
        return Err(Broken::TooLong);
    }
    Ok(())
}

/// SERVFAIL keeping the chain built so far in the answer section (AA=0, RA=1).
pub(super) fn servfail(resp: Response) -> Response {
    let mut r = finish(resp);
    r.rcode = ResponseCode::ServFail;
    r.authoritative = false;
    r.recursion_available = true;
    r.authorities.clear();
    r.additionals.clear();
    r
}
