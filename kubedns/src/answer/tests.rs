use super::*;
use crate::store::Standalone as Store;
use hickory_proto::op::Message;
use hickory_proto::rr::rdata::{A, CNAME};

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("name")
}

#[test]
fn finish_dedups_and_lowers_ttls() {
    let a = |ttl| {
        Record::from_rdata(
            name("x.cluster.local."),
            ttl,
            RData::A(A([1, 2, 3, 4].into())),
        )
    };
    let r = Response {
        answers: vec![a(30), a(30), a(10)],
        ..Response::new(ResponseCode::NoError, true, true)
    };
    let r = finish(r);
    // a(30) and a(10) differ only by TTL; RFC 2181 §5.2 treats them as one RRset with one TTL
    assert!(r.answers.iter().all(|x| x.ttl == 10));
    assert_eq!(r.answers.len(), 1);
}

#[test]
fn dedup_keeps_the_first_of_each_record_in_order() {
    let a = |owner: &str, last: u8| {
        Record::from_rdata(name(owner), 30, RData::A(A([10, 0, 0, last].into())))
    };
    let mut answers: Vec<Record> = (0..=255).map(|i| a("hl.cluster.local.", i)).collect();
    // repeats: same RDATA under the owner in another case, and exact copies
    answers.push(a("HL.Cluster.Local.", 7));
    answers.extend((0..=255).rev().map(|i| a("hl.cluster.local.", i)));
    let one_owner = finish(Response {
        answers: answers.clone(),
        ..Response::new(ResponseCode::NoError, true, true)
    });
    assert_eq!(one_owner.answers, answers[..256].to_vec());
    // same RDATA under another owner: a different record (the full-key path)
    answers.push(a("other.cluster.local.", 7));
    let r = finish(Response {
        answers,
        ..Response::new(ResponseCode::NoError, true, true)
    });
    let got: Vec<(String, RData)> = r
        .answers
        .iter()
        .map(|r| (r.name.to_string(), r.data.clone()))
        .collect();
    let mut want: Vec<(String, RData)> = (0..=255)
        .map(|i| {
            (
                "hl.cluster.local.".to_string(),
                RData::A(A([10, 0, 0, i].into())),
            )
        })
        .collect();
    want.push((
        "other.cluster.local.".to_string(),
        RData::A(A([10, 0, 0, 7].into())),
    ));
    assert_eq!(got, want);
}

#[test]
fn chase_completion_caps_ttls_and_failure_keeps_the_alias() {
    let st = Store::new("cluster.local.");
    let view = st.view();
    let cname = Record::from_rdata(
        name("ext.default.svc.cluster.local."),
        30,
        RData::CNAME(CNAME(name("foo.example.com."))),
    );
    let base = Response {
        answers: vec![cname],
        ..Response::new(ResponseCode::NoError, true, true)
    };
    let mut up = Message::response(1, hickory_proto::op::OpCode::Query);
    up.answers.push(Record::from_rdata(
        name("foo.example.com."),
        3000,
        RData::A(A([192, 0, 2, 1].into())),
    ));
    let target = name("foo.example.com.");
    let Answer::Local(done) =
        continue_chase(&view, base.clone(), &target, RecordType::A, Some(&up), 0)
    else {
        panic!("final answer expected")
    };
    assert_eq!(done.answers.len(), 2);
    assert!(done.answers.iter().all(|r| r.ttl == 30));
    // a short upstream TTL is kept, never raised (and the CNAME is lowered with it)
    up.answers[0].ttl = 5;
    let Answer::Local(short) =
        continue_chase(&view, base.clone(), &target, RecordType::A, Some(&up), 0)
    else {
        panic!("final answer expected")
    };
    assert!(short.answers.iter().all(|r| r.ttl == 5));
    let Answer::Local(failed) = continue_chase(&view, base, &target, RecordType::A, None, 7200)
    else {
        panic!("final answer expected")
    };
    assert_eq!(failed.rcode, ResponseCode::ServFail);
    assert_eq!(failed.answers.len(), 1, "the CNAME stays");
    assert!(failed.authorities.is_empty());
}
