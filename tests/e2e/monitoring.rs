//! The chart's monitoring (issue 13 item 5): the Grafana dashboard (`metrics.dashboard`) and the
//! PrometheusRule alerts (`metrics.prometheusRule`), rendered by the real helm v3, checked against
//! the real operator and the real promtool:
//!
//! - every metric name their PromQL reads is one that `/metrics` of `amko run` (against the
//!   simulators) exports, found by a small PromQL tokenizer unit-tested here;
//! - `promtool check rules` accepts the rules, and `promtool test rules` fires each alert as
//!   docs/monitoring.md says (after the configured minutes, not before).
//! - `promtool check rules` parses every dashboard query (as a recording rule);
//! - real helm installs both into a simulated cluster (with the Prometheus Operator's CRDs) and
//!   uninstalls them.
//!
//! promtool comes from Debian's `prometheus` package, provisioned by tests/support/tools.rs.

mod harness;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Output;

use harness::{Env, EnvOptions, HOME, gdp, tools};
use serde_json::{Value, json};

// ------------------------------------------------------------------ PromQL metric names

/// Aggregation operators: not metric names even when `by`/`without` comes before their `(`.
const AGGREGATIONS: [&str; 14] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
/// Keywords followed by a parenthesised list of label names.
const LABEL_LIST_KEYWORDS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// Other words that are not metric names.
const KEYWORDS: [&str; 8] = [
    "and", "or", "unless", "offset", "bool", "atan2", "inf", "nan",
];

/// The metric names a PromQL expression reads: identifiers that are not functions, aggregations,
/// keywords, label names (in `by (…)`, `on (…)`, `group_left (…)`), label matchers (`{…}`),
/// ranges and subqueries (`[…]`), strings, numbers, durations or Grafana variables (`$job`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_group(&chars, i, '{', '}'),
            '[' => i = skip_group(&chars, i, '[', ']'),
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '$' => {
                i += 1;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || "._".contains(chars[i]))
                {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let lower = word.to_ascii_lowercase();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let opens = chars.get(next) == Some(&'(');
                if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) {
                    if opens {
                        i = skip_group(&chars, next, '(', ')');
                    }
                } else if opens
                    || AGGREGATIONS.contains(&lower.as_str())
                    || KEYWORDS.contains(&lower.as_str())
                {
                    // A function or aggregation: what follows is read on.
                } else {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The index after the string that starts at `start` (escapes honoured except in backticks).
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == '\\' && quote != '`' {
            i += 2;
            continue;
        }
        if chars[i] == quote {
            return i + 1;
        }
        i += 1;
    }
    i
}

/// The index after the group that `open` starts at `start`, nested groups and strings included.
fn skip_group(chars: &[char], start: usize, open: char, close: char) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => {
                i = skip_string(chars, i);
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// The names of the series an OpenMetrics text can produce in Prometheus: each sample's name,
/// and from each `# TYPE` line what the type makes of the family name (a counter `x` is
/// `x_total`; a histogram `x` is `x_bucket`, `x_sum` and `x_count`; a gauge is `x`), so that a
/// family registered but without a sample yet counts, and a histogram suffix on a gauge does not.
fn exported_names(openmetrics: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in openmetrics.lines() {
        if let Some(typed) = line.strip_prefix("# TYPE ") {
            let mut parts = typed.split_whitespace();
            let (Some(family), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            let suffixes: &[&str] = match kind {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                "summary" => &["", "_sum", "_count", "_created"],
                "info" => &["_info"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{family}{s}")));
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

/// The names `exprs` read that `exported` lacks, with the expression that reads each.
fn unknown_names(exprs: &[(String, String)], exported: &BTreeSet<String>) -> Vec<String> {
    let mut unknown = Vec::new();
    for (where_, expr) in exprs {
        for name in metric_names(expr) {
            if !exported.contains(&name) {
                unknown.push(format!("{name} (in {where_}: {expr})"));
            }
        }
    }
    unknown
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn the_tokenizer_finds_metric_names_and_nothing_else() {
    let cases: [(&str, &[&str]); 8] = [
        ("amko_leading", &["amko_leading"]),
        (
            r#"sum by (kind) (rate(amko_avi_writes_total{job=~"$job",kind!="x{y}"}[$__rate_interval]))"#,
            &["amko_avi_writes_total"],
        ),
        (
            "histogram_quantile(0.99, sum by (le, actor) (rate(amko_mailbox_handling_seconds_bucket[5m])))",
            &["amko_mailbox_handling_seconds_bucket"],
        ),
        (
            r#"amko_avi_controller_up{job="a"} == 0 and on (job, instance) amko_leading{job="a"} == 1"#,
            &["amko_avi_controller_up", "amko_leading"],
        ),
        (
            "sum(rate(a_total[5m] offset 1h)) / on (instance) group_left (cluster) max without (pod) (b) > bool 1e3",
            &["a_total", "b"],
        ),
        (
            "sum(amko_leading) < 1 or absent(amko_leading{job=\"x\"})",
            &["amko_leading"],
        ),
        (
            "max_over_time(amko_cluster_connected[10m:1m]) unless ignoring(cluster) c:recorded # a comment naming not_a_metric",
            &["amko_cluster_connected", "c:recorded"],
        ),
        (
            r#"label_replace(up, "dst", "$1", "src", "(.*)") * Inf + NaN - .5 + 0x1f"#,
            &["up"],
        ),
    ];
    for (expr, expected) in cases {
        assert_eq!(metric_names(expr), set(expected), "{expr}");
    }
}

#[test]
fn an_unknown_name_or_a_suffix_its_family_does_not_have_is_reported() {
    let exported = exported_names(
        "# HELP amko_leading 1 while leading.\n# TYPE amko_leading gauge\namko_leading 1\n\
         # TYPE amko_avi_writes counter\n\
         # TYPE amko_convergence_seconds histogram\n\
         amko_convergence_seconds_sum 0.0\n\
         # EOF\n",
    );
    let exprs = |e: &str| vec![("a panel".to_owned(), e.to_owned())];
    for known in [
        "amko_leading",
        "rate(amko_avi_writes_total[5m])",
        "histogram_quantile(0.5, sum by (le) (rate(amko_convergence_seconds_bucket[5m])))",
        "amko_convergence_seconds_count",
    ] {
        assert_eq!(
            unknown_names(&exprs(known), &exported),
            Vec::<String>::new()
        );
    }
    for unknown in [
        "amko_no_such_metric",
        "amko_leading_bucket",
        "rate(amko_avi_writes[5m])",
        "amko_convergence_seconds",
        "sum by (kind) (amko_leading) + amko_typo_total",
    ] {
        assert_eq!(
            unknown_names(&exprs(unknown), &exported).len(),
            1,
            "{unknown} must be reported"
        );
    }
}

// ------------------------------------------------------------------ the chart's monitoring

/// `helm template` of the chart with the monitoring on, plus `sets`, as JSON documents.
fn render(sets: &[&str]) -> Vec<Value> {
    let chart = format!("{}/../charts/amko", env!("CARGO_MANIFEST_DIR"));
    let mut args: Vec<String> = ["template", "amko", &chart, "--namespace", HOME]
        .map(String::from)
        .to_vec();
    for value in [
        "configs.gslbLeaderController=10.10.10.10",
        "configs.federation.currentCluster=cluster1",
        "configs.federation.currentClusterIsLeader=true",
        "metrics.dashboard.enabled=true",
        "metrics.prometheusRule.enabled=true",
    ]
    .iter()
    .chain(sets)
    {
        args.push("--set".into());
        args.push((*value).to_owned());
    }
    let output = tools::helm()
        .args(&args)
        .output()
        .expect("helm template runs");
    assert!(output.status.success(), "{}", describe(&output));
    String::from_utf8_lossy(&output.stdout)
        .split("\n---")
        .filter_map(|doc| serde_saphyr::from_str::<Value>(doc).ok())
        .filter(|doc| doc.is_object())
        .collect()
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Option<&'a Value> {
    docs.iter().find(|d| d["kind"] == kind)
}

/// The rules' `spec` (a Prometheus rule file: `groups:`).
fn rules_spec(docs: &[Value]) -> Value {
    find(docs, "PrometheusRule").expect("a PrometheusRule")["spec"].clone()
}

/// (alert, expression) of every rule.
fn rule_exprs(spec: &Value) -> Vec<(String, String)> {
    let mut exprs = Vec::new();
    for group in spec["groups"].as_array().into_iter().flatten() {
        for rule in group["rules"].as_array().into_iter().flatten() {
            let name = rule["alert"].as_str().or(rule["record"].as_str());
            exprs.push((
                format!("alert {}", name.unwrap_or("?")),
                rule["expr"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    exprs
}

/// The dashboard JSON from its ConfigMap.
fn dashboard(docs: &[Value]) -> Value {
    let map = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "amko-dashboard")
        .expect("the dashboard ConfigMap");
    let text = map["data"]["amko-rs.json"].as_str().expect("amko-rs.json");
    serde_json::from_str(text).expect("the dashboard is JSON")
}

/// (panel title, expression) of every panel target (rows' panels included), and of the
/// template variables' `label_values(<selector>, label)` queries.
fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?");
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((format!("panel {title:?}"), expr.to_owned()));
                }
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let query = variable["query"]["query"]
            .as_str()
            .or(variable["query"].as_str())
            .unwrap_or_default();
        if let Some(args) = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
        {
            // label_values(<series selector>, <label>): only the selector names a metric.
            let selector = args.rsplit_once(',').map_or(args, |(s, _)| s);
            out.push((
                format!("variable {}", variable["name"]),
                selector.to_owned(),
            ));
        }
    }
    out
}

/// The value of the sample `series` (name and labels exactly as exported) in OpenMetrics text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_alerts_read_is_exported_by_the_operator() {
    let options = EnvOptions::clusters(2)
        .install(gdp(&["cluster1", "cluster2"], json!({})))
        .run(&[]);
    let env = Env::start("monitoring-names", options).await;
    env.create_gslb_ingress("cluster1", "shop", "web", "shop.example.com")
        .await;
    env.wait_gs("shop.example.com", "the GslbService", |_| true)
        .await;
    // A GSLBHostRule the operator rejects (the profile does not exist on the controller).
    env.put_host_rule(
        HOME,
        "shop-rule",
        json!({"fqdn": "shop.example.com",
               "sitePersistence": {"enabled": true, "profileRef": "no-such-profile"}}),
    )
    .await;
    env.wait_host_rule_status("shop-rule", "the rule is rejected", |s, _| s == "Rejected")
        .await;

    // What the panels and alerts show, as the running operator reports it.
    env.eventually("the metrics show the rejection and the writes", || async {
        let text = env.metrics().await;
        sample(&text, r#"amko_policies_rejected{kind="GSLBHostRule"}"#) == Some(1.0)
            && sample(
                &text,
                r#"amko_policies_rejected{kind="GlobalDeploymentPolicy"}"#,
            ) == Some(0.0)
            && sample(&text, r#"amko_avi_writes_total{kind="create_gslbservice"}"#)
                .is_some_and(|n| n >= 1.0)
    })
    .await;
    // The controller goes down: the next write fails (a 503, class `server`), and the
    // controller counts as unreachable until it answers again.
    let control = env.avi.control();
    control.set_outage(true);
    env.create_gslb_ingress("cluster2", "shop", "cart", "cart.example.com")
        .await;
    env.eventually(
        "the failed write and the unreachable controller",
        || async {
            let text = env.metrics().await;
            sample(&text, "amko_avi_controller_up") == Some(0.0)
                && sample(&text, r#"amko_avi_write_errors_total{kind="server"}"#)
                    .is_some_and(|n| n >= 1.0)
        },
    )
    .await;
    control.set_outage(false);
    env.wait_gs(
        "cart.example.com",
        "the GslbService, once the controller is back",
        |_| true,
    )
    .await;
    // The object counts are refreshed every five seconds.
    env.eventually(
        "the controller answers again, the object counts",
        || async {
            let text = env.metrics().await;
            sample(&text, "amko_avi_controller_up") == Some(1.0)
                && sample(&text, r#"amko_cluster_objects{cluster="cluster2"}"#) == Some(1.0)
        },
    )
    .await;

    let text = env.metrics().await;
    assert_eq!(sample(&text, "amko_leading"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "amko_avi_controller_up"), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "amko_avi_rate_budget_per_second"),
        Some(25.0),
        "{text}"
    );
    for cluster in ["cluster1", "cluster2"] {
        let series = format!("amko_cluster_connected{{cluster=\"{cluster}\"}}");
        assert_eq!(sample(&text, &series), Some(1.0), "{text}");
    }
    assert_eq!(sample(&text, "amko_gslb_services"), Some(2.0), "{text}");

    let exported = exported_names(&text);
    let docs = render(&[]);
    let rules = rule_exprs(&rules_spec(&docs));
    let panels = dashboard_exprs(&dashboard(&docs));
    assert_eq!(rules.len(), 5, "{rules:?}");
    assert!(panels.len() >= 20, "{panels:?}");
    assert!(
        panels
            .iter()
            .any(|(where_, _)| where_.starts_with("variable")),
        "the job variable's query is checked too: {panels:?}"
    );
    let mut used = BTreeSet::new();
    for (where_, expr) in rules.iter().chain(&panels) {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{where_} reads no metric: {expr}");
        used.extend(names);
    }
    let unknown = unknown_names(&[rules, panels].concat(), &exported);
    assert!(
        unknown.is_empty(),
        "the dashboard or alerts read metrics that /metrics does not export:\n{}\n\nexported:\n{text}",
        unknown.join("\n")
    );
    // What issue 13 asks the dashboard and alerts to show is among what they read.
    for needed in [
        "amko_convergence_seconds_bucket",
        "amko_avi_writes_total",
        "amko_avi_write_errors_total",
        "amko_avi_requests_total",
        "amko_avi_rate_budget_per_second",
        "amko_mailbox_depth",
        "amko_cluster_connected",
        "amko_gslb_services",
        "amko_avi_controller_up",
        "amko_policies_rejected",
        "amko_leading",
    ] {
        assert!(used.contains(needed), "{needed} is not used: {used:?}");
    }
}

// ------------------------------------------------------------------ promtool

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("monitoring")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn alert_names(spec: &Value) -> Vec<String> {
    rule_exprs(spec)
        .into_iter()
        .map(|(name, _)| name.trim_start_matches("alert ").to_owned())
        .collect()
}

#[test]
fn the_not_leading_alert_is_rendered_where_one_replica_must_lead() {
    let all = [
        "AmkoControllerUnreachable",
        "AmkoMemberClusterDisconnected",
        "AmkoWritesFailing",
        "AmkoPolicyRejected",
        "AmkoNotLeading",
    ];
    let leader = alert_names(&rules_spec(&render(&[])));
    assert_eq!(leader, all);
    let follower = alert_names(&rules_spec(&render(&[
        "configs.federation.currentClusterIsLeader=false",
    ])));
    assert_eq!(follower, all[..4]);
    let forced = alert_names(&rules_spec(&render(&[
        "configs.federation.currentClusterIsLeader=false",
        "metrics.prometheusRule.notLeadingAlert=always",
    ])));
    assert_eq!(forced, all);
    let never = alert_names(&rules_spec(&render(&[
        "metrics.prometheusRule.notLeadingAlert=never",
    ])));
    assert_eq!(never, all[..4]);
    // Off by default: neither object without the switches.
    let chart = format!("{}/../charts/amko", env!("CARGO_MANIFEST_DIR"));
    let output = tools::helm()
        .args(["template", "amko", &chart, "--namespace", HOME])
        .args(["--set", "configs.federation.currentCluster=cluster1"])
        .args(["--set", "configs.gslbLeaderController=10.10.10.10"])
        .output()
        .expect("helm template runs");
    assert!(output.status.success(), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("kind: PrometheusRule"), "{text}");
    assert!(!text.contains("grafana_dashboard"), "{text}");
}

/// Input series of the same target (as the ServiceMonitor labels them).
const TARGET: &str = r#"job="amko-metrics",endpoint="http-metrics",instance="10.0.0.7:8080""#;

/// promtool unit tests of the alerts, for rules rendered with a disconnection threshold of three
/// minutes (the defaults otherwise).
fn promtool_tests(rule_file: &str) -> Value {
    let s = |metric: &str, labels: &str, values: &str| {
        let extra = if labels.is_empty() {
            String::new()
        } else {
            format!(",{labels}")
        };
        json!({"series": format!("{metric}{{{TARGET}{extra}}}"), "values": values})
    };
    let target =
        json!({"job": "amko-metrics", "endpoint": "http-metrics", "instance": "10.0.0.7:8080"});
    let labels = |extra: Value| {
        let mut all = target.clone();
        if let (Some(all), Some(extra)) = (all.as_object_mut(), extra.as_object()) {
            all.extend(extra.clone());
        }
        all
    };
    json!({
        "rule_files": [rule_file],
        "evaluation_interval": "1m",
        "tests": [
            {
                // cluster2 disconnects at minute 2; the threshold is 3 minutes.
                "interval": "1m",
                "input_series": [
                    s("amko_leading", "", "1x12"),
                    s("amko_cluster_connected", r#"cluster="cluster1""#, "1x12"),
                    s("amko_cluster_connected", r#"cluster="cluster2""#, "1 1 0x10"),
                ],
                "alert_rule_test": [
                    {"eval_time": "4m", "alertname": "AmkoMemberClusterDisconnected", "exp_alerts": []},
                    {"eval_time": "5m", "alertname": "AmkoMemberClusterDisconnected", "exp_alerts": [{
                        "exp_labels": labels(json!({"severity": "warning", "cluster": "cluster2"})),
                        "exp_annotations": {
                            "summary": "A member cluster's watches are failing.",
                            "description": "Member cluster cluster2 has been disconnected for 3 minutes; amko-rs keeps its last known members."
                        }
                    }]}
                ]
            },
            {
                // A standby whose clusters look disconnected (its gauges are stale) alerts nothing.
                "interval": "1m",
                "input_series": [
                    s("amko_leading", "", "0x12"),
                    s("amko_cluster_connected", r#"cluster="cluster2""#, "0x12"),
                    s("amko_avi_controller_up", "", "0x12"),
                ],
                "alert_rule_test": [
                    {"eval_time": "10m", "alertname": "AmkoMemberClusterDisconnected", "exp_alerts": []},
                    {"eval_time": "10m", "alertname": "AmkoControllerUnreachable", "exp_alerts": []}
                ]
            },
            {
                // The controller stops answering at minute 1; the default is 5 minutes.
                "interval": "1m",
                "input_series": [
                    s("amko_leading", "", "1x12"),
                    s("amko_avi_controller_up", "", "1 0x11"),
                ],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "AmkoControllerUnreachable", "exp_alerts": []},
                    {"eval_time": "6m", "alertname": "AmkoControllerUnreachable", "exp_alerts": [{
                        "exp_labels": labels(json!({"severity": "critical"})),
                        "exp_annotations": {
                            "summary": "The Avi GSLB leader controller does not answer amko-rs.",
                            "description": "The leading amko-rs instance 10.0.0.7:8080 got no answer (or a 5xx) from the Avi controller for its last request; GslbServices are not kept in sync."
                        }
                    }]}
                ]
            },
            {
                // A GSLBHostRule is rejected at minute 2; the default is 1 minute.
                "interval": "1m",
                "input_series": [
                    s("amko_policies_rejected", r#"kind="GSLBHostRule""#, "0 0 1x10"),
                    s("amko_policies_rejected", r#"kind="GlobalDeploymentPolicy""#, "0x12"),
                ],
                "alert_rule_test": [
                    {"eval_time": "2m", "alertname": "AmkoPolicyRejected", "exp_alerts": []},
                    {"eval_time": "3m", "alertname": "AmkoPolicyRejected", "exp_alerts": [{
                        "exp_labels": {"severity": "warning", "kind": "GSLBHostRule"},
                        "exp_annotations": {
                            "summary": "A GlobalDeploymentPolicy or GSLBHostRule is rejected.",
                            "description": "1 GSLBHostRule object(s) rejected; their status says why (kubectl get globaldeploymentpolicies,gslbhostrules -A -o yaml)."
                        }
                    }]}
                ]
            },
            {
                // Writes fail from minute 0 on (6 a minute); the default is 10 minutes.
                "interval": "1m",
                "input_series": [
                    s("amko_avi_write_errors_total", r#"kind="transport""#, "0+6x20"),
                ],
                "alert_rule_test": [
                    {"eval_time": "10m", "alertname": "AmkoWritesFailing", "exp_alerts": []},
                    {"eval_time": "12m", "alertname": "AmkoWritesFailing", "exp_alerts": [{
                        "exp_labels": labels(json!({"severity": "warning"})),
                        "exp_annotations": {
                            "summary": "Writes to the Avi controller keep failing.",
                            "description": "amko-rs instance 10.0.0.7:8080 sees 100m failed controller writes per second; amko_avi_write_errors_total says which class, the GSLBConfig and GSLBHostRule statuses say which object."
                        }
                    }]}
                ]
            },
            {
                // The only leader steps down at minute 2 and nobody takes over; then every
                // replica is gone (no series at all): the alert stays.
                "interval": "1m",
                "input_series": [
                    s("amko_leading", "", "1 1 0x8"),
                    {"series": format!("amko_leading{{{}}}", TARGET.replace("10.0.0.7", "10.0.0.8")), "values": "0x10"},
                ],
                "alert_rule_test": [
                    {"eval_time": "6m", "alertname": "AmkoNotLeading", "exp_alerts": []},
                    {"eval_time": "7m", "alertname": "AmkoNotLeading", "exp_alerts": [{
                        "exp_labels": {"severity": "critical"},
                        "exp_annotations": {
                            "summary": "No amko-rs replica holds the write role.",
                            "description": "No amko-rs replica of the federation's leader cluster leads (holds the Lease and is the AMKOCluster leader), so nothing keeps the controller's GslbServices in sync."
                        }
                    }]},
                    // The series end at minute 10 and go stale five minutes later: `absent`
                    // takes over (with the selector's labels), pending again for five minutes.
                    {"eval_time": "21m", "alertname": "AmkoNotLeading", "exp_alerts": [{
                        "exp_labels": {"severity": "critical", "job": "amko-metrics", "endpoint": "http-metrics"},
                        "exp_annotations": {
                            "summary": "No amko-rs replica holds the write role.",
                            "description": "No amko-rs replica of the federation's leader cluster leads (holds the Lease and is the AMKOCluster leader), so nothing keeps the controller's GslbServices in sync."
                        }
                    }]}
                ]
            }
        ]
    })
}

#[test]
fn the_rendered_rules_pass_promtool_check_and_fire_as_documented() {
    let dir = scratch("promtool");
    let spec = rules_spec(&render(&[
        "metrics.prometheusRule.clusterDisconnectedMinutes=3",
    ]));
    let rules = dir.join("rules.json");
    std::fs::write(&rules, spec.to_string()).expect("rules written");
    let check = tools::promtool()
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .expect("promtool runs");
    assert!(check.status.success(), "{}", describe(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("SUCCESS: 5 rules found"),
        "{}",
        describe(&check)
    );

    let tests = dir.join("tests.json");
    std::fs::write(&tests, promtool_tests("rules.json").to_string()).expect("tests written");
    let test = tools::promtool()
        .arg("test")
        .arg("rules")
        .arg(&tests)
        .current_dir(&dir)
        .output()
        .expect("promtool runs");
    assert!(test.status.success(), "{}", describe(&test));

    // The unit tests can fail: with the default threshold (5 minutes) the disconnection alert
    // does not fire at minute 5, and promtool says so.
    let spec = rules_spec(&render(&[]));
    std::fs::write(&rules, spec.to_string()).expect("rules written");
    let test = tools::promtool()
        .arg("test")
        .arg("rules")
        .arg(&tests)
        .current_dir(&dir)
        .output()
        .expect("promtool runs");
    assert!(!test.status.success(), "{}", describe(&test));
    assert!(
        String::from_utf8_lossy(&test.stderr).contains("AmkoMemberClusterDisconnected")
            || String::from_utf8_lossy(&test.stdout).contains("AmkoMemberClusterDisconnected"),
        "{}",
        describe(&test)
    );

    // And promtool check rejects a broken expression.
    let broken = spec.to_string().replace("== 0 and on", "== and on");
    std::fs::write(&rules, broken).expect("rules written");
    let check = tools::promtool()
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .expect("promtool runs");
    assert!(!check.status.success(), "{}", describe(&check));
}

// ------------------------------------------------------------------ helm install

/// A Prometheus Operator CRD for `plural.monitoring.coreos.com` (v1) with an open schema: its
/// schema is the Prometheus Operator's to check, not ours.
fn prometheus_operator_crd(kind: &str, plural: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.monitoring.coreos.com")},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.to_ascii_lowercase(), "listKind": format!("{kind}List")},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
            }]
        }
    })
}

/// Runs helm against the simulated cluster (bounded), with its caches in `env.dir`.
async fn helm_on(env: &Env, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::from(tools::helm());
    command
        .args(args)
        .env("KUBECONFIG", &env.kubeconfig)
        .env("HELM_KUBECONTEXT", "cluster1")
        .env("KUBECACHEDIR", env.dir.join("kube-cache"))
        .env("HELM_CACHE_HOME", env.dir.join("helm-cache"))
        .env("HELM_CONFIG_HOME", env.dir.join("helm-config"))
        .env("HELM_DATA_HOME", env.dir.join("helm-data"))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    tokio::time::timeout(std::time::Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("helm {args:?} did not finish"))
        .expect("helm runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_installs_the_dashboard_and_the_rules_and_uninstalls_them() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::Api;
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};

    let env = Env::start("monitoring-helm", EnvOptions::clusters(1)).await;
    let home = env.home().await;
    harness::ensure_namespace(&home, HOME).await;
    let crds = Api::<CustomResourceDefinition>::all(home.clone());
    for (kind, plural) in [
        ("ServiceMonitor", "servicemonitors"),
        ("PrometheusRule", "prometheusrules"),
    ] {
        let crd = serde_json::from_value(prometheus_operator_crd(kind, plural)).expect("CRD");
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("Prometheus Operator CRD created");
    }
    let rules_api = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("monitoring.coreos.com", "v1", "PrometheusRule"),
        "prometheusrules",
    );
    let rules = Api::<DynamicObject>::namespaced_with(home.clone(), HOME, &rules_api);
    env.eventually("the PrometheusRule resource is served", || async {
        rules.list(&Default::default()).await.is_ok()
    })
    .await;

    let chart = format!("{}/../charts/amko", env!("CARGO_MANIFEST_DIR"));
    let install = helm_on(
        &env,
        &[
            "install",
            "amko",
            &chart,
            "-n",
            HOME,
            "--set",
            "configs.gslbLeaderController=10.10.10.10",
            "--set",
            "configs.federation.currentCluster=cluster1",
            "--set",
            "configs.federation.currentClusterIsLeader=true",
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "metrics.dashboard.enabled=true",
            "--set",
            "metrics.prometheusRule.enabled=true",
        ],
    )
    .await;
    assert!(install.status.success(), "{}", describe(&install));

    let maps = Api::<ConfigMap>::namespaced(home.clone(), HOME);
    let map = maps
        .get("amko-dashboard")
        .await
        .expect("the dashboard ConfigMap");
    let labels = map.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels.get("grafana_dashboard").map(String::as_str),
        Some("1")
    );
    let text = map
        .data
        .unwrap_or_default()
        .remove("amko-rs.json")
        .expect("amko-rs.json");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "amko-rs");
    assert!(dashboard_exprs(&dashboard).len() >= 20);

    let rule = rules.get("amko").await.expect("the PrometheusRule");
    assert_eq!(alert_names(&rule.data["spec"]).len(), 5, "{:?}", rule.data);

    let uninstall = helm_on(&env, &["uninstall", "amko", "-n", HOME]).await;
    assert!(uninstall.status.success(), "{}", describe(&uninstall));
    assert!(maps.get_opt("amko-dashboard").await.expect("get").is_none());
    assert!(rules.get_opt("amko").await.expect("get").is_none());
    harness::remove_dir(&env.dir);
}

/// The dashboard's queries as recording rules, with Grafana's variables replaced by what Grafana
/// would put there, so that promtool parses each one.
fn dashboard_as_recording_rules(dashboard: &Value) -> Value {
    let rules: Vec<Value> = dashboard_exprs(dashboard)
        .into_iter()
        .enumerate()
        .map(|(i, (_, expr))| {
            let expr = expr
                .replace("$__rate_interval", "2m")
                .replace("$job", "amko-metrics|other");
            json!({"record": format!("amko_dashboard:query_{i}"), "expr": expr})
        })
        .collect();
    json!({"groups": [{"name": "amko-rs-dashboard", "rules": rules}]})
}

#[test]
fn every_dashboard_query_is_valid_promql() {
    let dir = scratch("dashboard");
    let dashboard = dashboard(&render(&[]));
    let rules = dashboard_as_recording_rules(&dashboard);
    let count = rules["groups"][0]["rules"].as_array().map_or(0, Vec::len);
    assert!(count >= 20, "{rules}");
    let file = dir.join("dashboard-rules.json");
    let check = |rules: &Value| {
        std::fs::write(&file, rules.to_string()).expect("rules written");
        tools::promtool()
            .arg("check")
            .arg("rules")
            .arg(&file)
            .output()
            .expect("promtool runs")
    };
    let output = check(&rules);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&format!("SUCCESS: {count} rules found")),
        "{}",
        describe(&output)
    );
    // A query with a syntax error is refused: the check can fail.
    let broken =
        rules
            .to_string()
            .replacen("histogram_quantile(0.5, ", "histogram_quantile(0.5, (", 1);
    assert_ne!(broken, rules.to_string());
    assert!(
        !check(&serde_json::from_str(&broken).expect("JSON"))
            .status
            .success()
    );
}

#[test]
fn the_dashboard_panels_have_unique_ids_a_data_source_and_do_not_overlap() {
    let dashboard = dashboard(&render(&[]));
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or("?");
        assert!(ids.insert(panel["id"].as_u64().expect("id")), "{title}: id");
        let grid = &panel["gridPos"];
        let at = |k: &str| {
            grid[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{title}: gridPos.{k}"))
        };
        assert!(
            at("x") + at("w") <= 24,
            "{title} is wider than the dashboard"
        );
        for x in at("x")..at("x") + at("w") {
            for y in at("y")..at("y") + at("h") {
                assert!(
                    cells.insert((x, y)),
                    "{title} overlaps another panel at {x},{y}"
                );
            }
        }
        if panel["type"] != "row" {
            assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
            assert!(
                panel["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{title}: a description says what it shows"
            );
        }
    }
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(variables, ["datasource", "job"]);
}
