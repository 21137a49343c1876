//! Answer-behaviour table for CNAME chains that leave the cluster zone (issue 17): the
//! answer engine ([`kubedns::answer::lookup`] then [`continue_chase`] per upstream reply)
//! driven by scripted upstream replies, as the server's chase loop drives it. Each named
//! case: the question, the upstream script, the expected rcode, answer, authority, AA, the
//! upstream questions asked, and the rule. The same chains over real sockets, through the
//! real binaries and dnsmasq-rs, are in `integration/tests/external_chain.rs`.

mod common;

use common::chase::*;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Record, RecordType};
use kubedns::answer::MAX_CNAME_CHAIN;

fn cases() -> Vec<Case> {
    use RecordType::{A as TA, SRV as TSRV};
    use ResponseCode::{NXDomain, NoError, Refused, ServFail};
    let ext_cname = |ttl| line(E, ttl, "CNAME", W);
    let long_chain: Vec<Record> = (1..MAX_CNAME_CHAIN)
        .map(|i| {
            let owner = if i == 1 {
                W.to_string()
            } else {
                format!("c{}.example.net.", i - 1)
            };
            cname(&owner, 300, &format!("c{i}.example.net."))
        })
        .collect();
    let mut at_limit = long_chain.clone();
    let last = format!("c{}.example.net.", MAX_CNAME_CHAIN - 1);
    at_limit.push(a(&last, 300, "192.0.2.9"));
    let mut over_limit = long_chain.clone();
    over_limit.push(cname(&last, 300, "c-last.example.net."));
    over_limit.push(a("c-last.example.net.", 300, "192.0.2.9"));
    let mut at_limit_lines = vec![ext_cname(30)];
    at_limit_lines.extend(at_limit.iter().map(|r| {
        let t = r.record_type().to_string();
        line(&r.name.to_string(), 30, &t, &r.data.to_string())
    }));
    vec![
        Case {
            name: "target resolves: CNAME + A, TTL capped at 30",
            qname: E,
            qtype: TA,
            script: script(vec![(
                W,
                TA,
                Some(reply(NoError, vec![a(W, 300, "1.2.3.4")], vec![])),
            )]),
            rcode: NoError,
            answer: vec![ext_cname(30), line(W, 30, "A", "1.2.3.4")],
            authority: vec![],
            aa: true,
            asked: vec![W],
            rule: "RFC 1034 §4.3.2 step 3a; upstream TTLs never raised",
        },
        Case {
            name: "short upstream TTL lowers the whole answer",
            qname: E,
            qtype: TA,
            script: script(vec![(
                W,
                TA,
                Some(reply(NoError, vec![a(W, 5, "1.2.3.4")], vec![])),
            )]),
            rcode: NoError,
            answer: vec![ext_cname(5), line(W, 5, "A", "1.2.3.4")],
            authority: vec![],
            aa: true,
            asked: vec![W],
            rule: "RFC 2181 §5.2 one TTL per answer; never serve past the owner's TTL",
        },
        Case {
            name: "target NXDOMAIN with SOA",
            qname: E,
            qtype: TA,
            script: script(vec![(
                W,
                TA,
                Some(reply(NXDomain, vec![], vec![soa("example.com.", 900, 300)])),
            )]),
            rcode: NXDomain,
            answer: vec![ext_cname(30)],
            authority: vec!["example.com. 30 SOA".into()],
            aa: true,
            asked: vec![W],
            rule: "RFC 6604 §2 rcode of the last name; RFC 2308 §2.1 SOA of its zone",
        },
        Case {
            name: "target NODATA with SOA (SRV)",
            qname: E,
            qtype: TSRV,
            script: script(vec![(
                W,
                TSRV,
                Some(reply(NoError, vec![], vec![soa("example.com.", 900, 20)])),
            )]),
            rcode: NoError,
            answer: vec![ext_cname(30)],
            authority: vec!["example.com. 30 SOA".into()],
            aa: true,
            asked: vec![W],
            rule: "RFC 2308 §2.2: NODATA for the target, the alias stays",
        },
        Case {
            name: "target SRV resolves",
            qname: E,
            qtype: TSRV,
            script: script(vec![(
                W,
                TSRV,
                Some(reply(NoError, vec![srv(W, "host.example.com.")], vec![])),
            )]),
            rcode: NoError,
            answer: vec![
                ext_cname(30),
                line(W, 30, "SRV", "1 1 443 host.example.com."),
            ],
            authority: vec![],
            aa: true,
            asked: vec![W],
            rule: "RFC 1034 §4.3.2 for every type",
        },
        Case {
            name: "target NODATA without SOA",
            qname: E,
            qtype: TA,
            script: script(vec![(W, TA, Some(reply(NoError, vec![], vec![])))]),
            rcode: NoError,
            answer: vec![ext_cname(30)],
            authority: vec![],
            aa: true,
            asked: vec![W],
            rule: "no SOA from upstream: none invented (caches then do not store it, RFC 2308 §5)",
        },
        Case {
            name: "upstream SERVFAIL",
            qname: E,
            qtype: TA,
            script: script(vec![(W, TA, Some(reply(ServFail, vec![], vec![])))]),
            rcode: ServFail,
            answer: vec![ext_cname(30)],
            authority: vec![],
            aa: false,
            asked: vec![W],
            rule: "RFC 2308 §7.1: the target was not answered; SERVFAIL keeps the alias visible",
        },
        Case {
            name: "upstream REFUSED",
            qname: E,
            qtype: TA,
            script: script(vec![(W, TA, Some(reply(Refused, vec![], vec![])))]),
            rcode: ServFail,
            answer: vec![ext_cname(30)],
            authority: vec![],
            aa: false,
            asked: vec![W],
            rule: "a refusal is no answer for the target",
        },
        Case {
            name: "every upstream failed or timed out",
            qname: E,
            qtype: TA,
            script: script(vec![(W, TA, None)]),
            rcode: ServFail,
            answer: vec![ext_cname(30)],
            authority: vec![],
            aa: false,
            asked: vec![W],
            rule: "RFC 2308 §7.1 (CoreDNS answers the CNAME alone with NOERROR; see docs/compat.md)",
        },
        Case {
            name: "records for other names are dropped",
            qname: E,
            qtype: TA,
            script: script(vec![(
                W,
                TA,
                Some(reply(
                    NoError,
                    vec![
                        a("evil.example.net.", 300, "6.6.6.6"),
                        a(W, 300, "1.2.3.4"),
                        a(K, 300, "6.6.6.6"),
                        cname("other.example.com.", 300, "x.example.net."),
                    ],
                    vec![soa("example.net.", 300, 300)],
                )),
            )]),
            rcode: NoError,
            answer: vec![ext_cname(30), line(W, 30, "A", "1.2.3.4")],
            authority: vec![],
            aa: true,
            asked: vec![W],
            rule: "only the chain is taken from a reply (RFC 5452 §6 bailiwick)",
        },
        Case {
            name: "SOA outside the last name's zones is dropped",
            qname: E,
            qtype: TA,
            script: script(vec![(
                W,
                TA,
                Some(reply(NXDomain, vec![], vec![soa("example.net.", 300, 300)])),
            )]),
            rcode: NXDomain,
            answer: vec![ext_cname(30)],
            authority: vec![],
            aa: true,
            asked: vec![W],
            rule: "RFC 2308 §2.1: the SOA must be the last name's zone",
        },
        Case {
            name: "upstream follows the chain itself",
            qname: E,
            qtype: TA,
            script: script(vec![(
                W,
                TA,
                Some(reply(
                    NoError,
                    vec![
                        cname(W, 300, "cdn.example.net."),
                        a("cdn.example.net.", 60, "1.2.3.5"),
                    ],
                    vec![],
                )),
            )]),
            rcode: NoError,
            answer: vec![
                ext_cname(30),
                line(W, 30, "CNAME", "cdn.example.net."),
                line("cdn.example.net.", 30, "A", "1.2.3.5"),
            ],
            authority: vec![],
            aa: true,
            asked: vec![W],
            rule: "RFC 1034 §4.3.2 step 3a",
        },
        Case {
            name: "authoritative upstream stops at a CNAME: ask again",
            qname: E,
            qtype: TA,
            script: script(vec![
                (
                    W,
                    TA,
                    Some(reply(
                        NoError,
                        vec![cname(W, 300, "cdn.example.net.")],
                        vec![],
                    )),
                ),
                (
                    "cdn.example.net.",
                    TA,
                    Some(reply(
                        NoError,
                        vec![a("cdn.example.net.", 60, "1.2.3.5")],
                        vec![],
                    )),
                ),
            ]),
            rcode: NoError,
            answer: vec![
                ext_cname(30),
                line(W, 30, "CNAME", "cdn.example.net."),
                line("cdn.example.net.", 30, "A", "1.2.3.5"),
            ],
            authority: vec![],
            aa: true,
            asked: vec![W, "cdn.example.net."],
            rule: "RFC 1034 §5.3.3 step 4: restart at the canonical name",
        },
        Case {
            name: "NXDOMAIN after an upstream CNAME is about the last name",
            qname: E,
            qtype: TA,
            script: script(vec![(
                W,
                TA,
                Some(reply(
                    NXDomain,
                    vec![cname(W, 300, "gone.example.net.")],
                    vec![soa("example.net.", 300, 10)],
                )),
            )]),
            rcode: NXDomain,
            answer: vec![ext_cname(30), line(W, 30, "CNAME", "gone.example.net.")],
            authority: vec!["example.net. 30 SOA".into()],
            aa: true,
            asked: vec![W],
            rule: "RFC 6604 §2",
        },
        Case {
            name: "chain leaves the zone and comes back",
            qname: E,
            qtype: TA,
            script: script(vec![(
                W,
                TA,
                Some(reply(
                    NXDomain,
                    vec![cname(W, 300, K), a(K, 300, "6.6.6.6")],
                    vec![soa(".", 300, 300)],
                )),
            )]),
            rcode: NoError,
            answer: vec![
                ext_cname(30),
                line(W, 30, "CNAME", K),
                line(K, 30, "A", "10.0.0.1"),
            ],
            authority: vec![],
            aa: true,
            asked: vec![W],
            rule: "the store is authoritative for the cluster zone: upstream data for it is dropped",
        },
        Case {
            name: "chain comes back to a missing cluster name",
            qname: E,
            qtype: TA,
            script: script(vec![(
                W,
                TA,
                Some(reply(
                    NoError,
                    vec![cname(W, 300, "nope.default.svc.cluster.local.")],
                    vec![],
                )),
            )]),
            rcode: NXDomain,
            answer: vec![
                ext_cname(30),
                line(W, 30, "CNAME", "nope.default.svc.cluster.local."),
            ],
            authority: vec!["cluster.local. 60 SOA".into()],
            aa: true,
            asked: vec![W],
            rule: "RFC 6604 §2 with the cluster SOA (RFC 2308 §3)",
        },
        Case {
            name: "out, back in, and out again",
            qname: E,
            qtype: TA,
            script: script(vec![
                (W, TA, Some(reply(NoError, vec![cname(W, 300, E2)], vec![]))),
                (
                    "api.example.org.",
                    TA,
                    Some(reply(
                        NoError,
                        vec![a("api.example.org.", 300, "192.0.2.7")],
                        vec![],
                    )),
                ),
            ]),
            rcode: NoError,
            answer: vec![
                ext_cname(30),
                line(W, 30, "CNAME", E2),
                line(E2, 30, "CNAME", "api.example.org."),
                line("api.example.org.", 30, "A", "192.0.2.7"),
            ],
            authority: vec![],
            aa: true,
            asked: vec![W, "api.example.org."],
            rule: "RFC 1034 §4.3.2",
        },
        Case {
            name: "loop through the cluster zone",
            qname: E,
            qtype: TA,
            script: script(vec![(
                W,
                TA,
                Some(reply(NoError, vec![cname(W, 300, E)], vec![])),
            )]),
            rcode: ServFail,
            answer: vec![ext_cname(30), line(W, 30, "CNAME", E)],
            authority: vec![],
            aa: false,
            asked: vec![W],
            rule: "a loop never resolves: SERVFAIL with the chain",
        },
        Case {
            name: "loop outside the cluster zone",
            qname: E,
            qtype: TA,
            script: script(vec![(
                W,
                TA,
                Some(reply(
                    NoError,
                    vec![
                        cname(W, 300, "b.example.net."),
                        cname("b.example.net.", 300, W),
                    ],
                    vec![],
                )),
            )]),
            rcode: ServFail,
            answer: vec![
                ext_cname(30),
                line(W, 30, "CNAME", "b.example.net."),
                line("b.example.net.", 30, "CNAME", W),
            ],
            authority: vec![],
            aa: false,
            asked: vec![W],
            rule: "loop detection over upstream hops",
        },
        Case {
            name: "chain of exactly MAX_CNAME_CHAIN CNAMEs",
            qname: E,
            qtype: TA,
            script: script(vec![(W, TA, Some(reply(NoError, at_limit, vec![])))]),
            rcode: NoError,
            answer: at_limit_lines,
            authority: vec![],
            aa: true,
            asked: vec![W],
            rule: "MAX_CNAME_CHAIN = 8 CNAMEs per answer, in-zone and upstream together",
        },
        Case {
            name: "chain longer than MAX_CNAME_CHAIN",
            qname: E,
            qtype: TA,
            script: script(vec![(W, TA, Some(reply(NoError, over_limit, vec![])))]),
            rcode: ServFail,
            answer: vec![],
            authority: vec![],
            aa: false,
            asked: vec![W],
            rule: "the 9th CNAME stops the chain: SERVFAIL (answer checked by length below)",
        },
    ]
}

#[test]
fn external_chain_table() {
    let st = store();
    let mut failures = Vec::new();
    for c in cases() {
        let (r, asked) = drive(&st, &c);
        let answer: Vec<String> = r
            .answers
            .iter()
            .map(|a| {
                line(
                    &a.name.to_string(),
                    a.ttl,
                    &a.record_type().to_string(),
                    &a.data.to_string(),
                )
            })
            .collect();
        let authority: Vec<String> = r
            .authorities
            .iter()
            .map(|a| format!("{} {} {}", a.name, a.ttl, a.record_type()))
            .collect();
        let answer_ok = if c.name == "chain longer than MAX_CNAME_CHAIN" {
            answer.len() == MAX_CNAME_CHAIN + 1
                && r.answers
                    .iter()
                    .all(|a| a.record_type() == RecordType::CNAME)
        } else {
            answer == c.answer
        };
        if r.rcode != c.rcode
            || !answer_ok
            || authority != c.authority
            || r.authoritative != c.aa
            || asked != c.asked
        {
            failures.push(format!(
                "{} ({} {}; rule: {})\n  want {:?} {:?} auth {:?} aa={} asked {:?}\n  got  {:?} {:?} auth {:?} aa={} asked {:?}",
                c.name, c.qname, c.qtype, c.rule, c.rcode, c.answer, c.authority, c.aa, c.asked,
                r.rcode, answer, authority, r.authoritative, asked
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
