//! What `amko demo` shows of the DNS answers: for each GslbService, the mix of addresses its
//! simulated GSLB DNS service answered, next to the configured weights, and whether the mix
//! follows them (the verdict of `amko verify-dns`). Pure rendering over the verdicts.

use std::fmt::Write as _;
use std::net::SocketAddr;

use amko::dns_verify::Verdict;
use amko::dns_verify::verdict::format_p;

use super::view::GsView;

/// The "DNS answers" section: one block per verdict.
pub fn render(verdicts: &[Verdict], views: &[GsView], server: SocketAddr, queries: u64) -> String {
    let mut out = format!(
        "DNS answers ({queries} queries per name to the simulated GSLB DNS service at {server}):\n"
    );
    if verdicts.is_empty() {
        out.push_str("  (no GslbService to ask for)\n");
    }
    for verdict in verdicts {
        let _ = writeln!(out, "  {} {}", verdict.fqdn, verdict.record_type);
        let view = views.iter().find(|v| v.name == verdict.fqdn);
        let width = verdict
            .addresses
            .iter()
            .map(|a| a.ip.to_string().len())
            .max()
            .unwrap_or(0)
            .max(15);
        for address in &verdict.addresses {
            let ip = address.ip.to_string();
            let cluster = view
                .and_then(|v| v.members.iter().find(|m| m.vip == ip))
                .map_or("?", |m| m.cluster.as_str());
            let configured = match (address.ratio, address.expected_share) {
                (Some(ratio), Some(share)) => {
                    format!("weight {ratio:>2} -> {:>5.1}%", share * 100.0)
                }
                _ => "not expected".to_owned(),
            };
            let _ = writeln!(
                out,
                "    {cluster:<10} {ip:<width$} {:>6} answers {:>5.1}%   {configured}",
                address.count,
                address.observed_share * 100.0
            );
        }
        let ttls: Vec<String> = verdict.ttls_seen.keys().map(u32::to_string).collect();
        let test = verdict.chi_square.as_ref().map_or_else(String::new, |t| {
            format!(", chi-square p = {}", format_p(t.p_value))
        });
        let outcome = if verdict.pass {
            "follows the weights".to_owned()
        } else {
            format!("does NOT follow them: {}", verdict.failures.join("; "))
        };
        let _ = writeln!(
            out,
            "    TTL {}{test}: the mix {outcome}",
            if ttls.is_empty() {
                "-".to_owned()
            } else {
                ttls.join("/")
            }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use amko::dns_verify::verdict::{THIS_HOST, Tally};
    use amko::dns_verify::{Reply, expected_answers, judge};
    use serde_json::json;

    use super::super::view::MemberRow;
    use super::*;

    #[test]
    fn the_mix_stands_next_to_the_weights() {
        let gs = json!({"name": "shop.demo.example.com", "domain_names": ["shop.demo.example.com"],
            "ttl": 30, "groups": [{"name": "amko-gs-group-10", "priority": 10, "members": [
                {"ratio": 10, "ip": {"addr": "10.0.0.1", "type": "V4"}},
                {"ratio": 5, "ip": {"addr": "10.0.0.2", "type": "V4"}}]}]});
        let expected = expected_answers(&gs).expect("readable");
        let mut tally = Tally::default();
        for (ip, n) in [("10.0.0.1", 200), ("10.0.0.2", 100)] {
            for _ in 0..n {
                tally.record(
                    THIS_HOST,
                    &Reply::Answer {
                        rcode: "NOERROR".to_owned(),
                        records: vec![(ip.parse().expect("ip"), 30)],
                        cname: false,
                    },
                );
            }
        }
        let (record_type, expectation) = expected.by_type.iter().next().expect("A");
        let verdict = judge(
            expected.fqdn(),
            *record_type,
            expectation,
            30,
            &tally,
            0.001,
        );
        let row = |cluster: &str, vip: &str| MemberRow {
            cluster: cluster.to_owned(),
            vip: vip.to_owned(),
            weight: 1,
            priority: 10,
            enabled: true,
        };
        let views = [GsView {
            name: "shop.demo.example.com".to_owned(),
            ttl: Some(30),
            monitors: vec![],
            members: vec![row("cluster1", "10.0.0.1"), row("cluster2", "10.0.0.2")],
        }];
        let server: SocketAddr = "127.0.0.1:5353".parse().expect("addr");
        assert_eq!(
            render(&[verdict], &views, server, 300),
            "DNS answers (300 queries per name to the simulated GSLB DNS service at 127.0.0.1:5353):\n\
             \x20 shop.demo.example.com A\n\
             \x20   cluster1   10.0.0.1           200 answers  66.7%   weight 10 ->  66.7%\n\
             \x20   cluster2   10.0.0.2           100 answers  33.3%   weight  5 ->  33.3%\n\
             \x20   TTL 30, chi-square p = 1.0000: the mix follows the weights\n"
        );
    }
}
