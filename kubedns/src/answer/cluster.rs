//! Answers for names inside the cluster domain (compat §1.8 table, spec 1.1.0 §2):
//! apex SOA/NS, `dns-version`, `svc`/`pod` empty non-terminals, Services, endpoints,
//! named-port SRV, pod records, federation CNAMEs, and in-zone CNAME chasing.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::chain;
use super::records::{
    SCHEMA_VERSION, SOA_ANSWER_TTL, SOA_NEGATIVE_TTL, finish, lower_labels, ns_record, soa_record,
};
use super::response::{Answer, Response};
use crate::hash::endpoint_hash_label;
use crate::names::{is_dns1035_label, is_dns1123_label, parse_dashed_ipv4};
use crate::store::{EntryKind, Proto, ServiceEntry, View};

/// Priority of every SRV record (legacy).
pub const SRV_PRIORITY: u16 = 10;

/// Result of resolving one in-zone name.
enum Found {
    /// Records (answer, additional).
    Records(Vec<Record>, Vec<Record>),
    /// Name exists, no data of this type.
    NoData,
    /// Name does not exist.
    NxDomain,
    /// The name is an alias; chase `target` unless CNAME was asked.
    Cname(Box<Record>, Name),
    /// Temporary failure.
    ServFail,
}

struct Ctx<'a> {
    view: &'a View,
    qname: &'a Name,
    qtype: RecordType,
}

impl Ctx<'_> {
    fn ttl(&self) -> u32 {
        self.view.ttl
    }

    fn fqdn(&self, rel: &str) -> Option<Name> {
        Name::from_ascii(format!("{rel}.{}", self.view.domain)).ok()
    }

    fn svc_name(&self, e: &ServiceEntry) -> Option<Name> {
        self.fqdn(&format!("{}.{}.svc", e.name, e.namespace))
    }

    fn addr(&self, owner: &Name, ip: IpAddr) -> Record {
        let data = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        Record::from_rdata(owner.clone(), self.ttl(), data)
    }

    /// Address records of `ips` matching the query type (A or AAAA).
    fn addrs_for_qtype(&self, owner: &Name, ips: impl Iterator<Item = IpAddr>) -> Vec<Record> {
        ips.filter(|ip| match self.qtype {
            RecordType::A => ip.is_ipv4(),
            RecordType::AAAA => ip.is_ipv6(),
            _ => false,
        })
        .map(|ip| self.addr(owner, ip))
        .collect()
    }
}

/// Answer a name inside the cluster domain; `rel` are the lowercase labels left of the zone.
pub(super) fn answer(
    view: &View,
    qname: &Name,
    rel: &[&str],
    qtype: RecordType,
    now: u64,
) -> Answer {
    let ctx = Ctx { view, qname, qtype };
    let found = resolve(&ctx, rel, now);
    follow(
        view,
        Response::new(ResponseCode::NoError, true, true),
        found,
        qtype,
        now,
    )
}

/// Go on with a chain at `name`, inside the cluster domain, with the answer built so far
/// (the chain that reached it, from the store or from an upstream reply).
pub(super) fn resume(
    view: &View,
    resp: Response,
    name: &Name,
    qtype: RecordType,
    now: u64,
) -> Answer {
    let dn = view.domain_name.num_labels() as usize;
    let labels = lower_labels(name);
    let rel: Vec<&str> = labels[..labels.len().saturating_sub(dn)]
        .iter()
        .map(String::as_str)
        .collect();
    let ctx = Ctx {
        view,
        qname: name,
        qtype,
    };
    let found = resolve(&ctx, &rel, now);
    follow(view, resp, found, qtype, now)
}

/// Add what was found for the last name of the chain in `resp` (RFC 1034 §4.3.2 step 3a:
/// a CNAME is copied and its target looked up in turn). The RCODE and the SOA are those of
/// the last name (RFC 6604 §2, RFC 2308 §3); see [`super::chain`] for the limit and loops.
fn follow(view: &View, mut resp: Response, found: Found, qtype: RecordType, now: u64) -> Answer {
    match found {
        Found::Records(ans, add) => {
            resp.answers.extend(ans);
            resp.additionals.extend(add);
            Answer::Local(finish(resp))
        }
        Found::Cname(rec, target) => {
            resp.answers.push(*rec);
            if qtype == RecordType::CNAME {
                return Answer::Local(finish(resp));
            }
            if chain::check(&resp, &target).is_err() {
                return Answer::Local(chain::servfail(resp));
            }
            if !view.domain_name.zone_of(&target) {
                return Answer::Chase {
                    response: resp,
                    target,
                    qtype,
                };
            }
            // bounded: every hop adds a CNAME, and `check` stops the chain past the limit
            resume(view, resp, &target, qtype, now)
        }
        Found::NoData => Answer::Local(negative(view, resp, ResponseCode::NoError, now)),
        Found::NxDomain => Answer::Local(negative(view, resp, ResponseCode::NXDomain, now)),
        Found::ServFail => Answer::Local(chain::servfail(resp)),
    }
}

/// NODATA / NXDOMAIN (after the chain in `resp`, if any) with the SOA in the authority
/// section (RFC 2308 §3). AA=1 also for NXDOMAIN (RFC 1035 §4.3.1; legacy sent AA=0).
fn negative(view: &View, mut r: Response, rcode: ResponseCode, now: u64) -> Response {
    r.rcode = rcode;
    r.authoritative = true;
    r.recursion_available = true;
    r.authorities.push(soa_record(view, SOA_NEGATIVE_TTL, now));
    finish(r)
}

fn resolve(ctx: &Ctx<'_>, rel: &[&str], now: u64) -> Found {
    let n = rel.len();
    if n == 0 {
        return match ctx.qtype {
            RecordType::SOA => {
                Found::Records(vec![soa_record(ctx.view, SOA_ANSWER_TTL, now)], vec![])
            }
            RecordType::NS => Found::Records(vec![ns_record(ctx.view, ctx.qname)], vec![]),
            _ => Found::NoData,
        };
    }
    let last = rel[n - 1];
    if n == 1 {
        return match last {
            "dns-version" if ctx.qtype == RecordType::TXT => Found::Records(
                vec![Record::from_rdata(
                    ctx.qname.clone(),
                    ctx.ttl(),
                    RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_string()])),
                )],
                vec![],
            ),
            // Empty non-terminals exist (RFC 8020 §2: after an NXDOMAIN "all names and RRsets
            // at or below that node SHOULD be considered unreachable"), so they are NODATA.
            "dns-version" | "svc" | "pod" => Found::NoData,
            _ => Found::NxDomain,
        };
    }
    match last {
        "pod" => pod(ctx, rel),
        "svc" | "*" => {
            // A leading `*` stands for the name below it (legacy treecache: a trailing
            // wildcard returns the entries of the node reached so far).
            let stripped = n >= 3 && rel[0] == "*";
            let rel = if stripped { &rel[1..] } else { rel };
            match rel.len() {
                2 => {
                    if ctx.view.zone.namespace_exists(rel[0]) {
                        Found::NoData
                    } else {
                        Found::NxDomain
                    }
                }
                3 => service(ctx, rel[1], rel[0]),
                4 => match endpoint(ctx, rel[2], rel[1], rel[0]) {
                    // RFC 8020: `_<proto>.<svc>` is an empty non-terminal when a
                    // `_<port>._<proto>.<svc>` name exists below it (a literal `*` label
                    // has nothing below it, as in legacy)
                    Found::NxDomain if !stripped && has_proto(ctx, rel[2], rel[1], rel[0]) => {
                        Found::NoData
                    }
                    // legacy: local records first, then the federation rule
                    Found::NxDomain
                        if last == "svc" && ctx.view.config.federations.contains_key(rel[2]) =>
                    {
                        federation(ctx, rel[0], rel[1], rel[2])
                    }
                    other => other,
                },
                5 => port(ctx, rel[3], rel[2], rel[1], rel[0]),
                _ => Found::NxDomain,
            }
        }
        _ => Found::NxDomain,
    }
}

/// `a-b-c-d.<ns>.pod.<zone>`: arithmetic, no existence check (legacy `pods insecure`).
/// Only the dashed IPv4 form exists: any other first label is NXDOMAIN (RFC 8020; legacy
/// answered NODATA), as is everything below a pod name.
fn pod(ctx: &Ctx<'_>, rel: &[&str]) -> Found {
    if rel.iter().any(|l| l.contains('*')) {
        return Found::NxDomain;
    }
    match rel.len() {
        2 => Found::NoData,
        3 => match (ctx.qtype, parse_dashed_ipv4(rel[0])) {
            (_, None) => Found::NxDomain,
            (RecordType::A, Some(ip)) => {
                Found::Records(vec![ctx.addr(ctx.qname, IpAddr::V4(ip))], vec![])
            }
            (_, Some(_)) => Found::NoData,
        },
        _ => Found::NxDomain,
    }
}

fn srv_records(ctx: &Ctx<'_>, targets: Vec<(u16, Name, Vec<IpAddr>)>) -> Found {
    // one SRV per distinct (port, target); weight floor(100/N) (legacy, RFC 2782 allows any)
    let mut uniq: Vec<(u16, Name, Vec<IpAddr>)> = Vec::new();
    for t in targets {
        match uniq.iter_mut().find(|u| u.0 == t.0 && u.1 == t.1) {
            Some(u) => u.2.extend(t.2),
            None => uniq.push(t),
        }
    }
    if uniq.is_empty() {
        return Found::NoData;
    }
    let weight = (100 / uniq.len()) as u16;
    let mut ans = Vec::with_capacity(uniq.len());
    let mut add = Vec::new();
    for (port, target, ips) in uniq {
        for ip in ips {
            add.push(ctx.addr(&target, ip));
        }
        ans.push(Record::from_rdata(
            ctx.qname.clone(),
            ctx.ttl(),
            RData::SRV(SRV::new(SRV_PRIORITY, weight, port, target)),
        ));
    }
    Found::Records(ans, add)
}

fn records_or_nodata(recs: Vec<Record>) -> Found {
    if recs.is_empty() {
        Found::NoData
    } else {
        Found::Records(recs, vec![])
    }
}

fn cname_to(ctx: &Ctx<'_>, target: &str) -> Found {
    match Name::from_ascii(format!("{target}.")) {
        Ok(t) => Found::Cname(
            Box::new(Record::from_rdata(
                ctx.qname.clone(),
                ctx.ttl(),
                RData::CNAME(CNAME(t.clone())),
            )),
            t,
        ),
        Err(_) => Found::ServFail,
    }
}

/// `<svc>.<ns>.svc.<zone>`.
fn service(ctx: &Ctx<'_>, ns: &str, name: &str) -> Found {
    let entries = ctx.view.zone.services_matching(ns, name);
    let live: Vec<&Arc<ServiceEntry>> = entries
        .iter()
        .filter(|e| match &e.kind {
            EntryKind::Headless { endpoints, .. } => !endpoints.is_empty(),
            // an ExternalName without a target (invalid object) publishes nothing
            EntryKind::ExternalName(t) => !t.is_empty(),
            EntryKind::ClusterIp { .. } => true,
        })
        .collect();
    if live.is_empty() {
        // includes headless Services without ready endpoints (spec §2.4.1: NXDOMAIN)
        return Found::NxDomain;
    }
    if let [e] = live.as_slice()
        && let EntryKind::ExternalName(target) = &e.kind
    {
        // legacy skydns served an IP-valued externalName as an address record
        if let Ok(ip) = target.parse::<IpAddr>() {
            return records_or_nodata(ctx.addrs_for_qtype(ctx.qname, std::iter::once(ip)));
        }
        return cname_to(ctx, target);
    }
    let addrs = |e: &ServiceEntry| -> Vec<(Arc<str>, IpAddr)> {
        match &e.kind {
            EntryKind::ClusterIp { ips, .. } => ips
                .iter()
                .map(|ip| (Arc::from(endpoint_hash_label(*ip)), *ip))
                .collect(),
            EntryKind::Headless { endpoints, .. } => endpoints
                .iter()
                .map(|ep| (ep.label.clone(), ep.ip))
                .collect(),
            EntryKind::ExternalName(_) => Vec::new(),
        }
    };
    match ctx.qtype {
        RecordType::A | RecordType::AAAA => records_or_nodata(ctx.addrs_for_qtype(
            ctx.qname,
            live.iter().flat_map(|e| addrs(e)).map(|(_, ip)| ip),
        )),
        RecordType::SRV => {
            // port-less SRV: one per address, target `<label>.<svc>…`, port 0 (legacy)
            let mut targets = Vec::new();
            for e in &live {
                let Some(base) = ctx.svc_name(e) else {
                    continue;
                };
                for (label, ip) in addrs(e) {
                    if let Ok(t) = Name::from_ascii(&*label).and_then(|l| l.append_domain(&base)) {
                        targets.push((0, t, vec![ip]));
                    }
                }
            }
            srv_records(ctx, targets)
        }
        _ => Found::NoData,
    }
}

/// `<label>.<svc>.<ns>.svc.<zone>`: a headless endpoint by hostname or hash label, or a
/// ClusterIP by its hash label (the target of port-less SRV records). `SRV` on such a name
/// is the legacy port-less SRV pointing at the name itself (`10 <w> 0 <name>.`, skydns
/// builds it from the entry's key), with its addresses in the additional section.
fn endpoint(ctx: &Ctx<'_>, ns: &str, svc: &str, label: &str) -> Found {
    let mut found: Vec<(Option<Name>, IpAddr)> = Vec::new();
    for e in ctx.view.zone.services_matching(ns, svc) {
        let ips: Vec<IpAddr> = match &e.kind {
            EntryKind::Headless { endpoints, .. } => endpoints
                .iter()
                .filter(|ep| &*ep.label == label)
                .map(|ep| ep.ip)
                .collect(),
            EntryKind::ClusterIp { ips: cips, .. } => cips
                .iter()
                .filter(|ip| endpoint_hash_label(**ip) == label)
                .copied()
                .collect(),
            EntryKind::ExternalName(_) => Vec::new(),
        };
        if ips.is_empty() {
            continue;
        }
        let target = ctx.svc_name(&e).and_then(|base| {
            Name::from_ascii(label)
                .and_then(|l| l.append_domain(&base))
                .ok()
        });
        found.extend(ips.into_iter().map(|ip| (target.clone(), ip)));
    }
    if found.is_empty() {
        return Found::NxDomain;
    }
    if ctx.qtype == RecordType::SRV {
        let targets = found
            .into_iter()
            .filter_map(|(t, ip)| t.map(|t| (0, t, vec![ip])))
            .collect();
        return srv_records(ctx, targets);
    }
    records_or_nodata(ctx.addrs_for_qtype(ctx.qname, found.into_iter().map(|(_, ip)| ip)))
}

/// Whether some `_<port>._<proto_label>.<svc>.<ns>.svc` name exists (an SRV record with
/// that protocol), which makes `_<proto_label>.<svc>…` an empty non-terminal.
fn has_proto(ctx: &Ctx<'_>, ns: &str, svc: &str, proto_label: &str) -> bool {
    let Some(proto) = proto_label.strip_prefix('_').and_then(Proto::parse) else {
        return false;
    };
    ctx.view
        .zone
        .services_matching(ns, svc)
        .iter()
        .any(|e| match &e.kind {
            EntryKind::ClusterIp { ports, .. } => ports.iter().any(|p| p.proto == proto),
            EntryKind::Headless { ports, srv, .. } => srv
                .iter()
                .any(|(pi, _)| ports.get(*pi as usize).is_some_and(|p| p.proto == proto)),
            EntryKind::ExternalName(_) => false,
        })
}

/// `_<port>._<proto>.<svc>.<ns>.svc.<zone>` (spec §2.3.2, §2.4.2).
fn port(ctx: &Ctx<'_>, ns: &str, svc: &str, proto: &str, port_label: &str) -> Found {
    let (Some(pname), Some(proto)) = (
        port_label.strip_prefix('_').filter(|p| !p.is_empty()),
        proto.strip_prefix('_').and_then(Proto::parse),
    ) else {
        return Found::NxDomain;
    };
    let mut targets: Vec<(u16, Name, Vec<IpAddr>)> = Vec::new();
    let mut cname: Option<Name> = None;
    for e in ctx.view.zone.services_matching(ns, svc) {
        let Some(base) = ctx.svc_name(&e) else {
            continue;
        };
        match &e.kind {
            EntryKind::ClusterIp { ips, ports, .. } => {
                for p in ports
                    .iter()
                    .filter(|p| &*p.name == pname && p.proto == proto)
                {
                    targets.push((p.port, base.clone(), ips.to_vec()));
                    cname.get_or_insert_with(|| base.clone());
                }
            }
            EntryKind::Headless {
                endpoints,
                ports,
                srv,
            } => {
                for (pi, ei) in srv.iter() {
                    let (Some(p), Some(ep)) =
                        (ports.get(*pi as usize), endpoints.get(*ei as usize))
                    else {
                        continue;
                    };
                    if &*p.name != pname || p.proto != proto {
                        continue;
                    }
                    if let Ok(t) = Name::from_ascii(&*ep.label).and_then(|l| l.append_domain(&base))
                    {
                        targets.push((p.port, t, vec![ep.ip]));
                    }
                }
            }
            EntryKind::ExternalName(_) => {}
        }
    }
    if targets.is_empty() {
        return Found::NxDomain;
    }
    match ctx.qtype {
        RecordType::SRV => srv_records(ctx, targets),
        RecordType::A | RecordType::AAAA | RecordType::CNAME => match cname {
            // legacy quirk: the ClusterIP port name is an alias of the Service name
            Some(t) => Found::Cname(
                Box::new(Record::from_rdata(
                    ctx.qname.clone(),
                    ctx.ttl(),
                    RData::CNAME(CNAME(t.clone())),
                )),
                t,
            ),
            // headless: the addresses of the endpoints serving that port (as CoreDNS does)
            None if ctx.qtype != RecordType::CNAME => records_or_nodata(
                ctx.addrs_for_qtype(ctx.qname, targets.into_iter().flat_map(|t| t.2)),
            ),
            None => Found::NoData,
        },
        _ => Found::NoData,
    }
}

/// `<svc>.<ns>.<federation>.svc.<zone>` (legacy federation, compat §1.8 / §7.1 group 13).
fn federation(ctx: &Ctx<'_>, svc: &str, ns: &str, fed: &str) -> Found {
    if !is_dns1035_label(svc) || !is_dns1123_label(ns) {
        return Found::NxDomain;
    }
    let Some(fed_domain) = ctx.view.config.federations.get(fed) else {
        return Found::NxDomain;
    };
    let local = ctx
        .view
        .zone
        .service(ns, svc)
        .is_some_and(|e| match &e.kind {
            EntryKind::ClusterIp { has_endpoints, .. } => *has_endpoints,
            EntryKind::Headless { endpoints, .. } => !endpoints.is_empty(),
            EntryKind::ExternalName(_) => false,
        });
    if local {
        return cname_to(
            ctx,
            &format!("{svc}.{ns}.svc.{}", ctx.view.domain.trim_end_matches('.')),
        );
    }
    match ctx.view.federation_zone.as_ref() {
        Some((zone, region)) => cname_to(
            ctx,
            &format!(
                "{svc}.{ns}.{fed}.svc.{zone}.{region}.{}",
                fed_domain.trim_end_matches('.')
            ),
        ),
        None => Found::ServFail,
    }
}
