//! The verdict of `amko verify-dns` on one FQDN and record type: the replies are tallied as they
//! come ([`Tally`]), then [`judge`] compares them with what the GslbService says ([`Expectation`])
//! and keeps the evidence: counts against expected shares, the chi-square p-value, the TTLs seen,
//! the stickiness of client subnets.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;

use super::expect::{DownAnswer, Expectation, ExpectedPool, RecordType, Selection};
use super::stats::{ChiSquare, chi_square};

/// Exit code when every FQDN passed.
pub const EXIT_PASS: u8 = 0;
/// Exit code when verify-dns could not check (no expectation, no server, bad flags).
pub use crate::EXIT_ERROR;
/// Exit code when an FQDN's answers do not follow its GslbService.
pub const EXIT_FAIL: u8 = 3;

/// The default significance threshold: a correct service fails one FQDN in a thousand runs.
pub const DEFAULT_THRESHOLD: f64 = 0.001;

/// What one query got back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Nothing within the timeout, retries included.
    NoReply,
    Answer {
        /// The response code's name (`NOERROR`, `NXDOMAIN`, `SERVFAIL`, ...).
        rcode: String,
        /// The address records of the answer section, in order, with their TTLs.
        records: Vec<(IpAddr, u32)>,
        /// Whether the answer section held a CNAME.
        cname: bool,
    },
}

/// The name of a client when queries carry no client subnet.
pub const THIS_HOST: &str = "(this host)";

/// The replies to the queries of one FQDN and record type, tallied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub queries: u64,
    pub no_reply: u64,
    /// Replies other than NOERROR, by response code.
    pub rcodes: BTreeMap<String, u64>,
    /// NOERROR replies without an address record.
    pub empty: u64,
    /// Replies with a CNAME.
    pub cname: u64,
    /// The first record of each answer, by address.
    pub first: BTreeMap<IpAddr, u64>,
    /// Every record, by address.
    pub seen: BTreeMap<IpAddr, u64>,
    /// Records by TTL.
    pub ttls: BTreeMap<u32, u64>,
    /// Answers with addresses, by how many they held.
    pub records_per_answer: BTreeMap<usize, u64>,
    /// Answers that named one address twice.
    pub duplicates: u64,
    /// The first records each client subnet got (`THIS_HOST` without client subnets); the
    /// verdict's stickiness summarises it, so the JSON output leaves it out.
    #[serde(skip)]
    pub by_client: BTreeMap<String, BTreeSet<IpAddr>>,
}

impl Tally {
    /// Counts one reply to a query sent as `client` (the client subnet, or `THIS_HOST`).
    pub fn record(&mut self, client: &str, reply: &Reply) {
        self.queries += 1;
        let (rcode, records, cname) = match reply {
            Reply::NoReply => {
                self.no_reply += 1;
                return;
            }
            Reply::Answer {
                rcode,
                records,
                cname,
            } => (rcode, records, *cname),
        };
        if cname {
            self.cname += 1;
        }
        if rcode != "NOERROR" {
            *self.rcodes.entry(rcode.clone()).or_default() += 1;
            return;
        }
        let Some((first, _)) = records.first() else {
            self.empty += 1;
            return;
        };
        *self.first.entry(*first).or_default() += 1;
        self.by_client
            .entry(client.to_owned())
            .or_default()
            .insert(*first);
        *self.records_per_answer.entry(records.len()).or_default() += 1;
        let mut distinct = BTreeSet::new();
        for (ip, ttl) in records {
            *self.seen.entry(*ip).or_default() += 1;
            *self.ttls.entry(*ttl).or_default() += 1;
            distinct.insert(*ip);
        }
        if distinct.len() != records.len() {
            self.duplicates += 1;
        }
    }

    /// Adds the tally of other queries of the same batch (e.g. another socket's).
    pub fn merge(&mut self, other: Tally) {
        fn add<K: Ord>(into: &mut BTreeMap<K, u64>, from: BTreeMap<K, u64>) {
            for (key, count) in from {
                *into.entry(key).or_default() += count;
            }
        }
        self.queries += other.queries;
        self.no_reply += other.no_reply;
        self.empty += other.empty;
        self.cname += other.cname;
        self.duplicates += other.duplicates;
        add(&mut self.rcodes, other.rcodes);
        add(&mut self.first, other.first);
        add(&mut self.seen, other.seen);
        add(&mut self.ttls, other.ttls);
        add(&mut self.records_per_answer, other.records_per_answer);
        for (client, members) in other.by_client {
            self.by_client.entry(client).or_default().extend(members);
        }
    }

    /// The same tally with each alias (a member's public IP) counted as the address it stands for.
    pub fn with_aliases(&self, aliases: &BTreeMap<IpAddr, IpAddr>) -> Tally {
        let real = |ip: &IpAddr| *aliases.get(ip).unwrap_or(ip);
        let remap = |counts: &BTreeMap<IpAddr, u64>| {
            let mut out: BTreeMap<IpAddr, u64> = BTreeMap::new();
            for (ip, count) in counts {
                *out.entry(real(ip)).or_default() += count;
            }
            out
        };
        Tally {
            first: remap(&self.first),
            seen: remap(&self.seen),
            by_client: self
                .by_client
                .iter()
                .map(|(client, ips)| (client.clone(), ips.iter().map(real).collect()))
                .collect(),
            ..self.clone()
        }
    }

    /// Replies that held at least one address.
    pub fn answered(&self) -> u64 {
        self.records_per_answer.values().sum()
    }
}

/// One address in the evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AddressEvidence {
    pub ip: IpAddr,
    /// Answers whose first record it was.
    pub count: u64,
    pub observed_share: f64,
    /// `None`: the address should not have been answered first.
    pub expected_share: Option<f64>,
    pub ratio: Option<u32>,
}

/// How consistently client subnets kept their member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stickiness {
    pub clients: usize,
    /// Clients that got more than one member, with the members (at most five listed).
    pub moved: Vec<(String, Vec<IpAddr>)>,
    pub moved_count: usize,
}

/// The verdict on one FQDN and record type.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub fqdn: String,
    pub record_type: String,
    pub pass: bool,
    /// What is wrong, one sentence each; empty when it passed.
    pub failures: Vec<String>,
    /// What was expected, in words (the pool, the algorithm).
    pub expected: String,
    pub queries: u64,
    pub addresses: Vec<AddressEvidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chi_square: Option<ChiSquareEvidence>,
    pub ttl_expected: u32,
    pub ttls_seen: BTreeMap<u32, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stickiness: Option<Stickiness>,
    /// Why a check was not made (e.g. no share test for consistent hash).
    pub notes: Vec<String>,
    pub tally: Tally,
}

/// The goodness-of-fit test as reported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChiSquareEvidence {
    pub statistic: f64,
    pub degrees_of_freedom: u32,
    pub p_value: f64,
    pub threshold: f64,
}

impl From<(ChiSquare, f64)> for ChiSquareEvidence {
    fn from((test, threshold): (ChiSquare, f64)) -> Self {
        ChiSquareEvidence {
            statistic: test.statistic,
            degrees_of_freedom: test.degrees_of_freedom,
            p_value: test.p_value,
            threshold,
        }
    }
}

/// Compares `tally` with `expectation` for `fqdn`; `threshold` is the p-value below which the
/// shares fail.
pub fn judge(
    fqdn: &str,
    record_type: RecordType,
    expectation: &Expectation,
    ttl: u32,
    tally: &Tally,
    threshold: f64,
) -> Verdict {
    let mut verdict = Verdict {
        fqdn: fqdn.to_owned(),
        record_type: record_type.to_string(),
        pass: false,
        failures: Vec::new(),
        expected: String::new(),
        queries: tally.queries,
        addresses: Vec::new(),
        chi_square: None,
        ttl_expected: ttl,
        ttls_seen: tally.ttls.clone(),
        stickiness: None,
        notes: Vec::new(),
        tally: tally.clone(),
    };
    match expectation {
        Expectation::Pool(pool) => judge_pool(&mut verdict, pool, tally, threshold),
        Expectation::Down(down) => judge_down(&mut verdict, down, tally),
    }
    if let Some((ttl_seen, count)) = tally.ttls.iter().find(|(t, _)| **t != ttl) {
        verdict.failures.push(format!(
            "TTL {ttl_seen} seen in {count} records, want {ttl}"
        ));
    }
    verdict.pass = verdict.failures.is_empty();
    verdict
}

fn share(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

fn judge_pool(verdict: &mut Verdict, pool: &ExpectedPool, tally: &Tally, threshold: f64) {
    let unaliased;
    let tally = if pool.aliases.is_empty() {
        tally
    } else {
        verdict
            .notes
            .push("a member's public IP in an answer counts as the member".to_owned());
        unaliased = tally.with_aliases(&pool.aliases);
        &unaliased
    };
    let algorithm = match &pool.selection {
        Selection::Weighted => "weighted round robin".to_owned(),
        Selection::ConsistentHash { mask: Some(mask) } => format!("consistent hash /{mask}"),
        Selection::ConsistentHash { mask: None } => "consistent hash".to_owned(),
        Selection::Unpredictable { why } => format!("no share predicted: {why}"),
    };
    verdict.expected = format!(
        "pool {} (priority {}, {algorithm}, {} record{} per answer)",
        pool.pools.join("+"),
        pool.priority,
        pool.records_per_answer
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" or "),
        if pool.records_per_answer.iter().all(|r| *r == 1) {
            ""
        } else {
            "s"
        }
    );
    reply_failures(verdict, tally);

    let answered = tally.answered();
    let expected: BTreeMap<IpAddr, (f64, u32)> = pool
        .members
        .iter()
        .map(|m| (m.ip, (m.share, m.ratio)))
        .collect();
    for member in &pool.members {
        let count = tally.first.get(&member.ip).copied().unwrap_or(0);
        verdict.addresses.push(AddressEvidence {
            ip: member.ip,
            count,
            observed_share: share(count, answered),
            expected_share: Some(member.share),
            ratio: Some(member.ratio),
        });
    }
    let unexpected_first: Vec<(IpAddr, u64)> = tally
        .first
        .iter()
        .filter(|(ip, _)| !expected.contains_key(ip))
        .map(|(ip, n)| (*ip, *n))
        .collect();
    for (ip, count) in &unexpected_first {
        verdict.addresses.push(AddressEvidence {
            ip: *ip,
            count: *count,
            observed_share: share(*count, answered),
            expected_share: None,
            ratio: None,
        });
    }
    let unexpected: Vec<String> = tally
        .seen
        .iter()
        .filter(|(ip, _)| !expected.contains_key(ip) && !pool.also_allowed.contains(ip))
        .map(|(ip, n)| format!("{ip} ({n}×)"))
        .collect();
    if !unexpected.is_empty() {
        verdict.failures.push(format!(
            "addresses outside pool {}: {}",
            pool.pools.join("+"),
            unexpected.join(", ")
        ));
    } else if !unexpected_first.is_empty() {
        verdict.failures.push(format!(
            "first records from members that should not come first: {}",
            unexpected_first
                .iter()
                .map(|(ip, n)| format!("{ip} ({n}×)"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let wrong_sizes: Vec<String> = tally
        .records_per_answer
        .iter()
        .filter(|(n, _)| !pool.records_per_answer.contains(n))
        .map(|(n, count)| format!("{count} answers with {n}"))
        .collect();
    if !wrong_sizes.is_empty() {
        verdict.failures.push(format!(
            "records per answer: {}, want {}",
            wrong_sizes.join(", "),
            pool.records_per_answer
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    if tally.duplicates > 0 {
        verdict.failures.push(format!(
            "{} answers named an address twice",
            tally.duplicates
        ));
    }

    match &pool.selection {
        Selection::Unpredictable { why } => {
            verdict.notes.push(format!("no share test: {why}"));
        }
        Selection::ConsistentHash { .. } => {
            verdict.notes.push(
                "no share test: consistent hash keys on the client subnet; stickiness checked"
                    .to_owned(),
            );
            let moved: Vec<(String, Vec<IpAddr>)> = tally
                .by_client
                .iter()
                .filter(|(_, members)| members.len() > 1)
                .map(|(client, members)| (client.clone(), members.iter().copied().collect()))
                .collect();
            if !moved.is_empty() {
                let (client, members) = &moved[0];
                verdict.failures.push(format!(
                    "not sticky: {} of {} clients got more than one member (e.g. {client}: {})",
                    moved.len(),
                    tally.by_client.len(),
                    members
                        .iter()
                        .map(IpAddr::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            verdict.stickiness = Some(Stickiness {
                clients: tally.by_client.len(),
                moved_count: moved.len(),
                moved: moved.into_iter().take(5).collect(),
            });
        }
        Selection::Weighted if pool.every_member_in_each_answer => {
            verdict
                .notes
                .push("no share test: every answer holds every member".to_owned());
            let missing: Vec<String> = pool
                .members
                .iter()
                .map(|m| m.ip)
                .chain(pool.also_allowed.iter().copied())
                .filter_map(|ip| {
                    let seen = tally.seen.get(&ip).copied().unwrap_or(0);
                    (seen < answered)
                        .then(|| format!("{ip} missing from {} answers", answered - seen))
                })
                .collect();
            if !missing.is_empty() {
                verdict.failures.push(missing.join(", "));
            }
        }
        Selection::Weighted => {
            let observed: Vec<u64> = pool
                .members
                .iter()
                .map(|m| tally.first.get(&m.ip).copied().unwrap_or(0))
                .collect();
            let shares: Vec<f64> = pool.members.iter().map(|m| m.share).collect();
            match chi_square(&observed, &shares) {
                Some(test) => {
                    let total: u64 = observed.iter().sum();
                    let silent: Vec<String> = pool
                        .members
                        .iter()
                        .zip(&observed)
                        .filter(|(m, count)| **count == 0 && m.share * total as f64 >= 5.0)
                        .map(|(m, _)| format!("{} (want {:.1}%)", m.ip, m.share * 100.0))
                        .collect();
                    if !silent.is_empty() {
                        verdict
                            .failures
                            .push(format!("never answered first: {}", silent.join(", ")));
                    }
                    if test.p_value < threshold {
                        verdict.failures.push(format!(
                            "shares differ from the ratios: chi-square {:.1} (df {}), p = {} < {threshold}",
                            test.statistic,
                            test.degrees_of_freedom,
                            format_p(test.p_value)
                        ));
                    }
                    if shares.iter().any(|s| s * (total as f64) < 5.0) {
                        verdict.notes.push(
                            "some expected counts are below 5: the p-value is approximate; send more queries"
                                .to_owned(),
                        );
                    }
                    verdict.chi_square = Some((test, threshold).into());
                }
                None if pool.members.len() < 2 => {
                    verdict.notes.push("no share test: one member".to_owned());
                }
                None => {}
            }
        }
    }
    if answered == 0 && verdict.failures.is_empty() {
        verdict
            .failures
            .push("no answer held an address".to_owned());
    }
}

/// Queries that got no usable answer while a member should have answered.
fn reply_failures(verdict: &mut Verdict, tally: &Tally) {
    if tally.no_reply > 0 {
        verdict.failures.push(format!(
            "{} of {} queries got no reply",
            tally.no_reply, tally.queries
        ));
    }
    for (rcode, count) in &tally.rcodes {
        verdict
            .failures
            .push(format!("{count} replies were {rcode}"));
    }
    if tally.empty > 0 {
        verdict
            .failures
            .push(format!("{} replies held no address", tally.empty));
    }
    if tally.cname > 0 {
        verdict
            .failures
            .push(format!("{} replies held a CNAME", tally.cname));
    }
}

fn judge_down(verdict: &mut Verdict, down: &DownAnswer, tally: &Tally) {
    let answered = tally.answered();
    let replies = tally.queries - tally.no_reply;
    match down {
        DownAnswer::NoReply => {
            verdict.expected = "no member eligible: no reply (down response NONE)".to_owned();
            if replies > 0 {
                verdict.failures.push(format!(
                    "{replies} of {} queries got a reply, want none",
                    tally.queries
                ));
            }
        }
        DownAnswer::Empty => {
            verdict.expected =
                "no member eligible for this record type: empty NOERROR answers".to_owned();
            if tally.no_reply > 0 {
                verdict.failures.push(format!(
                    "{} of {} queries got no reply",
                    tally.no_reply, tally.queries
                ));
            }
            for (rcode, count) in &tally.rcodes {
                verdict
                    .failures
                    .push(format!("{count} replies were {rcode}"));
            }
            if answered > 0 {
                verdict
                    .failures
                    .push(format!("{answered} replies held addresses, want none"));
            }
        }
        DownAnswer::Addresses(addresses) => {
            verdict.expected = format!(
                "no member eligible: exactly {}",
                addresses
                    .iter()
                    .map(IpAddr::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            reply_failures(verdict, tally);
            let wrong: Vec<String> = tally
                .seen
                .iter()
                .filter(|(ip, _)| !addresses.contains(ip))
                .map(|(ip, n)| format!("{ip} ({n}×)"))
                .collect();
            if !wrong.is_empty() {
                verdict
                    .failures
                    .push(format!("unexpected addresses: {}", wrong.join(", ")));
            }
            for ip in addresses {
                let seen = tally.seen.get(ip).copied().unwrap_or(0);
                if seen < answered {
                    verdict
                        .failures
                        .push(format!("{ip} missing from {} answers", answered - seen));
                }
            }
        }
        DownAnswer::Cname(target) => {
            verdict.expected = format!("no member eligible: CNAME {target}");
            if answered > 0 {
                verdict
                    .failures
                    .push(format!("{answered} replies held addresses, want a CNAME"));
            }
            if tally.cname < tally.queries {
                verdict.failures.push(format!(
                    "{} of {} replies held no CNAME",
                    tally.queries - tally.cname,
                    tally.queries
                ));
            }
        }
    }
    for (ip, count) in &tally.first {
        verdict.addresses.push(AddressEvidence {
            ip: *ip,
            count: *count,
            observed_share: share(*count, answered),
            expected_share: None,
            ratio: None,
        });
    }
}

/// A p-value for people: four significant digits, scientific below 0.0001.
pub fn format_p(p: f64) -> String {
    if p == 0.0 {
        "0".to_owned()
    } else if p < 1e-4 {
        format!("{p:.2e}")
    } else {
        format!("{p:.4}")
    }
}

/// The one line `amko verify-dns` prints for a verdict.
pub fn render_line(verdict: &Verdict) -> String {
    let mut line = format!(
        "{} {} {}: {} queries;",
        if verdict.pass { "PASS" } else { "FAIL" },
        verdict.fqdn,
        verdict.record_type,
        verdict.queries
    );
    let mut parts = Vec::new();
    for address in &verdict.addresses {
        let mut part = format!(
            "{} {} ({:.1}%",
            address.ip,
            address.count,
            address.observed_share * 100.0
        );
        match (address.expected_share, address.ratio) {
            (Some(share), Some(ratio)) => {
                let _ = write!(part, ", want {:.1}% ratio {ratio})", share * 100.0);
            }
            (Some(share), None) => {
                let _ = write!(part, ", want {:.1}%)", share * 100.0);
            }
            _ => part.push_str(", unexpected)"),
        }
        parts.push(part);
    }
    if !parts.is_empty() {
        let _ = write!(line, " {};", parts.join(", "));
    }
    if let Some(test) = &verdict.chi_square {
        let _ = write!(
            line,
            " chi-square {:.2} df {} p = {} (threshold {});",
            test.statistic,
            test.degrees_of_freedom,
            format_p(test.p_value),
            test.threshold
        );
    }
    if let Some(sticky) = &verdict.stickiness {
        let _ = write!(
            line,
            " sticky: {} of {} clients kept one member;",
            sticky.clients - sticky.moved_count,
            sticky.clients
        );
    }
    let ttls: Vec<String> = verdict
        .ttls_seen
        .iter()
        .map(|(ttl, n)| format!("{ttl} ({n}×)"))
        .collect();
    let _ = write!(
        line,
        " TTL {} (want {})",
        if ttls.is_empty() {
            "none".to_owned()
        } else {
            ttls.join(", ")
        },
        verdict.ttl_expected
    );
    if !verdict.failures.is_empty() {
        let _ = write!(line, " -- {}", verdict.failures.join("; "));
    }
    line
}

#[cfg(test)]
#[path = "verdict_tests.rs"]
mod tests;
