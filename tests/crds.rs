//! The CRD manifests: the chart's copies match the code; names, scope, versions and printer columns
//! are right; the schemas are structural and carry the ranges, enums and CEL rules; and the fixture
//! objects in tests/fixtures/{valid,invalid}-crs are accepted / rejected by those schemas (a small
//! structural validator plus kube-rs's CEL evaluator) and by amko-rs's own acceptance.

use amko::crd::{self, GlobalDeploymentPolicy, GslbConfig, GslbHostRule};
use amko::policy::{
    ControllerLookup, HealthMonitorFacts, accept_gdp, accept_gslb_config, accept_host_rule,
};
use amko::vocab::InstanceSettings;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const REGENERATE: &str = "cargo run -p amko-actors --bin amko -- crds --out-dir charts/amko/crds";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn crds() -> Vec<CustomResourceDefinition> {
    crd::all_crds().expect("CRDs build")
}

fn crd_named(name: &str) -> CustomResourceDefinition {
    crds()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no CRD {name}"))
}

/// The openAPIV3Schema of the single version, as JSON.
fn schema(name: &str) -> Value {
    let crd = crd_named(name);
    let version = &crd.spec.versions[0];
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("schema present");
    serde_json::to_value(schema).expect("schema serializes")
}

fn at<'a>(value: &'a Value, pointer: &str) -> &'a Value {
    value
        .pointer(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in {value:#}"))
}

// ------------------------------------------------------------ the chart's copies

#[test]
fn chart_crds_match_the_code() {
    let dir = repo_path("charts/amko/crds");
    let expected = crd::crd_files().expect("CRD files render");
    for (file, text) in &expected {
        let path = dir.join(file);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == *text,
            "{} differs from the generated CRD; regenerate with `{REGENERATE}`",
            path.display()
        );
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .expect("charts/amko/crds exists")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    let mut wanted: Vec<String> = expected.into_iter().map(|(file, _)| file).collect();
    wanted.sort();
    assert_eq!(
        present, wanted,
        "charts/amko/crds holds stale files; regenerate with `{REGENERATE}`"
    );
}

#[test]
fn yaml_stream_round_trips_to_the_same_crds() {
    let yaml = crd::render_yaml().expect("YAML renders");
    let parsed: Vec<CustomResourceDefinition> =
        serde_saphyr::from_multiple(&yaml).expect("stream parses as CRDs");
    assert_eq!(parsed, crds());
    assert_eq!(
        yaml.lines().filter(|l| *l == "---").count(),
        4,
        "four documents"
    );
}

// ------------------------------------------------------------ names and columns

/// What `kubectl get` and discovery should show for one CRD.
struct Names {
    name: &'static str,
    kind: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    short: &'static [&'static str],
    /// `name=jsonPath`
    columns: &'static [&'static str],
}

#[test]
fn names_versions_and_printer_columns() {
    let table = [
        Names {
            name: "gslbconfigs.amko.vmware.com",
            kind: "GSLBConfig",
            version: "v1alpha1",
            plural: "gslbconfigs",
            singular: "gslbconfig",
            short: &["gc"],
            columns: &[
                "Controller=.spec.gslbLeader.controllerIP",
                "State=.status.state",
                "Age=.metadata.creationTimestamp",
            ],
        },
        Names {
            name: "globaldeploymentpolicies.amko.vmware.com",
            kind: "GlobalDeploymentPolicy",
            version: "v1alpha2",
            plural: "globaldeploymentpolicies",
            singular: "globaldeploymentpolicy",
            short: &["gdp"],
            columns: &[
                "Status=.status.errorStatus",
                "Age=.metadata.creationTimestamp",
            ],
        },
        Names {
            name: "gslbhostrules.amko.vmware.com",
            kind: "GSLBHostRule",
            version: "v1alpha1",
            plural: "gslbhostrules",
            singular: "gslbhostrule",
            short: &["ghr"],
            columns: &[
                "FQDN=.spec.fqdn",
                "Status=.status.status",
                "Error=.status.error",
                "Age=.metadata.creationTimestamp",
            ],
        },
        Names {
            name: "amkoclusters.amko.vmware.com",
            kind: "AMKOCluster",
            version: "v1alpha1",
            plural: "amkoclusters",
            singular: "amkocluster",
            short: &[],
            columns: &[
                "Leader=.spec.isLeader",
                "Context=.spec.clusterContext",
                "Age=.metadata.creationTimestamp",
            ],
        },
    ];
    let all = crds();
    assert_eq!(all.len(), table.len());
    for (crd, want) in all.iter().zip(table) {
        let Names {
            name,
            kind,
            version,
            plural,
            singular,
            short,
            columns,
        } = want;
        assert_eq!(crd.metadata.name.as_deref(), Some(name));
        assert_eq!(crd.spec.group, "amko.vmware.com");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.kind, kind);
        assert_eq!(crd.spec.names.plural, plural);
        assert_eq!(crd.spec.names.singular.as_deref(), Some(singular));
        assert_eq!(
            crd.spec.names.short_names.clone().unwrap_or_default(),
            short.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        );
        assert_eq!(crd.spec.versions.len(), 1, "{name}: one version");
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, version);
        assert!(v.served && v.storage, "{name}: served and stored");
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{name}: status subresource"
        );
        let got: Vec<String> = v
            .additional_printer_columns
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|c| format!("{}={}", c.name, c.json_path))
            .collect();
        assert_eq!(got, columns, "{name}: printer columns");
    }
}

// ------------------------------------------------------------ schema content

fn rules(node: &Value) -> Vec<String> {
    node.get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .map(|r| r["rule"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn assert_range(schema: &Value, pointer: &str, min: f64, max: Option<f64>) {
    let node = at(schema, pointer);
    assert_eq!(node["type"], "integer", "{pointer}");
    assert_eq!(node["minimum"].as_f64(), Some(min), "{pointer} minimum");
    assert_eq!(node["maximum"].as_f64(), max, "{pointer} maximum");
}

fn enum_of(schema: &Value, pointer: &str) -> Vec<String> {
    let mut values: Vec<String> = at(schema, pointer)["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{pointer} has no enum"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    values.sort();
    values
}

fn required(schema: &Value, pointer: &str) -> Vec<String> {
    let mut fields: Vec<String> = at(schema, pointer)["required"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    fields.sort();
    fields
}

/// Pool algorithm and down response schemas, shared by the GDP and the GSLBHostRule.
fn assert_shared_fields(schema: &Value) {
    let pool = "/properties/spec/properties/poolAlgorithmSettings";
    assert_eq!(
        enum_of(schema, &format!("{pool}/properties/lbAlgorithm")),
        [
            "GSLB_ALGORITHM_CONSISTENT_HASH",
            "GSLB_ALGORITHM_GEO",
            "GSLB_ALGORITHM_ROUND_ROBIN",
            "GSLB_ALGORITHM_TOPOLOGY"
        ]
    );
    assert_eq!(required(schema, pool), ["lbAlgorithm"]);
    assert_range(
        schema,
        &format!("{pool}/properties/hashMask"),
        1.0,
        Some(31.0),
    );
    let fallback = format!("{pool}/properties/geoFallback");
    assert_eq!(
        enum_of(schema, &format!("{fallback}/properties/lbAlgorithm")),
        [
            "GSLB_ALGORITHM_CONSISTENT_HASH",
            "GSLB_ALGORITHM_ROUND_ROBIN"
        ]
    );
    assert_range(
        schema,
        &format!("{fallback}/properties/hashMask"),
        1.0,
        Some(31.0),
    );
    let pool_rules = rules(at(schema, pool));
    assert!(
        pool_rules
            .iter()
            .any(|r| r.contains("GSLB_ALGORITHM_CONSISTENT_HASH") && r.contains("hashMask"))
    );
    assert!(
        pool_rules
            .iter()
            .any(|r| r.contains("GSLB_ALGORITHM_GEO") && r.contains("geoFallback"))
    );
    assert!(
        rules(at(schema, &fallback))
            .iter()
            .any(|r| r.contains("hashMask"))
    );

    let down = "/properties/spec/properties/downResponse";
    assert_eq!(required(schema, down), ["type"]);
    assert_eq!(
        enum_of(schema, &format!("{down}/properties/type")),
        [
            "GSLB_SERVICE_DOWN_RESPONSE_ALL_RECORDS",
            "GSLB_SERVICE_DOWN_RESPONSE_EMPTY",
            "GSLB_SERVICE_DOWN_RESPONSE_FALLBACK_IP",
            "GSLB_SERVICE_DOWN_RESPONSE_NONE"
        ]
    );
    assert!(
        rules(at(schema, down))
            .iter()
            .any(|r| r.contains("fallbackIP"))
    );
    assert!(
        rules(at(schema, "/properties/spec"))
            .iter()
            .any(|r| r.contains("healthMonitorRefs") && r.contains("healthMonitorTemplate"))
    );
    assert_range(
        schema,
        "/properties/spec/properties/ttl",
        0.0,
        Some(86400.0),
    );
    let split = "/properties/spec/properties/trafficSplit";
    assert_eq!(at(schema, split)["x-kubernetes-list-type"], "map");
    assert_eq!(
        at(schema, split)["x-kubernetes-list-map-keys"],
        json!(["cluster"])
    );
    assert_eq!(required(schema, &format!("{split}/items")), ["cluster"]);
    assert_range(
        schema,
        &format!("{split}/items/properties/weight"),
        1.0,
        Some(20.0),
    );
    assert_range(
        schema,
        &format!("{split}/items/properties/priority"),
        0.0,
        Some(100.0),
    );
    assert_eq!(
        at(schema, &format!("{split}/items/properties/weight"))["default"],
        1
    );
}

#[test]
fn gdp_schema_enforces_ranges_enums_and_rules() {
    let schema = schema("globaldeploymentpolicies.amko.vmware.com");
    assert_shared_fields(&schema);
    let split = "/properties/spec/properties/trafficSplit/items/properties";
    assert_eq!(at(&schema, &format!("{split}/priority"))["default"], 10);
    assert_eq!(required(&schema, ""), ["spec"]);
    assert_eq!(
        at(&schema, "/properties/spec/properties/sitePersistenceRef")["minLength"],
        1
    );
    assert_eq!(
        at(
            &schema,
            "/properties/spec/properties/matchRules/properties/appSelector/properties/label/additionalProperties/type"
        ),
        "string"
    );
}

#[test]
fn host_rule_schema_enforces_ranges_enums_and_rules() {
    let schema = schema("gslbhostrules.amko.vmware.com");
    assert_shared_fields(&schema);
    let spec = "/properties/spec";
    assert_eq!(
        at(
            &schema,
            &format!("{spec}/properties/trafficSplit/items/properties/priority")
        )["default"],
        1
    );
    assert_eq!(required(&schema, spec), ["fqdn"]);
    assert_eq!(
        required(&schema, &format!("{spec}/properties/publicIP/items")),
        ["cluster", "ip"]
    );
    assert_eq!(
        required(
            &schema,
            &format!("{spec}/properties/thirdPartyMembers/items")
        ),
        ["site", "vip"]
    );
    let status = at(&schema, "/properties/status/properties");
    assert_eq!(status["status"]["type"], "string");
    assert_eq!(status["error"]["type"], "string");
}

#[test]
fn gslb_config_schema() {
    let schema = schema("gslbconfigs.amko.vmware.com");
    let spec = "/properties/spec";
    assert_eq!(
        enum_of(&schema, &format!("{spec}/properties/logLevel")),
        ["DEBUG", "ERROR", "INFO", "WARN"]
    );
    assert_range(
        &schema,
        &format!("{spec}/properties/refreshInterval"),
        0.0,
        None,
    );
    let leader = format!("{spec}/properties/gslbLeader");
    assert_eq!(
        required(&schema, &leader),
        ["controllerIP", "controllerVersion", "credentials"]
    );
    let skip = at(&schema, &format!("{leader}/properties/insecureSkipVerify"));
    assert_eq!(skip["type"], "boolean");
    assert_eq!(skip["default"], false);
    let credentials = at(&schema, &format!("{leader}/properties/credentials"));
    assert!(
        credentials["description"]
            .as_str()
            .unwrap_or_default()
            .contains("certificateAuthorityData")
    );
    assert_eq!(
        at(&schema, "/properties/status/properties/state/type"),
        "string"
    );
}

#[test]
fn amko_cluster_schema() {
    let schema = schema("amkoclusters.amko.vmware.com");
    let spec = at(&schema, "/properties/spec/properties");
    assert_eq!(spec["isLeader"]["type"], "boolean");
    assert_eq!(spec["clusterContext"]["type"], "string");
    assert_eq!(spec["version"]["type"], "string");
    assert_eq!(spec["clusters"]["items"]["type"], "string");
    let condition = at(
        &schema,
        "/properties/status/properties/conditions/items/properties",
    );
    for field in ["type", "status", "reason"] {
        assert_eq!(condition[field]["type"], "string", "condition {field}");
    }
}

/// What an API server demands of a structural schema, plus amko-rs's own hygiene rules.
fn structural_problems(node: &Value, path: &str, out: &mut Vec<String>) {
    let Some(map) = node.as_object() else { return };
    for forbidden in [
        "nullable",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "$ref",
        "title",
        "x-kubernetes-preserve-unknown-fields",
    ] {
        if map.contains_key(forbidden) {
            out.push(format!("{path}: has {forbidden}"));
        }
    }
    if !map.contains_key("type") {
        out.push(format!("{path}: no type"));
    }
    if matches!(
        map.get("default"),
        Some(Value::String(_) | Value::Object(_))
    ) {
        out.push(format!("{path}: has a string/object default"));
    }
    if let Some(Value::Object(properties)) = map.get("properties") {
        for (name, child) in properties {
            structural_problems(child, &format!("{path}.{name}"), out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get(key) {
            structural_problems(child, &format!("{path}.{key}"), out);
        }
    }
}

/// Every schema node carrying CEL rules, with its path.
fn rule_carriers<'a>(node: &'a Value, path: &str, out: &mut Vec<(String, &'a Value)>) {
    if node.get("x-kubernetes-validations").is_some() {
        out.push((path.to_owned(), node));
    }
    if let Some(Value::Object(properties)) = node.get("properties") {
        for (name, child) in properties {
            rule_carriers(child, &join(path, name), out);
        }
    }
    if let Some(items) = node.get("items") {
        rule_carriers(items, &format!("{path}[]"), out);
    }
}

#[test]
fn cel_rules_are_in_scope_and_within_the_cost_budget() {
    let mut carriers_seen = 0;
    for crd in crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let schema = schema(&name);
        let mut carriers = Vec::new();
        rule_carriers(&schema, "", &mut carriers);
        for (path, node) in carriers {
            let compiled = kube_cel::compile_schema(node);
            for rule in rules(node) {
                carriers_seen += 1;
                let warnings =
                    kube_cel::analyze_rule(&rule, &compiled, kube_cel::ScopeContext::CrdValidation);
                assert!(warnings.is_empty(), "{name} {path}: {rule}: {warnings:?}");
            }
        }
    }
    // GDP: spec, pool algorithm (2), geoFallback, down response; GSLBHostRule: the same plus
    // sitePersistence.
    assert_eq!(carriers_seen, 11);
}

#[test]
fn schemas_are_structural_and_rules_compile() {
    for crd in crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let schema = schema(&name);
        let mut problems = Vec::new();
        structural_problems(&schema, &name, &mut problems);
        assert!(problems.is_empty(), "{problems:#?}");
        let compiled = kube_cel::compile_schema(&schema);
        assert!(
            !compiled.has_errors(),
            "{name}: CEL rules do not compile: {:?}",
            compiled.compilation_errors()
        );
    }
}

// ------------------------------------------------------------ fixture objects

/// A problem found in an object: `(field path, reason)` in the fixture README's terms.
type Finding = (String, String);

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The OpenAPI keywords our schemas use, checked the way an API server does. Unknown fields are
/// reported too (an API server would prune them; here they mean a typo in a fixture).
fn schema_findings(schema: &Value, value: &Value, path: &str, out: &mut Vec<Finding>) {
    let finding = |reason: &str| (path.to_owned(), reason.to_owned());
    let type_ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        out.push(finding("type"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        out.push(finding("enum"));
    }
    if let Some(number) = value.as_f64() {
        if schema["minimum"].as_f64().is_some_and(|min| number < min) {
            out.push(finding("minimum"));
        }
        if schema["maximum"].as_f64().is_some_and(|max| number > max) {
            out.push(finding("maximum"));
        }
    }
    if let (Some(text), Some(min)) = (value.as_str(), schema["minLength"].as_u64())
        && (text.chars().count() as u64) < min
    {
        out.push(finding("minLength"));
    }
    if let Some(object) = value.as_object() {
        for field in schema["required"].as_array().into_iter().flatten() {
            let field = field.as_str().unwrap_or_default();
            if !object.contains_key(field) {
                out.push((join(path, field), "required".into()));
            }
        }
        for (key, child) in object {
            match (
                schema["properties"].get(key),
                schema.get("additionalProperties"),
            ) {
                (Some(child_schema), _) | (None, Some(child_schema)) => {
                    schema_findings(child_schema, child, &join(path, key), out)
                }
                (None, None) => out.push((join(path, key), "unknown".into())),
            }
        }
    }
    if let Some(items) = value.as_array() {
        let list_keys: Vec<&str> = schema["x-kubernetes-list-map-keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut seen = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{index}]");
            schema_findings(&schema["items"], item, &item_path, out);
            let identity = match schema["x-kubernetes-list-type"].as_str() {
                Some("map") => Some(json!(
                    list_keys.iter().map(|k| &item[*k]).collect::<Vec<_>>()
                )),
                Some("set") => Some(item.clone()),
                _ => None,
            };
            if let Some(identity) = identity {
                if seen.contains(&identity) {
                    out.push((item_path, "duplicate".into()));
                }
                seen.push(identity);
            }
        }
    }
}

/// Everything the API server would say about `object` under the CRD for its kind.
fn api_server_findings(object: &Value) -> Vec<Finding> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let crd = crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for kind {kind}"));
    let schema = schema(crd.metadata.name.as_deref().unwrap_or_default());
    let mut body = object.clone();
    if let Some(map) = body.as_object_mut() {
        // Every object has these; the API server validates them itself, not through the schema.
        for implicit in ["apiVersion", "kind", "metadata"] {
            map.remove(implicit);
        }
    }
    let mut findings = Vec::new();
    schema_findings(&schema, &body, "", &mut findings);
    if let Err(errors) = kube_cel::Validator::new().validate(&schema, &body, None) {
        for error in errors.into_vec() {
            findings.push((error.field_path.clone(), format!("cel: {}", error.message)));
        }
    }
    findings
}

struct Fixture {
    file: String,
    expect: Option<String>,
    operator_accepts: bool,
    text: String,
    value: Value,
}

fn fixtures(dir: &str) -> Vec<Fixture> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_path(dir))
        .unwrap_or_else(|err| panic!("{dir}: {err}"))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{file}: {err}"));
            let header = |prefix: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(prefix).map(str::to_owned))
            };
            let value = serde_saphyr::from_str(&text).unwrap_or_else(|err| panic!("{file}: {err}"));
            Fixture {
                expect: header("# expect: "),
                operator_accepts: header("# operator: accepts").is_some(),
                file,
                text,
                value,
            }
        })
        .collect()
}

/// A controller that has every object any fixture names, so only the object itself can fail.
struct EverythingExists;

impl ControllerLookup for EverythingExists {
    fn health_monitor(&self, _tenant: &str, _name: &str) -> Option<HealthMonitorFacts> {
        Some(HealthMonitorFacts {
            monitor_type: "HEALTH_MONITOR_HTTPS".into(),
            is_federated: Some(true),
            http_request: Some("GET / HTTP/1.1".into()),
            response_codes: vec!["HTTP_2XX".into()],
        })
    }
    fn persistence_profile_exists(&self, _tenant: &str, _name: &str) -> bool {
        true
    }
    fn pki_profile_exists(&self, _tenant: &str, _name: &str) -> bool {
        true
    }
    fn third_party_site_exists(&self, _site: &str) -> bool {
        true
    }
}

/// amko-rs's own verdict: `Err` with the reason when it rejects (or cannot even read) the object.
fn operator_verdict(fixture: &Fixture) -> Result<(), String> {
    let instance = InstanceSettings {
        created_by: "amko-9b1f3c2e-1d2a-11ef-9c44-0a580a800001".into(),
        default_tenant: "admin".into(),
        use_custom_global_fqdn: false,
        member_clusters: ["east-admin", "west-admin"].map(String::from).into(),
    };
    let text = fixture.text.as_str();
    match fixture.value["kind"].as_str().unwrap_or_default() {
        "GSLBConfig" => {
            let config: GslbConfig = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
            accept_gslb_config(&config, "0f6c1b7e-4f7a-4c55-9d43-5d0c0d1e2f3a")
                .map(drop)
                .map_err(|e| e.to_string())
        }
        "GlobalDeploymentPolicy" => {
            let gdp: GlobalDeploymentPolicy =
                serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
            accept_gdp(&gdp, &instance, &EverythingExists)
                .map(drop)
                .map_err(|e| e.to_string())
        }
        "GSLBHostRule" => {
            let rule: GslbHostRule = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
            accept_host_rule(&rule, "shop", &instance, &EverythingExists)
                .map(drop)
                .map_err(|e| e.to_string())
        }
        "AMKOCluster" => serde_saphyr::from_str::<crd::AmkoCluster>(text)
            .map(drop)
            .map_err(|e| e.to_string()),
        other => Err(format!("unexpected kind {other}")),
    }
}

#[test]
fn valid_fixtures_pass_the_schema_and_amko() {
    let fixtures = fixtures("tests/fixtures/valid-crs");
    assert!(fixtures.len() >= 4);
    for fixture in fixtures {
        let findings = api_server_findings(&fixture.value);
        assert!(findings.is_empty(), "{}: {findings:?}", fixture.file);
        if let Err(reason) = operator_verdict(&fixture) {
            panic!("{}: amko-rs rejects it: {reason}", fixture.file);
        }
    }
}

#[test]
fn invalid_fixtures_are_rejected_as_their_header_says() {
    let fixtures = fixtures("tests/fixtures/invalid-crs");
    assert!(
        fixtures.len() >= 30,
        "expected the full set of invalid fixtures"
    );
    for fixture in fixtures {
        let expect = fixture
            .expect
            .as_deref()
            .unwrap_or_else(|| panic!("{}: no `# expect:` line", fixture.file));
        let (path, reason) = expect
            .split_once(": ")
            .unwrap_or_else(|| panic!("{}: malformed expect line", fixture.file));
        let findings = api_server_findings(&fixture.value);
        assert!(
            findings.contains(&(path.to_owned(), reason.to_owned())),
            "{}: expected `{expect}`, the schema gives {findings:?}",
            fixture.file
        );
        assert!(
            findings
                .iter()
                .all(|(p, _)| p.starts_with(path) || path.starts_with(p.as_str())),
            "{}: unrelated findings {findings:?}",
            fixture.file
        );
        match (operator_verdict(&fixture), fixture.operator_accepts) {
            (Err(_), false) | (Ok(()), true) => {}
            (Ok(()), false) => panic!(
                "{}: amko-rs accepts what the API server rejects",
                fixture.file
            ),
            (Err(reason), true) => {
                panic!(
                    "{}: marked `operator: accepts` but amko-rs says {reason}",
                    fixture.file
                )
            }
        }
    }
}
