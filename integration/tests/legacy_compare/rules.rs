//! The allow-list: every documented difference between legacy kube-dns and kubedns, each
//! naming its `docs/compat.md` row, as a matcher over the question (name shape, type) and the
//! shapes of both replies (RCODE, flags, which sections hold what). A difference that no rule
//! explains fails the test. Rules are specific: a rule for "legacy NXDOMAIN, kubedns NODATA"
//! also checks that the name is one of the names that row is about.

use std::collections::BTreeSet;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use super::compare::{Obs, Resp};
use super::corpus::{Pair, ZONE};
use super::fixture::{BIG, NS};

/// Which kubedns the legacy replies are compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Default: EndpointSlices.
    Slices,
    /// `--endpoint-source=endpoints`, what legacy reads.
    Endpoints,
}

/// Facts about the corpus a rule may consult.
pub struct Ctx {
    /// Names (lower case) for which legacy gave a NOERROR answer with records for some type.
    pub exists: BTreeSet<String>,
    /// Which kubedns.
    pub variant: Variant,
    /// The comparison ran over TCP.
    pub tcp: bool,
}

/// One documented difference.
pub struct Rule {
    /// Short id used in the recorded result.
    pub id: &'static str,
    /// The `docs/compat.md` row (its first cell, abbreviated).
    pub row: &'static str,
    /// Whether this rule explains the difference between `legacy` and `kubedns` for `pair`.
    pub matches: fn(&Ctx, &Pair, &Resp, &Resp) -> bool,
}

/// Services of the fixture that are ExternalNames.
const EXTERNAL: &[&str] = &["ext-in", "ext-missing", "ext-out", "ext-alias", "ext-nx"];
/// ClusterIP Services with named ports (`_<port>._<proto>` names are aliases in kubedns).
const CLUSTER_IP_NAMED: &[&str] = &["web", "dual", "v6", "kubernetes"];
/// Headless Services with named ports.
const HEADLESS_NAMED: &[&str] = &["hl", "dual-hl", BIG];
/// Namespaces holding Services.
const NAMESPACES: &[&str] = &[NS, "default"];

/// Labels of `name` below the zone, lower case, leftmost first (`None`: not in the zone).
fn labels(name: &str) -> Option<Vec<String>> {
    let n = name.to_ascii_lowercase();
    if n == ZONE {
        return Some(Vec::new());
    }
    let rest = n.strip_suffix(&format!(".{ZONE}"))?;
    Some(rest.split('.').map(String::from).collect())
}

/// `(<svc>, <ns>)` when `name` is `<svc>.<ns>.svc.<d>`.
fn service(name: &str) -> Option<(String, String)> {
    match labels(name)?.as_slice() {
        [s, ns, svc] if svc == "svc" => Some((s.clone(), ns.clone())),
        _ => None,
    }
}

/// `(<port>, <proto>, <svc>)` when `name` is `_<port>._<proto>.<svc>.<ns>.svc.<d>`.
fn srv_name(name: &str) -> Option<(String, String, String)> {
    match labels(name)?.as_slice() {
        [p, pr, s, _, svc] if svc == "svc" && p.starts_with('_') && pr.starts_with('_') => {
            Some((p.clone(), pr.clone(), s.clone()))
        }
        _ => None,
    }
}

fn is_dashed_ipv4(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    parts.len() == 4 && parts.iter().all(|p| p.parse::<u8>().is_ok())
}

/// `<x>.<ns>.pod.<d>`: the first label.
fn pod_label(name: &str) -> Option<String> {
    match labels(name)?.as_slice() {
        [x, _, pod] if pod == "pod" => Some(x.clone()),
        _ => None,
    }
}

fn nodata(r: &Resp) -> bool {
    r.rcode == ResponseCode::NoError && r.answer.is_empty()
}

fn has_cluster_soa(r: &Resp) -> bool {
    r.authority.len() == 1 && r.authority[0].starts_with(&format!("{ZONE} "))
}

/// kubedns's negative answer shape: AA, RA, the cluster SOA.
fn k_negative(k: &Resp, rcode: ResponseCode) -> bool {
    k.rcode == rcode && k.answer.is_empty() && k.aa && k.ra && has_cluster_soa(k)
}

/// Answer records of type `t`.
fn of_type<'a>(r: &'a Resp, t: &str) -> Vec<&'a String> {
    r.answer
        .iter()
        .filter(|rec| rec.split_whitespace().nth(3) == Some(t))
        .collect()
}

/// The first answer is a CNAME owned by the question (any case).
fn starts_with_cname(r: &Resp, p: &Pair) -> bool {
    r.answer.iter().any(|rec| {
        let f: Vec<&str> = rec.split_whitespace().collect();
        f.len() >= 5 && f[3] == "CNAME" && f[0].eq_ignore_ascii_case(&p.name)
    })
}

/// Names that are empty non-terminals in kubedns's tree (RFC 8020): the apex, `svc`, `pod`,
/// a namespace with Services (or `*` for one), any `<ns>.pod`, `_<proto>.<svc>` when a port
/// of that protocol exists.
fn empty_non_terminal(name: &str) -> bool {
    let Some(l) = labels(name) else {
        return false;
    };
    match l.as_slice() {
        [] => true,
        [x] => x == "svc" || x == "pod",
        [ns, svc] if svc == "svc" => ns == "*" || NAMESPACES.contains(&ns.as_str()),
        [_, pod] if pod == "pod" => true,
        [proto, s, ns, svc] if svc == "svc" && ns == NS => {
            let ports: &[(&str, &str)] = super::corpus::SERVICES
                .iter()
                .find(|(n, _)| n == s)
                .map_or(&[], |(_, p)| p);
            ports.iter().any(|(_, pr)| format!("_{pr}") == *proto)
        }
        _ => false,
    }
}

/// The allow-list, in the order it is tried; the first match classifies a difference.
pub const RULES: &[Rule] = &[
    Rule {
        id: "nxdomain-flags",
        row: "NXDOMAIN flags: legacy AA=0 RA=0, kubedns AA=1 RA=1",
        matches: |_, _, l, k| {
            l.rcode == ResponseCode::NXDomain
                && k.rcode == ResponseCode::NXDomain
                && !l.aa
                && !l.ra
                && k.aa
                && k.ra
                && (l.answer == k.answer
                    && l.authority == k.authority
                    && l.additional == k.additional)
        },
    },
    Rule {
        id: "empty-non-terminal",
        row: "Empty non-terminals: NXDOMAIN vs NODATA (RFC 8020)",
        matches: |_, p, l, k| {
            empty_non_terminal(&p.name)
                && l.rcode == ResponseCode::NXDomain
                && k_negative(k, ResponseCode::NoError)
        },
    },
    Rule {
        id: "dns-version",
        row: "TXT dns-version.<d>",
        matches: |_, p, l, k| {
            labels(&p.name) == Some(vec!["dns-version".into()])
                && l.rcode == ResponseCode::NXDomain
                && if p.rtype == RecordType::TXT {
                    k.answer.len() == 1 && k.answer[0].ends_with(" TXT 1.1.0")
                } else {
                    k_negative(k, ResponseCode::NoError)
                }
        },
    },
    Rule {
        id: "apex-ns",
        row: "NS <d>",
        matches: |_, p, l, k| {
            labels(&p.name) == Some(vec![])
                && p.rtype == RecordType::NS
                && l.rcode == ResponseCode::NXDomain
                && k.answer.len() == 1
                && k.answer[0].ends_with(&format!("NS ns.dns.{ZONE}"))
        },
    },
    Rule {
        id: "cname-query-on-existing-name",
        row: "CNAME query on a non-alias Service or endpoint name: NXDOMAIN vs NODATA",
        matches: |ctx, p, l, k| {
            p.rtype == RecordType::CNAME
                && ctx.exists.contains(&p.name.to_ascii_lowercase())
                && srv_name(&p.name).is_none_or(|(_, _, s)| !CLUSTER_IP_NAMED.contains(&s.as_str()))
                && l.rcode == ResponseCode::NXDomain
                && k_negative(k, ResponseCode::NoError)
        },
    },
    Rule {
        id: "ns-query-on-missing-name",
        row: "NS query for a name that does not exist: NODATA vs NXDOMAIN",
        matches: |ctx, p, l, k| {
            p.rtype == RecordType::NS
                && labels(&p.name).is_some()
                && !ctx.exists.contains(&p.name.to_ascii_lowercase())
                && nodata(l)
                && has_cluster_soa(l)
                && k_negative(k, ResponseCode::NXDomain)
        },
    },
    Rule {
        id: "pod-name-not-an-address",
        row: "Pod name whose first label is not a dashed IPv4 address: NODATA (SRV: SERVFAIL) vs NXDOMAIN",
        matches: |_, p, l, k| {
            pod_label(&p.name).is_some_and(|x| !is_dashed_ipv4(&x))
                && (nodata(l) || l.rcode == ResponseCode::ServFail)
                && k_negative(k, ResponseCode::NXDomain)
        },
    },
    Rule {
        id: "namespace-records",
        row: "A/AAAA/SRV <ns>.svc.<d> and *.<ns>.svc.<d>: the namespace's records vs NODATA",
        matches: |_, p, l, k| {
            let ns_level = matches!(labels(&p.name).as_deref(), Some([_, svc]) if svc == "svc")
                || matches!(labels(&p.name).as_deref(), Some([w, _, svc]) if w == "*" && svc == "svc");
            ns_level
                && matches!(p.rtype, RecordType::A | RecordType::AAAA | RecordType::SRV)
                && l.rcode == ResponseCode::NoError
                && !l.answer.is_empty()
                && k_negative(k, ResponseCode::NoError)
        },
    },
    Rule {
        id: "externalname-target-negative",
        row: "ExternalName whose target does not exist or has no data of the asked type",
        matches: |_, p, l, k| {
            service(&p.name).is_some_and(|(s, _)| EXTERNAL.contains(&s.as_str()))
                && !matches!(
                    p.rtype,
                    RecordType::CNAME | RecordType::SRV | RecordType::ANY
                )
                && l.rcode == ResponseCode::NoError
                && l.authority
                    .iter()
                    .all(|a| a.starts_with(&format!("{ZONE} ")))
                && l.answer.iter().all(|a| a.contains(" CNAME "))
                && starts_with_cname(k, p)
                && matches!(k.rcode, ResponseCode::NoError | ResponseCode::NXDomain)
                && k.authority.len() == 1
                && k.authority[0].contains(" SOA ")
        },
    },
    Rule {
        id: "externalname-srv",
        row: "SRV or any other non-CNAME type on an ExternalName: legacy SRV, kubedns CNAME chased",
        matches: |_, p, l, k| {
            service(&p.name).is_some_and(|(s, _)| EXTERNAL.contains(&s.as_str()))
                && p.rtype == RecordType::SRV
                && of_type(l, "SRV").len() == 1
                && l.answer.len() == 1
                && starts_with_cname(k, p)
        },
    },
    Rule {
        id: "headless-port-name-a",
        row: "A _<port>._<proto>.<headless>: CNAME mixed with A vs the A records",
        matches: |_, p, l, k| {
            srv_name(&p.name).is_some_and(|(_, _, s)| HEADLESS_NAMED.contains(&s.as_str()))
                && p.rtype == RecordType::A
                && of_type(l, "CNAME").len() == 1
                && !k.answer.is_empty()
                && k.answer.len() == of_type(k, "A").len()
        },
    },
    Rule {
        id: "clusterip-port-name-alias",
        row: "_<port>._<proto>.<ClusterIP Service> for types other than A and SRV: kubedns answers the alias",
        matches: |_, p, l, k| {
            srv_name(&p.name).is_some_and(|(_, _, s)| CLUSTER_IP_NAMED.contains(&s.as_str()))
                && p.rtype != RecordType::SRV
                && of_type(l, "CNAME").is_empty()
                && l.answer.is_empty()
                && starts_with_cname(k, p)
                && k.rcode == ResponseCode::NoError
        },
    },
    Rule {
        id: "ip6-arpa-non-ptr",
        row: "Non-PTR query types under ip6.arpa: answered by the reverse handler vs forwarded",
        matches: |_, p, l, k| {
            p.name.ends_with(".ip6.arpa.")
                && p.rtype != RecordType::PTR
                && l.rcode == ResponseCode::NoError
                && !l.answer.is_empty()
                // forwarded: the in-test upstream refuses names outside example.org
                && k.rcode == ResponseCode::Refused
                && !k.aa
        },
    },
    Rule {
        id: "dual-stack-endpointslices",
        row: "Dual-stack headless Service: core/v1 Endpoints hold the primary family only",
        matches: |ctx, p, l, k| {
            let v6_extra = |r: &Resp| {
                r.answer
                    .iter()
                    .chain(&r.additional)
                    .any(|rec| rec.contains(" AAAA ") || rec.contains(" PTR "))
            };
            // the Pods' IPv6 addresses are in fd00:10:244::/64
            let about_dual = p.name.contains("dual-hl.")
                || (p.name.ends_with(".4.4.2.0.0.1.0.0.0.0.d.f.ip6.arpa.")
                    && p.rtype == RecordType::PTR);
            ctx.variant == Variant::Slices
                && about_dual
                && v6_extra(k)
                && (l.answer.len() < k.answer.len() || l.additional.len() < k.additional.len())
                && (l.rcode == ResponseCode::NoError || l.rcode == ResponseCode::Refused)
        },
    },
    Rule {
        id: "dual-stack-srv-weight",
        row: "SRV of a dual-stack ClusterIP Service: weight 50 vs 100",
        matches: |_, p, l, k| {
            let weights = |r: &Resp| -> Vec<String> {
                r.answer
                    .iter()
                    .map(|a| a.replacen(" 10 50 ", " 10 100 ", 1))
                    .collect()
            };
            p.rtype == RecordType::SRV
                && srv_name(&p.name).is_some_and(|(_, _, s)| s == "dual")
                && l.answer.iter().all(|a| a.contains(" SRV 10 50 "))
                && weights(l) == k.answer
                && l.additional == k.additional
        },
    },
    Rule {
        id: "over-capacity",
        row: "More than 1000 endpoints: core/v1 Endpoints are truncated at 1000",
        matches: |ctx, p, l, k| {
            ctx.variant == Variant::Slices
                && p.name
                    .to_ascii_lowercase()
                    .contains(&format!("{BIG}.{NS}."))
                && l.rcode == k.rcode
                && (l.tc || ctx.tcp)
                && l.answer.len() < k.answer.len()
        },
    },
    Rule {
        id: "udp-truncated-subset",
        row: "Records kept in a truncated UDP reply",
        matches: |ctx, _, l, k| !ctx.tcp && l.tc && k.tc && l.rcode == k.rcode && l.aa == k.aa,
    },
    Rule {
        id: "tcp-additional-dropped",
        row: "Reply over 65535 bytes on TCP: additional section dropped, then SERVFAIL",
        matches: |ctx, p, l, k| {
            ctx.tcp
                && p.rtype == RecordType::SRV
                && l.rcode == ResponseCode::NoError
                && ((l.answer == k.answer && !l.additional.is_empty() && k.additional.is_empty())
                    || (ctx.variant == Variant::Slices
                        && p.name.contains(&format!("{BIG}.{NS}."))
                        && k.rcode == ResponseCode::ServFail))
        },
    },
];

/// The rule explaining a difference, if any. Differences where a side did not reply are
/// matched by [`classify_obs`].
pub fn classify(ctx: &Ctx, pair: &Pair, legacy: &Obs, kubedns: &Obs) -> Option<&'static str> {
    match (legacy, kubedns) {
        (Obs::Reply(l), Obs::Reply(k)) => RULES
            .iter()
            .find(|r| (r.matches)(ctx, pair, l, k))
            .map(|r| r.id),
        (Obs::Crash(_), Obs::Reply(k))
            if pod_label(&pair.name).is_some_and(|x| is_dashed_ipv4(&x))
                && matches!(
                    pair.rtype,
                    RecordType::SRV | RecordType::PTR | RecordType::SOA
                )
                && k_negative(k, ResponseCode::NoError) =>
        {
            Some(LEGACY_CRASH.id)
        }
        _ => None,
    }
}

/// Legacy died on the query (SRV, PTR or SOA on a pod name); kubedns answered NODATA.
pub const LEGACY_CRASH: Rule = Rule {
    id: "legacy-crash-pod-name",
    row: "SRV or any non-A type on a pod name: legacy crashes (SRV, PTR, SOA)",
    matches: |_, _, _, _| true,
};

/// Every rule, for the report.
pub fn all_rules() -> impl Iterator<Item = &'static Rule> {
    RULES.iter().chain(std::iter::once(&LEGACY_CRASH))
}
