//! Table tests of the verdict: tallies built from plain replies, judged against expectations
//! read from plain GslbService objects.

use std::net::IpAddr;

use serde_json::{Value, json};

use super::*;
use crate::dns_verify::expect::expected_answers;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

fn answer(addresses: &[&str], ttl: u32) -> Reply {
    Reply::Answer {
        rcode: "NOERROR".to_owned(),
        records: addresses.iter().map(|a| (ip(a), ttl)).collect(),
        cname: false,
    }
}

/// `counts` replies of each address (one record each) from one client.
fn tally_of(counts: &[(&str, u64)], ttl: u32) -> Tally {
    let mut tally = Tally::default();
    for (addr, n) in counts {
        for _ in 0..*n {
            tally.record(THIS_HOST, &answer(&[addr], ttl));
        }
    }
    tally
}

fn gs(algorithm: &str, members: &[(&str, u32)], extra: Value) -> Value {
    let members: Vec<Value> = members
        .iter()
        .map(|(a, r)| json!({"enabled": true, "ratio": r, "ip": {"addr": a, "type": "V4"}}))
        .collect();
    let mut gs = json!({
        "name": "shop.example.com", "domain_names": ["shop.example.com"], "enabled": true,
        "ttl": 30,
        "groups": [
            {"name": "amko-gs-group-10", "priority": 10, "enabled": true, "algorithm": algorithm,
             "consistent_hash_mask": 24, "members": members},
            {"name": "amko-gs-group-5", "priority": 5, "enabled": true,
             "algorithm": "GSLB_ALGORITHM_ROUND_ROBIN",
             "members": [{"ratio": 1, "ip": {"addr": "10.9.9.9", "type": "V4"}}]}
        ]
    });
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            gs[k] = v;
        }
    }
    gs
}

fn verdict_of(gs: &Value, tally: &Tally) -> Verdict {
    let expected = expected_answers(gs).expect("readable");
    judge(
        expected.fqdn(),
        RecordType::A,
        &expected.by_type[&RecordType::A],
        expected.ttl,
        tally,
        DEFAULT_THRESHOLD,
    )
}

const RR: &str = "GSLB_ALGORITHM_ROUND_ROBIN";
const CH: &str = "GSLB_ALGORITHM_CONSISTENT_HASH";

#[test]
fn round_robin_verdicts() {
    let one_to_three = gs(RR, &[("10.0.0.1", 1), ("10.0.0.2", 3)], json!({}));
    // (what, tally, pass, a failure must contain)
    let table: Vec<(&str, Tally, bool, &str)> = vec![
        (
            "exact 1:3",
            tally_of(&[("10.0.0.1", 250), ("10.0.0.2", 750)], 30),
            true,
            "",
        ),
        (
            "1:3 with noise",
            tally_of(&[("10.0.0.1", 262), ("10.0.0.2", 738)], 30),
            true,
            "",
        ),
        (
            "1:1 where 1:3 is asked",
            tally_of(&[("10.0.0.1", 500), ("10.0.0.2", 500)], 30),
            false,
            "shares differ from the ratios",
        ),
        (
            "a member never answers",
            tally_of(&[("10.0.0.2", 1000)], 30),
            false,
            "never answered first: 10.0.0.1 (want 25.0%)",
        ),
        (
            "the lower-priority pool answers",
            tally_of(
                &[("10.0.0.1", 250), ("10.0.0.2", 740), ("10.9.9.9", 10)],
                30,
            ),
            false,
            "addresses outside pool amko-gs-group-10: 10.9.9.9 (10×)",
        ),
        (
            "wrong TTL",
            tally_of(&[("10.0.0.1", 250), ("10.0.0.2", 750)], 300),
            false,
            "TTL 300 seen in 1000 records, want 30",
        ),
    ];
    for (what, tally, pass, failure) in table {
        let verdict = verdict_of(&one_to_three, &tally);
        assert_eq!(verdict.pass, pass, "{what}: {:?}", verdict.failures);
        assert!(
            pass || verdict.failures.iter().any(|f| f.contains(failure)),
            "{what}: {:?}",
            verdict.failures
        );
        assert_eq!(verdict.queries, 1000, "{what}");
    }
}

#[test]
fn the_evidence_shows_counts_shares_p_value_and_ttl() {
    let gs = gs(RR, &[("10.0.0.1", 1), ("10.0.0.2", 3)], json!({}));
    let verdict = verdict_of(&gs, &tally_of(&[("10.0.0.1", 250), ("10.0.0.2", 750)], 30));
    let test = verdict.chi_square.clone().expect("a share test");
    assert_eq!(test.statistic, 0.0);
    assert_eq!(test.p_value, 1.0);
    assert_eq!(verdict.addresses[1].count, 750);
    assert_eq!(verdict.addresses[1].expected_share, Some(0.75));
    assert_eq!(
        render_line(&verdict),
        "PASS shop.example.com A: 1000 queries; 10.0.0.1 250 (25.0%, want 25.0% ratio 1), \
         10.0.0.2 750 (75.0%, want 75.0% ratio 3); chi-square 0.00 df 1 p = 1.0000 \
         (threshold 0.001); TTL 30 (1000×) (want 30)"
    );
    let skewed = verdict_of(&gs, &tally_of(&[("10.0.0.1", 500), ("10.0.0.2", 500)], 30));
    let line = render_line(&skewed);
    assert!(
        line.starts_with(
            "FAIL shop.example.com A: 1000 queries; 10.0.0.1 500 (50.0%, want 25.0% ratio 1)"
        ),
        "{line}"
    );
    assert!(line.contains("p = 1.81e-74"), "{line}");
    let json = serde_json::to_value(&skewed).expect("serialises");
    assert_eq!(json["pass"], false);
    assert_eq!(json["addresses"][0]["ip"], "10.0.0.1");
    assert_eq!(json["chi_square"]["degrees_of_freedom"], 1);
}

#[test]
fn replies_without_addresses_fail_while_a_member_is_eligible() {
    let gs = gs(RR, &[("10.0.0.1", 1)], json!({}));
    let mut tally = tally_of(&[("10.0.0.1", 10)], 30);
    tally.record(THIS_HOST, &Reply::NoReply);
    tally.record(
        THIS_HOST,
        &Reply::Answer {
            rcode: "SERVFAIL".to_owned(),
            records: vec![],
            cname: false,
        },
    );
    tally.record(THIS_HOST, &answer(&[], 30));
    let verdict = verdict_of(&gs, &tally);
    assert!(!verdict.pass);
    assert_eq!(
        verdict.failures,
        [
            "1 of 13 queries got no reply",
            "1 replies were SERVFAIL",
            "1 replies held no address"
        ]
    );
    assert_eq!(
        verdict.notes,
        ["no share test: every answer holds every member"]
    );
}

#[test]
fn consistent_hash_is_judged_on_stickiness() {
    let gs = gs(CH, &[("10.0.0.1", 1), ("10.0.0.2", 1)], json!({}));
    let mut sticky = Tally::default();
    for subnet in 0..64 {
        let client = format!("10.1.{subnet}.0/24");
        let member = if subnet % 3 == 0 {
            "10.0.0.1"
        } else {
            "10.0.0.2"
        };
        for _ in 0..10 {
            sticky.record(&client, &answer(&[member], 30));
        }
    }
    let verdict = verdict_of(&gs, &sticky);
    assert!(verdict.pass, "{:?}", verdict.failures);
    assert_eq!(
        verdict.chi_square, None,
        "shares across subnets are not tested"
    );
    let stickiness = verdict.stickiness.clone().expect("stickiness");
    assert_eq!((stickiness.clients, stickiness.moved_count), (64, 0));
    assert!(render_line(&verdict).contains("sticky: 64 of 64 clients kept one member"));

    let mut moving = sticky.clone();
    moving.record("10.1.3.0/24", &answer(&["10.0.0.2"], 30));
    let verdict = verdict_of(&gs, &moving);
    assert!(!verdict.pass);
    assert_eq!(
        verdict.failures,
        [
            "not sticky: 1 of 64 clients got more than one member (e.g. 10.1.3.0/24: 10.0.0.1, 10.0.0.2)"
        ]
    );
}

#[test]
fn several_records_per_answer() {
    let all = gs(
        RR,
        &[("10.0.0.1", 1), ("10.0.0.2", 3)],
        json!({"num_dns_ip": 0}),
    );
    let mut both = Tally::default();
    for _ in 0..20 {
        both.record(THIS_HOST, &answer(&["10.0.0.1", "10.0.0.2"], 30));
        both.record(THIS_HOST, &answer(&["10.0.0.2", "10.0.0.1"], 30));
    }
    let verdict = verdict_of(&all, &both);
    assert!(verdict.pass, "{:?}", verdict.failures);
    assert!(verdict.notes[0].contains("every answer holds every member"));

    let mut short = both.clone();
    short.record(THIS_HOST, &answer(&["10.0.0.2"], 30));
    let verdict = verdict_of(&all, &short);
    assert_eq!(
        verdict.failures,
        [
            "records per answer: 1 answers with 1, want 2",
            "10.0.0.1 missing from 1 answers"
        ]
    );

    let one = gs(RR, &[("10.0.0.1", 1), ("10.0.0.2", 3)], json!({}));
    let verdict = verdict_of(&one, &both);
    assert!(
        verdict
            .failures
            .iter()
            .any(|f| f == "records per answer: 40 answers with 2, want 1"),
        "{:?}",
        verdict.failures
    );

    let mut twice = Tally::default();
    twice.record(THIS_HOST, &answer(&["10.0.0.1", "10.0.0.1"], 30));
    let verdict = verdict_of(&all, &twice);
    assert!(
        verdict
            .failures
            .contains(&"1 answers named an address twice".to_owned())
    );
}

#[test]
fn down_responses_are_checked_when_nothing_is_eligible() {
    let disabled = |down: Value| {
        let mut gs = gs(RR, &[("10.0.0.1", 1)], json!({"down_response": down}));
        gs["groups"][0]["members"][0]["enabled"] = json!(false);
        gs["groups"][1]["members"][0]["enabled"] = json!(false);
        gs
    };
    let mut silent = Tally::default();
    silent.record(THIS_HOST, &Reply::NoReply);
    let mut empty = Tally::default();
    empty.record(THIS_HOST, &answer(&[], 30));
    let fallback = tally_of(&[("192.0.2.1", 3)], 30);
    let none = json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_NONE"});
    let empty_type = json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_EMPTY"});
    let fallback_type = json!({"type": "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP",
                               "fallback_ip": {"addr": "192.0.2.1", "type": "V4"}});
    let table = [
        (&none, &silent, true),
        (&none, &empty, false),
        (&empty_type, &empty, true),
        (&empty_type, &silent, false),
        (&fallback_type, &fallback, true),
        (&fallback_type, &empty, false),
        (&empty_type, &fallback, false),
    ];
    for (down, tally, pass) in table {
        let verdict = verdict_of(&disabled(down.clone()), tally);
        assert_eq!(
            verdict.pass, pass,
            "{down} {tally:?}: {:?}",
            verdict.failures
        );
    }
}

#[test]
fn format_p_stays_readable() {
    assert_eq!(format_p(1.0), "1.0000");
    assert_eq!(format_p(0.0123), "0.0123");
    assert_eq!(format_p(4.78e-75), "4.78e-75");
    assert_eq!(format_p(0.0), "0");
}

#[test]
fn merged_tallies_add_up_and_keep_every_member_a_client_got() {
    let mut a = Tally::default();
    a.record("10.0.0.0/24", &answer(&["10.0.0.1"], 30));
    a.record("10.0.1.0/24", &Reply::NoReply);
    let mut b = Tally::default();
    b.record("10.0.0.0/24", &answer(&["10.0.0.2"], 30));
    b.record("10.0.2.0/24", &answer(&["10.0.0.1"], 60));
    let mut whole = Tally::default();
    for (client, reply) in [
        ("10.0.0.0/24", answer(&["10.0.0.1"], 30)),
        ("10.0.1.0/24", Reply::NoReply),
        ("10.0.0.0/24", answer(&["10.0.0.2"], 30)),
        ("10.0.2.0/24", answer(&["10.0.0.1"], 60)),
    ] {
        whole.record(client, &reply);
    }
    a.merge(b);
    assert_eq!(a, whole);
    assert_eq!(a.by_client["10.0.0.0/24"].len(), 2);
}

#[test]
fn public_ips_count_as_their_members() {
    let mut gs = gs(RR, &[("10.0.0.1", 1), ("10.0.0.2", 3)], json!({}));
    gs["groups"][0]["members"][0]["public_ip"] =
        json!({"ip": {"addr": "203.0.113.1", "type": "V4"}});
    let tally = tally_of(&[("203.0.113.1", 250), ("10.0.0.2", 750)], 30);
    let verdict = verdict_of(&gs, &tally);
    assert!(verdict.pass, "{:?}", verdict.failures);
    assert_eq!(verdict.addresses[0].count, 250);
    assert!(verdict.notes[0].contains("public IP"));
}
