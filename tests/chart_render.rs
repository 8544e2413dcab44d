//! The helm chart `charts/amko`, rendered by the real helm v3 with the value sets in
//! tests/fixtures/chart-values: `helm lint`, the rendered objects field by field, the schema's
//! rejections of bad values, offline validation of every manifest (PyPI `kubernetes-validate` for
//! built-in kinds; for our CRs the CRD schemas through Python `jsonschema`, their CEL rules through
//! kube-cel, and amko-rs's own acceptance), NOTES.txt, the Dockerfile agreeing with the chart, and
//! docs/configuration.md covering values.yaml.
//!
//! helm v3, `kubernetes-validate` and Python `jsonschema` come from tests/support/tools.rs, which
//! provisions them into target/tools on first use.

use amko::crd::{self, GlobalDeploymentPolicy, GslbConfig};
use amko::policy::{ControllerSnapshot, HealthMonitorFacts, accept_gdp, accept_gslb_config};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "support/tools.rs"]
mod tools;

const CHART: &str = "charts/amko";
const NAMESPACE: &str = "avi-system";
const RELEASE: &str = "amko-test";
const KUBERNETES_VERSION: &str = "1.33.0";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn fixture(name: &str) -> String {
    repo_path(&format!("tests/fixtures/chart-values/{name}.yaml"))
        .display()
        .to_string()
}

/// Runs `command` (from `tools`) with `args` in the repository root.
fn run(mut command: Command, args: &[String]) -> Output {
    command
        .args(args)
        .current_dir(repo_path(""))
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"))
}

/// `helm <subcommand> <release> charts/amko -n avi-system -f <fixture> --set …` arguments.
fn helm_args(subcommand: &str, namespace: &str, fixture_name: &str, sets: &[&str]) -> Vec<String> {
    let mut args = vec![subcommand.to_owned()];
    if subcommand == "template" {
        args.push(RELEASE.to_owned());
    }
    args.extend([CHART, "--namespace", namespace, "--values"].map(String::from));
    args.push(fixture(fixture_name));
    for set in sets {
        args.push("--set".into());
        args.push((*set).to_owned());
    }
    args
}

/// The documents helm rendered, as JSON values.
struct Rendered {
    fixture: String,
    docs: Vec<Value>,
}

impl Rendered {
    fn find(&self, kind: &str, name: &str) -> &Value {
        self.docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{}: no {kind} {name} rendered", self.fixture))
    }

    /// The GSLBConfig `gc-1`.
    fn gslb_config(&self) -> &Value {
        self.find("GSLBConfig", "gc-1")
    }

    /// The GDP `global-gdp`.
    fn gdp(&self) -> &Value {
        self.find("GlobalDeploymentPolicy", "global-gdp")
    }

    /// The AMKOCluster `amkocluster-federation`.
    fn amko_cluster(&self) -> &Value {
        self.find("AMKOCluster", "amkocluster-federation")
    }

    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.docs.iter().filter(|d| d["kind"] == kind).collect()
    }

    fn container(&self, name: &str) -> Option<&Value> {
        self.find("Deployment", "amko")["spec"]["template"]["spec"]["containers"]
            .as_array()
            .and_then(|containers| containers.iter().find(|c| c["name"] == name))
    }
}

fn render_in(namespace: &str, fixture_name: &str, sets: &[&str]) -> Rendered {
    let output = run(
        tools::helm(),
        &helm_args("template", namespace, fixture_name, sets),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "helm template with {fixture_name} {sets:?} failed: {stderr}"
    );
    let yaml = String::from_utf8_lossy(&output.stdout).into_owned();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&yaml)
        .unwrap_or_else(|err| panic!("{fixture_name}: rendered YAML does not parse: {err}"));
    Rendered {
        fixture: fixture_name.to_owned(),
        docs: docs.into_iter().filter(|d| !d.is_null()).collect(),
    }
}

fn render(fixture_name: &str, sets: &[&str]) -> Rendered {
    render_in(NAMESPACE, fixture_name, sets)
}

/// helm's error output for values it must refuse.
fn rejection(fixture_name: &str, sets: &[&str]) -> String {
    let output = run(
        tools::helm(),
        &helm_args("template", NAMESPACE, fixture_name, sets),
    );
    assert!(
        !output.status.success(),
        "helm template accepted {fixture_name} {sets:?}"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const FIXTURES: [&str; 6] = [
    "minimal",
    "full",
    "leader",
    "follower",
    "amko-2x",
    "docs-install",
];

/// The documentation's install command gives the controller with its misspelled key.
fn sets_for(fixture_name: &str) -> &'static [&'static str] {
    if fixture_name == "docs-install" {
        &["configs.gsllbLeaderController=203.0.113.5"]
    } else {
        &[]
    }
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn decode_base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes().filter(|b| *b != b'=') {
        let index = ALPHABET
            .iter()
            .position(|a| *a == byte)
            .unwrap_or_else(|| panic!("not base64: {text}"));
        bits = (bits << 6) | index as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).expect("secret value is UTF-8")
}

fn secret_data(rendered: &Rendered) -> Vec<(String, String)> {
    let secret = rendered.find("Secret", "gslb-avi-secret");
    let mut data: Vec<(String, String)> = secret["data"]
        .as_object()
        .expect("secret has data")
        .iter()
        .map(|(k, v)| (k.clone(), decode_base64(v.as_str().unwrap_or_default())))
        .collect();
    data.sort();
    data
}

/// Every rule as `groups resources[names] verbs` (core group written `core`), for exact comparison.
fn rules(role: &Value) -> Vec<String> {
    role["rules"]
        .as_array()
        .expect("role has rules")
        .iter()
        .map(|r| {
            let groups: Vec<&str> = strings(&r["apiGroups"])
                .into_iter()
                .map(|g| if g.is_empty() { "core" } else { g })
                .collect();
            let names = strings(&r["resourceNames"]);
            let names = if names.is_empty() {
                String::new()
            } else {
                format!("[{}]", names.join(","))
            };
            format!(
                "{} {}{names} {}",
                groups.join(","),
                strings(&r["resources"]).join(","),
                strings(&r["verbs"]).join(",")
            )
        })
        .collect()
}

// ------------------------------------------------------------ lint and the rendered set

#[test]
fn helm_lint_is_clean_for_every_value_set() {
    for name in FIXTURES {
        for namespace in [NAMESPACE, "amko-elsewhere"] {
            let mut args = helm_args("lint", namespace, name, sets_for(name));
            args.push("--strict".into());
            let output = run(tools::helm(), &args);
            assert!(
                output.status.success(),
                "helm lint --strict with {name} in {namespace}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

#[test]
fn every_value_set_renders_the_documented_objects_in_the_release_namespace() {
    for name in FIXTURES {
        let rendered = render(name, sets_for(name));
        let mut kinds: Vec<(String, String)> = rendered
            .docs
            .iter()
            .map(|d| {
                (
                    d["kind"].as_str().unwrap_or_default().to_owned(),
                    d["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        kinds.sort();
        let mut expected: Vec<(String, String)> = [
            ("AMKOCluster", "amkocluster-federation"),
            ("ClusterRole", "avi-system-amko-test"),
            ("ClusterRoleBinding", "avi-system-amko-test"),
            ("Deployment", "amko"),
            ("GSLBConfig", "gc-1"),
            ("GlobalDeploymentPolicy", "global-gdp"),
            ("Role", "amko-test"),
            ("RoleBinding", "amko-test"),
            ("Secret", "gslb-avi-secret"),
            ("Service", "amko-test-metrics"),
            ("ServiceAccount", "amko-test"),
        ]
        .map(|(k, n)| (k.to_owned(), n.to_owned()))
        .to_vec();
        if name == "full" {
            expected.push(("ServiceMonitor".into(), "amko-test".into()));
            expected.push(("NetworkPolicy".into(), "amko-test".into()));
            expected.push(("ConfigMap".into(), "amko-test-dashboard".into()));
            expected.push(("PrometheusRule".into(), "amko-test".into()));
            expected.sort();
        }
        assert_eq!(kinds, expected, "{name}");
        for doc in &rendered.docs {
            let namespaced = !matches!(
                doc["kind"].as_str(),
                Some("ClusterRole" | "ClusterRoleBinding")
            );
            if namespaced {
                assert_eq!(doc["metadata"]["namespace"], NAMESPACE, "{name}: {doc}");
            }
            assert_eq!(
                doc["metadata"]["labels"]["app.kubernetes.io/instance"], RELEASE,
                "{name}: {doc}"
            );
        }
        assert!(
            rendered.of_kind("CustomResourceDefinition").is_empty(),
            "CRDs come from crds/, not templates"
        );
    }
}

#[test]
fn crds_are_installed_from_the_crds_directory() {
    let output = run(tools::helm(), &["show".into(), "crds".into(), CHART.into()]);
    assert!(output.status.success());
    let crds: Vec<Value> = serde_saphyr::from_multiple(&String::from_utf8_lossy(&output.stdout))
        .expect("helm show crds parses");
    let mut names: Vec<&str> = crds
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "amkoclusters.amko.vmware.com",
            "globaldeploymentpolicies.amko.vmware.com",
            "gslbconfigs.amko.vmware.com",
            "gslbhostrules.amko.vmware.com"
        ]
    );
}

// ------------------------------------------------------------ the objects, field by field

#[test]
fn minimal_values_render_the_documented_defaults() {
    let rendered = render("minimal", &[]);
    let gc = rendered.gslb_config();
    assert_eq!(
        gc["spec"],
        json!({
            "gslbLeader": {
                "credentials": "gslb-avi-secret",
                "controllerVersion": "20.1.4",
                "controllerIP": "192.0.2.10",
                "insecureSkipVerify": false
            },
            "memberClusters": [{"clusterContext": "cluster1-admin"}, {"clusterContext": "cluster2-admin"}],
            "refreshInterval": 1800,
            "logLevel": "INFO",
            "useCustomGlobalFqdn": false
        })
    );
    assert!(
        gc["metadata"]["annotations"].is_null(),
        "no UUID annotation"
    );
    assert_eq!(
        rendered.gdp()["spec"],
        json!({"poolAlgorithmSettings": {"lbAlgorithm": "GSLB_ALGORITHM_ROUND_ROBIN"}}),
        "no selectors means no matchRules at all (AMKO rendered a null the CRD rejects)"
    );
    assert_eq!(
        rendered.amko_cluster()["spec"],
        json!({"isLeader": false, "clusterContext": "cluster1-admin", "version": "0.1.0"})
    );
    assert_eq!(
        secret_data(&rendered),
        [
            ("password".to_owned(), "s3cret-pass".to_owned()),
            ("username".to_owned(), "admin".to_owned())
        ]
    );

    let deployment = rendered.find("Deployment", "amko");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"], json!({"type": "Recreate"}));
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "amko-test");
    assert_eq!(pod["containers"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        pod["securityContext"],
        json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
               "seccompProfile": {"type": "RuntimeDefault"}})
    );
    let amko = rendered.container("amko").expect("amko container");
    assert_eq!(amko["image"], "amko-rs:0.1.0");
    assert_eq!(
        strings(&amko["args"]),
        [
            "run",
            "--listen=0.0.0.0:8080",
            "--log-format=text",
            "--stall-threshold-secs=180",
            "--max-retry-after-secs=60"
        ],
        "no debug endpoints by default"
    );
    assert_eq!(
        amko["env"],
        json!([
            {"name": "GSLB_CONFIG", "valueFrom": {"secretKeyRef": {"name": "gslb-config-secret", "key": "gslb-members"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
        ])
    );
    assert_eq!(
        amko["ports"],
        json!([{"name": "http", "containerPort": 8080, "protocol": "TCP"}])
    );
    assert_eq!(
        amko["livenessProbe"],
        json!({"httpGet": {"path": "/api/status", "port": "http"}, "initialDelaySeconds": 5, "periodSeconds": 10})
    );
    assert!(
        rendered.of_kind("NetworkPolicy").is_empty(),
        "no NetworkPolicy by default"
    );
    assert_eq!(amko["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(
        amko["securityContext"],
        json!({"runAsNonRoot": true, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
               "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}})
    );
    assert_eq!(
        amko["volumeMounts"],
        json!([{"name": "tmp", "mountPath": "/tmp"}])
    );

    let service = rendered.find("Service", "amko-test-metrics");
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "http-metrics", "port": 8080, "targetPort": "http", "protocol": "TCP"}])
    );
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn rbac_is_least_privilege() {
    let single = render("minimal", &[]);
    assert_eq!(
        rules(single.find("Role", "amko-test")),
        [
            "amko.vmware.com gslbconfigs,globaldeploymentpolicies,amkoclusters list,watch",
            "amko.vmware.com gslbconfigs,amkoclusters get",
            "amko.vmware.com gslbconfigs patch",
            "amko.vmware.com globaldeploymentpolicies patch",
            "amko.vmware.com gslbconfigs/status,globaldeploymentpolicies/status,amkoclusters/status patch",
            "core secrets[gslb-avi-secret] get",
            "core events create",
        ]
    );
    assert_eq!(
        rules(single.find("ClusterRole", "avi-system-amko-test")),
        [
            "amko.vmware.com gslbhostrules list,watch",
            "amko.vmware.com gslbhostrules/status patch",
            "amko.vmware.com gslbhostrules patch",
            "core namespaces get",
        ]
    );
    for (binding, role_kind, name) in [
        ("RoleBinding", "Role", "amko-test"),
        ("ClusterRoleBinding", "ClusterRole", "avi-system-amko-test"),
    ] {
        let object = single.find(binding, name);
        assert_eq!(object["roleRef"]["kind"], role_kind);
        assert_eq!(object["roleRef"]["name"], name);
        assert_eq!(
            object["subjects"],
            json!([{"kind": "ServiceAccount", "name": "amko-test", "namespace": NAMESPACE}])
        );
    }

    // Leader election adds exactly the lease rules, and only with more than one replica.
    let replicated = render("full", &[]);
    let lease_rules: Vec<String> = rules(replicated.find("Role", "amko-test"))
        .into_iter()
        .filter(|rule| rule.starts_with("coordination.k8s.io"))
        .collect();
    assert_eq!(
        lease_rules,
        [
            "coordination.k8s.io leases create",
            "coordination.k8s.io leases[amko-east-leader,amko-east-leader-federator] get,update",
        ]
    );
}

#[test]
fn full_values_reach_every_object() {
    let rendered = render("full", &[]);
    let gc = rendered.gslb_config();
    assert_eq!(
        gc["metadata"]["annotations"],
        json!({"amko.vmware.com/amko-uuid": "9b1f3c2e-1d2a-11ef-9c44-0a580a800001"})
    );
    assert_eq!(
        gc["spec"],
        json!({
            "gslbLeader": {
                "credentials": "gslb-avi-secret",
                "controllerVersion": "31.1.1",
                "controllerIP": "avi-leader.example.internal:8443",
                "tenant": "payments",
                "insecureSkipVerify": false
            },
            "memberClusters": [{"clusterContext": "east-admin"}, {"clusterContext": "west-admin"}],
            "refreshInterval": 600,
            "logLevel": "DEBUG",
            "useCustomGlobalFqdn": true
        })
    );
    assert_eq!(
        rendered.gdp()["spec"],
        json!({
            "matchRules": {
                "appSelector": {"label": {"app": "gslb"}},
                "namespaceSelector": {"label": {"team": "payments"}}
            },
            "matchClusters": [{"cluster": "east-admin"}, {"cluster": "west-admin", "syncVipOnly": true}],
            "trafficSplit": [
                {"cluster": "east-admin", "weight": 15, "priority": 20},
                {"cluster": "west-admin", "weight": 5}
            ],
            "ttl": 30,
            "healthMonitorRefs": ["fed-https-check"],
            "sitePersistenceRef": "fed-cookie-profile",
            "pkiProfileRef": "fed-pki",
            "poolAlgorithmSettings": {
                "lbAlgorithm": "GSLB_ALGORITHM_GEO",
                "geoFallback": {"lbAlgorithm": "GSLB_ALGORITHM_CONSISTENT_HASH", "hashMask": 24}
            },
            "downResponse": {"type": "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP", "fallbackIP": "198.51.100.7"}
        })
    );
    let data = secret_data(&rendered);
    let keys: Vec<&str> = data.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["certificateAuthorityData", "password", "username"]);
    assert!(
        data[0]
            .1
            .starts_with("-----BEGIN CERTIFICATE-----\nMIIBszCC")
    );
    assert!(data[0].1.ends_with("-----END CERTIFICATE-----\n"));
    assert_eq!(data[1].1, "p@ss: word");
    assert_eq!(data[2].1, "gslb-admin");

    let deployment = rendered.find("Deployment", "amko");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    let template = &deployment["spec"]["template"];
    assert_eq!(template["metadata"]["labels"]["team"], "platform");
    assert_eq!(
        template["metadata"]["annotations"],
        json!({"example.com/owner": "platform"})
    );
    let pod = &template["spec"];
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    assert_eq!(
        pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"],
        100
    );
    let amko = rendered.container("amko").expect("amko container");
    assert_eq!(
        amko["image"],
        "registry.example.internal/amko-rs:0.1.0-test"
    );
    assert_eq!(amko["imagePullPolicy"], "Always");
    assert_eq!(
        strings(&amko["args"]),
        [
            "run",
            "--listen=0.0.0.0:9100",
            "--log-format=json",
            "--stall-threshold-secs=300",
            "--max-retry-after-secs=120",
            "--debug-endpoints",
            "--allow-insecure-http",
            "--leader-elect",
            "--lease-name=amko-east-leader"
        ]
    );
    assert_eq!(amko["ports"][0]["containerPort"], 9100);
    assert_eq!(
        amko["resources"],
        json!({"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "200m", "memory": "128Mi"}})
    );
    let federator = rendered.container("amko-federator").expect("federator");
    assert_eq!(
        strings(&federator["args"]),
        [
            "federate",
            "--listen=0.0.0.0:9101",
            "--leader-elect",
            "--lease-name=amko-east-leader-federator"
        ]
    );
    assert_eq!(
        federator["image"], "registry.example.internal/amko-rs:0.1.0-test",
        "the federator runs from the amko-rs image"
    );
    assert_eq!(federator["imagePullPolicy"], "IfNotPresent");

    let monitor = rendered.find("ServiceMonitor", "amko-test");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(
        monitor["spec"]["endpoints"],
        json!([
            {"port": "http-metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "5s"},
            {"port": "http-federator", "path": "/metrics", "interval": "15s", "scrapeTimeout": "5s"}
        ])
    );
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let service = rendered.find("Service", "amko-test-metrics");
    let port_names: Vec<&str> = service["spec"]["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(port_names, ["http-metrics", "http-federator"]);

    let dashboard = rendered.find("ConfigMap", "amko-test-dashboard");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(dashboard["metadata"]["labels"]["team"], "gslb");
    assert_eq!(
        dashboard["metadata"]["annotations"],
        json!({"grafana_folder": "GSLB"})
    );
    let shipped = std::fs::read_to_string(repo_path("charts/amko/dashboards/amko-rs.json"))
        .expect("the dashboard file");
    assert_eq!(
        dashboard["data"]["amko-rs.json"]
            .as_str()
            .map(str::trim_end),
        Some(shipped.trim_end()),
        "the ConfigMap carries the dashboard file unchanged"
    );
    let alerts = rendered.find("PrometheusRule", "amko-test");
    assert_eq!(alerts["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(alerts["metadata"]["labels"]["release"], "prometheus");
    let rules = alerts["spec"]["groups"][0]["rules"]
        .as_array()
        .expect("rules");
    let by_alert = |name: &str| -> &Value {
        rules
            .iter()
            .find(|r| r["alert"] == name)
            .unwrap_or_else(|| panic!("no alert {name}: {rules:?}"))
    };
    for (alert, minutes) in [
        ("AmkoControllerUnreachable", "2m"),
        ("AmkoMemberClusterDisconnected", "15m"),
        ("AmkoWritesFailing", "20m"),
        ("AmkoPolicyRejected", "3m"),
        ("AmkoNotLeading", "4m"),
    ] {
        let rule = by_alert(alert);
        assert_eq!(rule["for"], minutes, "{alert}");
        let expr = rule["expr"].as_str().unwrap_or_default();
        assert!(
            expr.contains(r#"{namespace="avi-system",service="amko-test-metrics"}"#)
                && !expr.contains("job="),
            "{alert} selects with metrics.prometheusRule.selector: {expr}"
        );
    }
    assert!(
        by_alert("AmkoMemberClusterDisconnected")["annotations"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("for 15 minutes")),
        "{rules:?}"
    );
    let elsewhere = render(
        "full",
        &[
            "metrics.dashboard.namespace=monitoring",
            "metrics.prometheusRule.selector=",
        ],
    );
    assert_eq!(
        elsewhere.find("ConfigMap", "amko-test-dashboard")["metadata"]["namespace"],
        "monitoring"
    );
    let expr =
        elsewhere.find("PrometheusRule", "amko-test")["spec"]["groups"][0]["rules"][0]["expr"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    assert!(
        expr.contains(r#"{job="amko-test-metrics",endpoint="http-metrics"}"#),
        "an empty selector selects what the ServiceMonitor scrapes: {expr}"
    );

    let policy = rendered.find("NetworkPolicy", "amko-test");
    assert_eq!(
        policy["spec"],
        json!({
            "podSelector": {"matchLabels": deployment["spec"]["selector"]["matchLabels"]},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "ports": [{"port": "http", "protocol": "TCP"}, {"port": "http-federator", "protocol": "TCP"}],
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
            }]
        })
    );
}

#[test]
fn debug_endpoints_go_to_loopback_or_the_metrics_port_and_the_network_policy_admits_only_that_port()
{
    let sets = [
        "debugEndpoints.enabled=true",
        "debugEndpoints.port=9200",
        "networkPolicy.enabled=true",
    ];
    let mut lint = helm_args("lint", NAMESPACE, "minimal", &sets);
    lint.push("--strict".into());
    let output = run(tools::helm(), &lint);
    assert!(
        output.status.success(),
        "helm lint --strict {sets:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let rendered = render("minimal", &sets);
    let amko = rendered.container("amko").expect("amko container");
    let args = strings(&amko["args"]);
    assert!(
        args.contains(&"--debug-listen=127.0.0.1:9200") && !args.contains(&"--debug-endpoints"),
        "loopback by default when enabled: {args:?}"
    );
    assert_eq!(
        amko["ports"],
        json!([{"name": "http", "containerPort": 8080, "protocol": "TCP"}]),
        "the loopback listener is no container port"
    );
    let policy = rendered.find("NetworkPolicy", "amko-test");
    assert_eq!(
        policy["spec"]["ingress"],
        json!([{"ports": [{"port": "http", "protocol": "TCP"}]}]),
        "no federator port without the federator; any source when `from` is empty"
    );

    let on_metrics = render(
        "minimal",
        &[
            "debugEndpoints.enabled=true",
            "debugEndpoints.listen=metrics",
        ],
    );
    let args = strings(&on_metrics.container("amko").expect("amko")["args"]).join(" ");
    assert!(
        args.contains("--debug-endpoints") && !args.contains("--debug-listen"),
        "{args}"
    );
    let refused = rejection("minimal", &["debugEndpoints.listen=everywhere"]);
    assert!(refused.contains("debugEndpoints.listen"), "{refused}");
    let refused = rejection("minimal", &["liveness.stallThresholdSeconds=1"]);
    assert!(
        refused.contains("liveness.stallThresholdSeconds"),
        "{refused}"
    );
    let refused = rejection("minimal", &["configs.maxRetryAfterSeconds=0"]);
    assert!(refused.contains("maxRetryAfterSeconds"), "{refused}");
}

/// The AMKOCluster spec the chart renders for `context` in a federation of `clusters`.
fn federation_spec(leader: bool, context: &str, clusters: &[&str]) -> Value {
    json!({
        "isLeader": leader,
        "clusterContext": context,
        "version": "0.1.0",
        "clusters": clusters
    })
}

/// The GDP spec of the amko-2x and docs-install fixtures (the same selectors, clusters and
/// split), with the fields of `extra`.
fn two_cluster_gdp(extra: Value) -> Value {
    let mut spec = json!({
        "matchRules": {
            "appSelector": {"label": {"app": "gslb"}},
            "namespaceSelector": {"label": {"ns": "gslb"}}
        },
        "matchClusters": [{"cluster": "cluster1-admin"}, {"cluster": "cluster2-admin"}],
        "trafficSplit": [
            {"cluster": "cluster1-admin", "weight": 8},
            {"cluster": "cluster2-admin", "weight": 2}
        ]
    });
    for (key, value) in extra.as_object().expect("extra fields").clone() {
        spec[key] = value;
    }
    spec
}

#[test]
fn leader_federates_and_lists_itself_in_the_federation() {
    let rendered = render("leader", &[]);
    assert_eq!(
        rendered.amko_cluster()["spec"],
        federation_spec(
            true,
            "east-admin",
            &["east-admin", "west-admin", "north-admin"]
        )
    );
    let amko = rendered.container("amko").expect("amko");
    let federator = rendered
        .container("amko-federator")
        .expect("a leader with a federation runs the federator");
    assert_eq!(federator["image"], amko["image"]);
    assert_eq!(federator["env"], amko["env"], "same environment");
    assert_eq!(
        strings(&federator["args"]),
        ["federate", "--listen=0.0.0.0:8081"]
    );
    assert_eq!(federator["securityContext"], amko["securityContext"]);
    assert_eq!(
        rendered.gdp()["spec"]["matchRules"],
        json!({"appSelector": {"label": {"app": "gslb"}}})
    );
}

#[test]
fn follower_keeps_the_federator_and_a_single_instance_has_none() {
    let follower = render("follower", &[]);
    assert_eq!(
        follower.amko_cluster()["spec"],
        federation_spec(
            false,
            "west-admin",
            &["east-admin", "west-admin", "north-admin"]
        )
    );
    assert!(follower.container("amko-federator").is_some());

    let single = render("minimal", &[]);
    assert!(single.container("amko-federator").is_none());
    let leader_alone = render(
        "minimal",
        &["configs.federation.currentClusterIsLeader=true"],
    );
    assert_eq!(leader_alone.amko_cluster()["spec"]["isLeader"], true);
    assert!(
        leader_alone.container("amko-federator").is_none(),
        "no federation set, nothing to federate"
    );
}

#[test]
fn amko_2x_names_are_honoured() {
    let rendered = render("amko-2x", &[]);
    assert_eq!(
        rendered.amko_cluster()["spec"],
        federation_spec(
            true,
            "cluster1-admin",
            &["cluster1-admin", "cluster2-admin"]
        )
    );
    assert_eq!(
        rendered.gdp()["spec"],
        two_cluster_gdp(json!({
            "ttl": 10,
            "healthMonitorTemplate": "fed-http-template",
            "poolAlgorithmSettings": {"lbAlgorithm": "GSLB_ALGORITHM_CONSISTENT_HASH", "hashMask": 28},
            "downResponse": {"type": "GSLB_SERVICE_DOWN_RESPONSE_ALL_RECORDS"}
        }))
    );
    let gc = rendered.gslb_config();
    assert_eq!(gc["spec"]["gslbLeader"]["tenant"], "admin");
    assert_eq!(gc["spec"]["gslbLeader"]["controllerVersion"], "31.1.1");
    assert_eq!(gc["spec"]["logLevel"], "WARN");

    // The AMKO 2.x name is never defaulted by this chart, so when given it wins over the
    // documented name's default; when both are given explicitly, the AMKO 2.x one still wins.
    let both = render(
        "amko-2x",
        &[
            "gdpConfig.ttl=99",
            "configs.federation.currentCluster=other",
        ],
    );
    assert_eq!(both.gdp()["spec"]["ttl"], 10);
    assert_eq!(
        both.amko_cluster()["spec"]["clusterContext"],
        "cluster1-admin"
    );
}

#[test]
fn the_documented_install_command_works_with_its_misspelled_key() {
    let rendered = render("docs-install", sets_for("docs-install"));
    assert_eq!(
        rendered.gslb_config()["spec"]["gslbLeader"]["controllerIP"],
        "203.0.113.5"
    );
    assert_eq!(
        rendered.gslb_config()["spec"]["memberClusters"],
        json!([{"clusterContext": "cluster1-admin"}, {"clusterContext": "cluster2-admin"}]),
        "plain context names become clusterContext entries"
    );
    assert_eq!(
        rendered.gdp()["spec"],
        two_cluster_gdp(
            json!({"poolAlgorithmSettings": {"lbAlgorithm": "GSLB_ALGORITHM_ROUND_ROBIN"}})
        ),
        "the table's label{{.key,.value}} form becomes a label map"
    );

    // Label values given as YAML booleans or numbers become the strings labels are.
    let typed = render(
        "minimal",
        &[
            "gdpConfig.appSelector.label.gslb=true",
            "gdpConfig.namespaceSelector.label.tier=1",
        ],
    );
    assert_eq!(
        typed.gdp()["spec"]["matchRules"],
        json!({
            "appSelector": {"label": {"gslb": "true"}},
            "namespaceSelector": {"label": {"tier": "1"}}
        })
    );

    // The correct spelling wins over the misspelled one.
    let both = render(
        "docs-install",
        &[
            "configs.gsllbLeaderController=203.0.113.5",
            "configs.gslbLeaderController=192.0.2.99",
        ],
    );
    assert_eq!(
        both.gslb_config()["spec"]["gslbLeader"]["controllerIP"],
        "192.0.2.99"
    );
}

#[test]
fn values_keep_the_documented_keys_and_defaults() {
    let text = std::fs::read_to_string(repo_path("charts/amko/values.yaml")).expect("values.yaml");
    let values: Value = serde_saphyr::from_str(&text).expect("values.yaml parses");
    let at = |pointer: &str| {
        values
            .pointer(pointer)
            .unwrap_or_else(|| panic!("values.yaml has no {pointer}"))
    };
    // The AMKO documentation's parameter table, key by key.
    assert_eq!(at("/configs/controllerVersion"), "20.1.4");
    assert!(at("/configs/federation/image/repository").is_string());
    assert_eq!(at("/configs/federation/image/pullPolicy"), "IfNotPresent");
    assert!(at("/configs/federation/currentCluster").is_null());
    assert_eq!(at("/configs/federation/currentClusterIsLeader"), false);
    assert_eq!(at("/configs/federation/memberClusters"), &json!([]));
    assert_eq!(at("/configs/gslbLeaderController"), "");
    assert_eq!(at("/gslbLeaderCredentials/username"), "admin");
    assert_eq!(at("/gslbLeaderCredentials/password"), "");
    assert_eq!(
        at("/configs/memberClusters"),
        &json!([{"clusterContext": "cluster1-admin"}, {"clusterContext": "cluster2-admin"}])
    );
    assert_eq!(at("/configs/refreshInterval"), 1800);
    assert_eq!(at("/configs/logLevel"), "INFO");
    assert_eq!(at("/configs/useCustomGlobalFqdn"), false);
    assert_eq!(at("/gdpConfig/appSelector/label"), &json!({}));
    assert_eq!(at("/gdpConfig/namespaceSelector/label"), &json!({}));
    assert_eq!(at("/gdpConfig/matchClusters"), &json!([]));
    assert_eq!(at("/gdpConfig/trafficSplit"), &json!([]));
    assert!(at("/gdpConfig/ttl").is_null());
    assert_eq!(at("/gdpConfig/healthMonitorRefs"), &json!([]));
    assert_eq!(at("/gdpConfig/sitePersistenceRef"), "");
    assert_eq!(
        at("/gdpConfig/poolAlgorithmSettings"),
        &json!({"lbAlgorithm": "GSLB_ALGORITHM_ROUND_ROBIN"})
    );
    // amko-rs additions.
    assert_eq!(at("/configs/amkoUUID"), "");
    assert_eq!(at("/configs/insecureSkipVerify"), false);
    assert_eq!(at("/configs/maxRetryAfterSeconds"), 60);
    assert_eq!(at("/gslbLeaderCredentials/certificateAuthorityData"), "");
    assert_eq!(at("/replicaCount"), 1);
    assert_eq!(at("/metrics/port"), 8080);
    assert_eq!(at("/metrics/serviceMonitor/enabled"), false);
    assert_eq!(at("/metrics/dashboard/enabled"), false, "dashboard off");
    assert_eq!(at("/metrics/prometheusRule/enabled"), false, "alerts off");
    assert_eq!(at("/metrics/prometheusRule/clusterDisconnectedMinutes"), 5);
    assert_eq!(at("/liveness/stallThresholdSeconds"), 180);
    assert_eq!(at("/debugEndpoints/enabled"), false, "debug endpoints off");
    assert_eq!(at("/networkPolicy/enabled"), false);
}

// ------------------------------------------------------------ the schema rejects bad values

#[test]
fn bad_values_are_rejected_with_a_message_naming_the_field() {
    let cases: [(&str, &[&str], &str); 17] = [
        (
            "minimal",
            &["metrics.prometheusRule.clusterDisconnectedMinutes=0"],
            "metrics.prometheusRule.clusterDisconnectedMinutes: Must be greater than or equal to 1",
        ),
        (
            "minimal",
            &["metrics.prometheusRule.notLeadingAlert=sometimes"],
            "metrics.prometheusRule.notLeadingAlert: metrics.prometheusRule.notLeadingAlert must be one of the following",
        ),
        (
            "minimal",
            &[
                "gdpConfig.trafficSplit[0].cluster=cluster1-admin,gdpConfig.trafficSplit[0].weight=25",
            ],
            "gdpConfig.trafficSplit.0.weight: Must be less than or equal to 20",
        ),
        (
            "minimal",
            &[
                "gdpConfig.trafficSplit[0].cluster=cluster1-admin,gdpConfig.trafficSplit[0].weight=0",
            ],
            "gdpConfig.trafficSplit.0.weight: Must be greater than or equal to 1",
        ),
        (
            "minimal",
            &["gdpConfig.ttl=0"],
            "gdpConfig.ttl: Must be greater than or equal to 1",
        ),
        (
            "minimal",
            &["gdpConfig.ttl=86401"],
            "gdpConfig.ttl: Must be less than or equal to 86400",
        ),
        (
            "minimal",
            &["configs.logLevel=LOUD"],
            "configs.logLevel: configs.logLevel must be one of the following",
        ),
        (
            "minimal",
            &["gdpConfig.poolAlgorithmSettings.lbAlgorithm=GSLB_ALGORITHM_FASTEST"],
            "gdpConfig.poolAlgorithmSettings.lbAlgorithm: gdpConfig.poolAlgorithmSettings.lbAlgorithm must be one of the following",
        ),
        (
            "minimal",
            &["gdpConfig.poolAlgorithmSettings.lbAlgorithm=GSLB_ALGORITHM_CONSISTENT_HASH"],
            "gdpConfig.poolAlgorithmSettings: hashMask is required",
        ),
        (
            "minimal",
            &["configs.amkoUUID=x"],
            "configs.amkoUUID: Does not match pattern",
        ),
        (
            "minimal",
            &["configs.federation.currentCluster="],
            "configs.federation.currentCluster is required",
        ),
        (
            "minimal",
            &["configs.gslbLeaderController="],
            "configs.gslbLeaderController is required",
        ),
        (
            "amko-2x",
            &["globalDeploymentPolicy.trafficSplit[0].weight=21"],
            "globalDeploymentPolicy.trafficSplit.0.weight: Must be less than or equal to 20",
        ),
        (
            "minimal",
            &["gdpConfig.matchClusters={cluster1-admin,elsewhere-admin}"],
            "gdpConfig.matchClusters: cluster \"elsewhere-admin\" is not one of configs.memberClusters [cluster1-admin cluster2-admin]",
        ),
        (
            "amko-2x",
            &["globalDeploymentPolicy.trafficSplit[1].cluster=cluster3-admin"],
            "globalDeploymentPolicy.trafficSplit: cluster \"cluster3-admin\" is not one of configs.memberClusters",
        ),
        (
            "full",
            &["gdpConfig.trafficSplit[1].cluster=east-admin"],
            "gdpConfig.trafficSplit: cluster \"east-admin\" is listed twice",
        ),
        (
            "minimal",
            &["configs.gslbLeaderControler=192.0.2.1"],
            "configs: Additional property gslbLeaderControler is not allowed",
        ),
    ];
    for (fixture_name, sets, message) in cases {
        let stderr = rejection(fixture_name, sets);
        assert!(
            stderr.contains(message),
            "{sets:?}: expected `{message}` in: {stderr}"
        );
    }
    // Each case alone is rejected; the values they start from are accepted.
    render("minimal", &[]);
    render("amko-2x", &[]);
}

// ------------------------------------------------------------ offline validation

/// Validates our CRs against the CRD openAPIV3Schemas with Python `jsonschema` (installed with
/// kubernetes-validate). Unknown fields are errors here: an API server would silently prune them,
/// hiding a misspelt template key. Prints one finding per line.
const CR_SCHEMA_CHECK: &str = r#"
import json, sys
import jsonschema

schemas = json.load(open(sys.argv[1]))
objects = json.load(open(sys.argv[2]))

def strict(node):
    if isinstance(node, dict):
        if (node.get("type") == "object" and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")):
            node["additionalProperties"] = False
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for value in node:
            strict(value)

failed = False
for obj in objects:
    schema = schemas[obj["kind"]]
    strict(schema)
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    for error in jsonschema.Draft7Validator(schema).iter_errors(body):
        failed = True
        path = ".".join(str(p) for p in error.absolute_path)
        print(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {error.message}")
sys.exit(1 if failed else 0)
"#;

/// Runs `CR_SCHEMA_CHECK` on the CRs in `objects_file` with the schemas in `schemas_file`.
fn check_cr_schemas(schemas_file: &Path, objects_file: &Path) -> Output {
    run(
        tools::python(),
        &[
            "-c".into(),
            CR_SCHEMA_CHECK.into(),
            schemas_file.display().to_string(),
            objects_file.display().to_string(),
        ],
    )
}

fn crd_schemas_by_kind() -> Value {
    let mut out = serde_json::Map::new();
    for crd in crd::all_crds().expect("CRDs build") {
        let schema = crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("CRD has a schema");
        out.insert(
            crd.spec.names.kind.clone(),
            serde_json::to_value(schema).expect("schema serializes"),
        );
    }
    Value::Object(out)
}

/// The controller objects the fixtures name, so amko-rs's acceptance judges only the values.
fn controller_with_everything_named() -> ControllerSnapshot {
    let mut snapshot = ControllerSnapshot::default();
    for tenant in ["admin", "payments"] {
        for monitor in ["fed-https-check", "fed-http-template"] {
            snapshot.health_monitors.insert(
                (tenant.into(), monitor.into()),
                HealthMonitorFacts {
                    monitor_type: "HEALTH_MONITOR_HTTPS".into(),
                    is_federated: Some(true),
                    http_request: Some("GET /healthz HTTP/1.1".into()),
                    response_codes: vec!["HTTP_2XX".into()],
                },
            );
        }
        snapshot
            .persistence_profiles
            .insert((tenant.into(), "fed-cookie-profile".into()));
        snapshot
            .pki_profiles
            .insert((tenant.into(), "fed-pki".into()));
    }
    snapshot
}

#[test]
fn every_rendered_manifest_validates_offline() {
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chart_render");
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let schemas = crd_schemas_by_kind();
    let schemas_file = scratch.join("crd-schemas.json");
    std::fs::write(&schemas_file, schemas.to_string()).expect("write schemas");
    let controller = controller_with_everything_named();

    for name in FIXTURES {
        let rendered = render(name, sets_for(name));
        let (ours, rest): (Vec<&Value>, Vec<&Value>) = rendered.docs.iter().partition(|d| {
            d["apiVersion"]
                .as_str()
                .unwrap_or_default()
                .starts_with("amko.vmware.com/")
        });
        // The CRDs of the ServiceMonitor and PrometheusRule belong to the Prometheus Operator and
        // are not available offline; their shapes are asserted in full_values_reach_every_object
        // (and the rules are checked by promtool in tests/e2e/monitoring.rs).
        let builtin: Vec<&Value> = rest
            .into_iter()
            .filter(|d| d["kind"] != "ServiceMonitor" && d["kind"] != "PrometheusRule")
            .collect();

        // Built-in kinds: the Kubernetes OpenAPI schemas, rejecting unknown fields.
        let builtin_file = scratch.join(format!("{name}-builtin.yaml"));
        let stream: Vec<String> = builtin.iter().map(|d| d.to_string()).collect();
        std::fs::write(&builtin_file, stream.join("\n---\n")).expect("write manifests");
        let output = run(
            tools::kubernetes_validate(),
            &[
                "--kubernetes-version".into(),
                KUBERNETES_VERSION.into(),
                "--strict".into(),
                builtin_file.display().to_string(),
            ],
        );
        let report = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{name}: {report}");
        assert_eq!(
            report.matches("passed for resource").count(),
            builtin.len(),
            "{name}: every built-in object validated: {report}"
        );

        // Our CRs: the CRD schemas (structure, ranges, enums) ...
        let objects_file = scratch.join(format!("{name}-crs.json"));
        std::fs::write(&objects_file, json!(ours).to_string()).expect("write CRs");
        let output = check_cr_schemas(&schemas_file, &objects_file);
        assert!(
            output.status.success(),
            "{name}: CRs do not match their CRD schemas: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );

        // ... the CRDs' CEL rules ...
        for object in &ours {
            let kind = object["kind"].as_str().unwrap_or_default();
            let mut body = (*object).clone();
            if let Some(map) = body.as_object_mut() {
                for implicit in ["apiVersion", "kind", "metadata"] {
                    map.remove(implicit);
                }
            }
            if let Err(errors) = kube_cel::Validator::new().validate(&schemas[kind], &body, None) {
                let messages: Vec<String> = errors
                    .into_vec()
                    .into_iter()
                    .map(|e| format!("{}: {}", e.field_path, e.message))
                    .collect();
                panic!("{name}: {kind} breaks CEL rules: {messages:?}");
            }
        }

        // ... and amko-rs's own acceptance of gc-1 and global-gdp.
        let gc: GslbConfig = serde_json::from_value(rendered.gslb_config().clone())
            .expect("gc-1 reads as a GSLBConfig");
        let settings = accept_gslb_config(&gc, "0f6c1b7e-4f7a-4c55-9d43-5d0c0d1e2f3a")
            .unwrap_or_else(|err| panic!("{name}: amko-rs rejects gc-1: {err}"));
        let gdp: GlobalDeploymentPolicy = serde_json::from_value(rendered.gdp().clone())
            .expect("global-gdp reads as a GlobalDeploymentPolicy");
        accept_gdp(&gdp, &settings.instance, &controller)
            .unwrap_or_else(|err| panic!("{name}: amko-rs rejects global-gdp: {err}"));
        serde_json::from_value::<crd::AmkoCluster>(rendered.amko_cluster().clone())
            .expect("amkocluster-federation reads as an AMKOCluster");
    }
}

#[test]
fn a_cr_with_a_misspelt_field_fails_the_offline_check() {
    // The CR check must be able to fail: a GSLBConfig with a typo and an out-of-range value.
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chart_render");
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let schemas_file = scratch.join("crd-schemas-negative.json");
    std::fs::write(&schemas_file, crd_schemas_by_kind().to_string()).expect("write schemas");
    let objects_file = scratch.join("bad-crs.json");
    let bad = json!([{
        "apiVersion": "amko.vmware.com/v1alpha1",
        "kind": "GSLBConfig",
        "metadata": {"name": "gc-1"},
        "spec": {
            "gslbLeader": {"credentials": "gslb-avi-secret", "controllerVersion": "31.1.1",
                           "controllerIP": "192.0.2.1", "insecureSkipVerfy": true},
            "logLevel": "LOUD"
        }
    }]);
    std::fs::write(&objects_file, bad.to_string()).expect("write CRs");
    let output = check_cr_schemas(&schemas_file, &objects_file);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(report.contains("insecureSkipVerfy"), "{report}");
    assert!(
        report.contains("spec.logLevel: 'LOUD' is not one of"),
        "{report}"
    );
}

// ------------------------------------------------------------ the configuration reference

/// Dotted paths of every key in `values` that the schema describes as a structure of its own
/// (`additionalProperties: false`); free-form maps (resources, affinity, …) count as one key.
fn value_keys(values: &Value, schema: &Value, root: &Value, prefix: &str, out: &mut Vec<String>) {
    let schema = resolve(schema, root);
    let Some(map) = values.as_object() else {
        return;
    };
    for (key, child) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        out.push(path.clone());
        let child_schema = resolve(&schema["properties"][key], root);
        if child_schema["additionalProperties"] == false {
            value_keys(child, child_schema, root, &path, out);
        }
    }
}

fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => root.pointer(pointer).unwrap_or(&Value::Null),
        None => schema,
    }
}

#[test]
fn every_values_key_is_documented_in_the_configuration_reference() {
    let values: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo_path("charts/amko/values.yaml")).expect("values.yaml"),
    )
    .expect("values.yaml parses");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("charts/amko/values.schema.json")).expect("schema"),
    )
    .expect("values.schema.json parses");
    let reference = std::fs::read_to_string(repo_path("docs/configuration.md"))
        .expect("docs/configuration.md exists");
    let mut keys = Vec::new();
    value_keys(&values, &schema, &schema, "", &mut keys);
    assert!(keys.len() > 40, "walked {keys:?}");
    // The other accepted names, which values.yaml does not list.
    keys.extend(
        [
            "configs.gsllbLeaderController",
            "configs.tenant",
            "federation",
            "globalDeploymentPolicy",
            "gdpConfig.healthMonitorTemplate",
            "gdpConfig.pkiProfileRef",
            "gdpConfig.downResponse",
            "gdpConfig.controlPlaneHmOnly",
            "gdpConfig.defaultDomain",
        ]
        .map(String::from),
    );
    let missing: Vec<&String> = keys
        .iter()
        .filter(|key| !reference.contains(&format!("`{key}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not document {missing:?}"
    );
    // And every top-level key the schema accepts is explained there.
    for key in schema["properties"].as_object().expect("properties").keys() {
        if key != "global" {
            assert!(
                reference.contains(&format!("`{key}")),
                "docs/configuration.md does not mention `{key}`"
            );
        }
    }
}

// ------------------------------------------------------------ the image the chart runs

#[test]
fn the_image_matches_what_the_chart_runs() {
    let dockerfile = std::fs::read_to_string(repo_path("Dockerfile")).expect("Dockerfile");
    let instruction = |name: &str| -> Vec<String> {
        dockerfile
            .lines()
            .filter_map(|line| line.strip_prefix(&format!("{name} ")))
            .map(|rest| rest.trim().to_owned())
            .collect()
    };
    let values: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo_path("charts/amko/values.yaml")).expect("values.yaml"),
    )
    .expect("values.yaml parses");

    // The runtime user is the one the chart's securityContext runs as (non-root).
    let user = instruction("USER");
    let expected_user = format!(
        "{}:{}",
        values["podSecurityContext"]["runAsUser"], values["podSecurityContext"]["runAsGroup"]
    );
    assert_eq!(user.last(), Some(&expected_user));
    assert_ne!(values["podSecurityContext"]["runAsUser"], 0);

    // The container args start with a subcommand of the binary the ENTRYPOINT names, and the
    // default CMD is the operator.
    assert_eq!(
        instruction("ENTRYPOINT"),
        [r#"["/usr/local/bin/amko"]"#.to_owned()]
    );
    assert_eq!(instruction("CMD"), [r#"["run"]"#.to_owned()]);
    let amko = render("leader", &[]);
    let run_args = strings(&amko.container("amko").expect("amko")["args"]);
    assert_eq!(run_args.first(), Some(&"run"));
    let federate_args = strings(&amko.container("amko-federator").expect("federator")["args"]);
    assert_eq!(federate_args.first(), Some(&"federate"));

    // The exposed ports are the chart's listen ports, and the build names the binary's package.
    let exposed = instruction("EXPOSE").join(" ");
    for key in ["port", "federatorPort"] {
        let port = values["metrics"][key].to_string();
        assert!(
            exposed.split_whitespace().any(|p| p == port),
            "EXPOSE {exposed} lacks metrics.{key} {port}"
        );
    }
    assert!(dockerfile.contains(
        "cargo build --release --locked -p amko-actors --no-default-features --bin amko"
    ));

    // Every workspace member's sources are in the build context.
    let dockerignore = std::fs::read_to_string(repo_path(".dockerignore")).expect(".dockerignore");
    for path in ["Cargo.toml", "Cargo.lock", "src", "actors", "benches"] {
        assert!(
            dockerignore.lines().any(|line| line == format!("!{path}")),
            ".dockerignore excludes {path}"
        );
    }
}

// ------------------------------------------------------------ NOTES.txt

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create chart copy");
    for entry in std::fs::read_dir(from).expect("read chart dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy chart file");
        }
    }
}

/// NOTES.txt as helm renders it. `helm template` never prints NOTES and `helm install --dry-run`
/// needs a cluster, so a copy of the chart renders the same file through helm's `tpl` into a
/// ConfigMap.
fn notes(namespace: &str, fixture_name: &str, sets: &[&str]) -> String {
    let chart = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("chart_render")
        .join(format!("notes-{namespace}-{fixture_name}-{}", sets.len()))
        .join("amko");
    let _ = std::fs::remove_dir_all(&chart);
    copy_dir(&repo_path(CHART), &chart);
    std::fs::copy(chart.join("templates/NOTES.txt"), chart.join("notes.txt")).expect("notes");
    std::fs::write(
        chart.join("templates/zz-notes.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rendered-notes\ndata:\n  \
         notes: {{ tpl (.Files.Get \"notes.txt\") . | toJson }}\n",
    )
    .expect("write notes template");
    let mut args = helm_args("template", namespace, fixture_name, sets);
    args[2] = chart.display().to_string();
    args.extend(["--show-only".into(), "templates/zz-notes.yaml".into()]);
    let output = run(tools::helm(), &args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let config_map: Value =
        serde_saphyr::from_str(&String::from_utf8_lossy(&output.stdout)).expect("notes parse");
    config_map["data"]["notes"]
        .as_str()
        .expect("notes text")
        .to_owned()
}

#[test]
fn notes_say_what_to_check_next_and_warn_about_mistakes() {
    let good = notes(NAMESPACE, "leader", &[]);
    for command in [
        "kubectl get amkocluster amkocluster-federation -n avi-system",
        "kubectl get gc -n avi-system gc-1",
        "kubectl get gdp -n avi-system",
        "kubectl get secret gslb-config-secret -n avi-system",
        "kubectl delete gdp -n avi-system global-gdp",
    ] {
        assert!(good.contains(command), "NOTES lack `{command}`:\n{good}");
    }
    assert!(good.contains(
        "This cluster is east-admin, a federation LEADER: it syncs GslbServices to 192.0.2.10."
    ));
    assert!(!good.contains("WARNING"), "{good}");
    assert!(!good.contains("no effect"), "{good}");

    let follower = notes(NAMESPACE, "follower", &[]);
    assert!(follower.contains("This cluster is west-admin, a federation FOLLOWER"));

    let careless = notes(
        "default",
        "amko-2x",
        &[
            "gslbLeaderCredentials.password=",
            "configs.insecureSkipVerify=true",
        ],
    );
    assert!(careless.contains("WARNING: the namespace is default, not avi-system."));
    assert!(careless.contains("WARNING: gslbLeaderCredentials.password is empty"));
    assert!(careless.contains("WARNING: configs.insecureSkipVerify is true"));
    assert!(careless.contains(
        "no effect in amko-rs and were ignored: multiClusterIngress, persistentVolumeClaim, \
         mountPath, logFile, federatorLogFile, rbac, service, serviceAccount."
    ));
    assert!(careless.contains("kubectl get gc -n default gc-1"));
}

/// Every base image of the Dockerfile is pinned by a sha256 digest (a tag alone moves), each pin is
/// the one docs/helm.md documents, and the build image's Rust is new enough for the workspace.
#[test]
fn every_base_image_is_pinned_by_digest() {
    let dockerfile = std::fs::read_to_string(repo_path("Dockerfile")).expect("Dockerfile");
    let guide = std::fs::read_to_string(repo_path("docs/helm.md")).expect("docs/helm.md");
    let mut stages: Vec<String> = Vec::new();
    let mut pinned = 0;
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if !words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("FROM"))
        {
            continue;
        }
        let image = words
            .iter()
            .skip(1)
            .find(|w| !w.starts_with("--"))
            .unwrap_or_else(|| panic!("FROM without an image: {line}"));
        if let Some(pos) = words.iter().position(|w| w.eq_ignore_ascii_case("AS")) {
            stages.push(words[pos + 1].to_owned());
        }
        if stages[..stages.len().saturating_sub(1)]
            .iter()
            .any(|s| s == image)
        {
            continue; // an earlier stage, not an image
        }
        let (reference, digest) = image
            .split_once("@sha256:")
            .unwrap_or_else(|| panic!("base image without a digest: {line}"));
        assert!(
            digest.len() == 64
                && digest
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "not a sha256 digest: {line}"
        );
        assert!(
            reference.contains(':'),
            "pin the tag beside the digest: {line}"
        );
        let (name, tag) = reference.rsplit_once(':').expect("tag");
        let row = guide
            .lines()
            .find(|l| l.contains(&format!("`{name}:{tag}")))
            .unwrap_or_else(|| panic!("docs/helm.md does not list {reference}"));
        assert!(
            row.contains(&format!("`sha256:{digest}`")),
            "docs/helm.md lists another digest for {reference}: {row}"
        );
        if name == "rust" {
            let manifest = std::fs::read_to_string(repo_path("Cargo.toml")).expect("Cargo.toml");
            let required = manifest
                .lines()
                .find_map(|l| l.strip_prefix("rust-version = "))
                .map(|v| v.trim_matches('"').to_owned())
                .expect("workspace rust-version");
            let version = |text: &str| -> (u32, u32) {
                let mut parts = text
                    .split(['.', '-'])
                    .map(|p| p.parse::<u32>().unwrap_or(0));
                (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
            };
            assert!(
                version(tag) >= version(&required),
                "the build image's Rust {tag} is older than rust-version {required}"
            );
        }
        pinned += 1;
    }
    assert_eq!(pinned, 2, "the build and the runtime image");
}
