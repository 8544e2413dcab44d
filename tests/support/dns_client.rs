//! Asks a DNS server many questions with dnspython (a DNS client nobody here wrote) and tallies
//! the replies: response codes, the first record of each answer, whole answer sets, TTLs, ECS
//! scopes and timeouts (a dropped query). One python3 process runs a whole batch of probes.
//!
//! Included next to `tools.rs` by the test crates that need it; the caller passes `tools::python()`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// One kind of question, asked `count` times.
#[derive(Clone, Debug)]
pub struct Probe {
    pub name: String,
    /// `A`, `AAAA`, `TXT`, ...
    pub qtype: String,
    pub count: usize,
    /// TCP (one connection for the whole probe) instead of UDP.
    pub tcp: bool,
    /// An EDNS client subnet option, `ADDR/PREFIX`.
    pub ecs: Option<String>,
    /// Seconds to wait for each reply.
    pub timeout: f64,
}

impl Probe {
    pub fn a(name: &str, count: usize) -> Probe {
        Probe {
            name: name.to_owned(),
            qtype: "A".to_owned(),
            count,
            tcp: false,
            ecs: None,
            timeout: 2.0,
        }
    }

    pub fn aaaa(name: &str, count: usize) -> Probe {
        Probe {
            qtype: "AAAA".to_owned(),
            ..Probe::a(name, count)
        }
    }

    pub fn tcp(self) -> Probe {
        Probe { tcp: true, ..self }
    }

    pub fn ecs(self, subnet: &str) -> Probe {
        Probe {
            ecs: Some(subnet.to_owned()),
            ..self
        }
    }

    pub fn timeout(self, seconds: f64) -> Probe {
        Probe {
            timeout: seconds,
            ..self
        }
    }
}

/// What came back for one probe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// `NOERROR`, `NXDOMAIN`, `REFUSED`, ... → count.
    pub rcodes: BTreeMap<String, usize>,
    /// First answer record (text form, e.g. `10.0.0.1` or `sorry.example.net.`; `""` when the
    /// answer section is empty) → count.
    pub first: BTreeMap<String, usize>,
    /// Whole answer sets (records sorted, space-joined) → count.
    pub sets: BTreeMap<String, usize>,
    pub ttls: BTreeSet<u32>,
    /// ECS scope prefix lengths seen in replies.
    pub scopes: BTreeSet<u8>,
    pub timeouts: usize,
    /// Replies with the TC (truncated) flag.
    pub truncated: usize,
}

impl Tally {
    pub fn count(&self, first: &str) -> usize {
        self.first.get(first).copied().unwrap_or(0)
    }

    /// The only first record seen; panics with the tally otherwise.
    pub fn only(&self) -> &str {
        assert_eq!(self.first.len(), 1, "expected one answer: {self:?}");
        self.first
            .keys()
            .next()
            .map(String::as_str)
            .unwrap_or_default()
    }
}

const SCRIPT: &str = r#"
import json, socket, sys
import dns.edns, dns.exception, dns.flags, dns.message, dns.query, dns.rcode

spec = json.load(sys.stdin)
host, port = spec["host"], spec["port"]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
results = []
for probe in spec["probes"]:
    tally = {"rcodes": {}, "first": {}, "sets": {}, "ttls": [], "scopes": [], "timeouts": 0, "truncated": 0}
    options = []
    if probe.get("ecs"):
        address, prefix = probe["ecs"].split("/")
        options.append(dns.edns.ECSOption(address, int(prefix)))
    sock = None
    if probe["tcp"]:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(probe["timeout"])
        sock.connect((host, port))
    for _ in range(probe["count"]):
        query = dns.message.make_query(probe["name"], probe["type"], use_edns=0 if options else None, options=options)
        try:
            if sock is not None:
                reply = dns.query.tcp(query, host, port=port, timeout=probe["timeout"], sock=sock)
            else:
                reply = dns.query.udp(query, host, port=port, timeout=probe["timeout"])
        except dns.exception.Timeout:
            tally["timeouts"] += 1
            continue
        rcode = dns.rcode.to_text(reply.rcode())
        tally["rcodes"][rcode] = tally["rcodes"].get(rcode, 0) + 1
        if reply.flags & dns.flags.TC:
            tally["truncated"] += 1
        records = []
        for rrset in reply.answer:
            tally["ttls"].append(rrset.ttl)
            records.extend(rdata.to_text() for rdata in rrset)
        first = records[0] if records else ""
        tally["first"][first] = tally["first"].get(first, 0) + 1
        key = " ".join(sorted(records))
        tally["sets"][key] = tally["sets"].get(key, 0) + 1
        for option in reply.options:
            if isinstance(option, dns.edns.ECSOption):
                tally["scopes"].append(option.scopelen)
    if sock is not None:
        sock.close()
    tally["ttls"] = sorted(set(tally["ttls"]))
    tally["scopes"] = sorted(set(tally["scopes"]))
    results.append(tally)
json.dump(results, sys.stdout)
"#;

fn counts(value: &Value) -> BTreeMap<String, usize> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0) as usize))
        .collect()
}

/// Runs every probe against `server` with `python` (a python3 that imports dnspython).
pub fn ask(mut python: Command, server: SocketAddr, probes: &[Probe]) -> Vec<Tally> {
    let spec = json!({
        "host": server.ip().to_string(),
        "port": server.port(),
        "probes": probes.iter().map(|p| json!({
            "name": p.name, "type": p.qtype, "count": p.count, "tcp": p.tcp,
            "ecs": p.ecs, "timeout": p.timeout,
        })).collect::<Vec<_>>(),
    });
    let mut child = python
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(spec.to_string().as_bytes())
        .expect("probe spec written");
    let output = child.wait_with_output().expect("python3 runs");
    assert!(
        output.status.success(),
        "dnspython client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("dnspython client prints JSON");
    results
        .iter()
        .map(|r| Tally {
            rcodes: counts(&r["rcodes"]),
            first: counts(&r["first"]),
            sets: counts(&r["sets"]),
            ttls: r["ttls"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .map(|t| t as u32)
                .collect(),
            scopes: r["scopes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .map(|s| s as u8)
                .collect(),
            timeouts: r["timeouts"].as_u64().unwrap_or(0) as usize,
            truncated: r["truncated"].as_u64().unwrap_or(0) as usize,
        })
        .collect()
}

/// Runs one probe.
pub fn ask_one(python: Command, server: SocketAddr, probe: Probe) -> Tally {
    ask(python, server, &[probe]).remove(0)
}

/// The largest deviation from `expected_share` of `n` draws a fair weighted random choice would
/// exceed with probability about 2e-9: six standard deviations of the binomial count. Smooth
/// weighted round robin lands exactly on the share; a random scheme passes too.
pub fn tolerance(n: usize, expected_share: f64) -> f64 {
    6.0 * (n as f64 * expected_share * (1.0 - expected_share)).sqrt()
}
