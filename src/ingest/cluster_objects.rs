//! Namespaces and AKO HostRules: not members themselves, but they decide selection (namespace
//! labels, tenants) and naming (aliases, global FQDNs, TLS).

use k8s_openapi::api::core::v1::Namespace;

use super::annotations::TENANT_NAME;
use super::types::{HostRuleInfo, Labels, NamespaceInfo};
use crate::crd::ako_hostrule::HostRule;

/// Labels and AKO tenant of a member-cluster namespace.
pub fn ingest_namespace(cluster: &str, namespace: &Namespace) -> NamespaceInfo {
    let meta = &namespace.metadata;
    NamespaceInfo {
        cluster: cluster.to_owned(),
        name: meta.name.clone().unwrap_or_default(),
        labels: meta.labels.as_ref().map(Labels::from).unwrap_or_default(),
        tenant: meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(TENANT_NAME))
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty()),
    }
}

/// What amko-rs uses of an AKO HostRule, or why it cannot use it.
pub fn ingest_hostrule(cluster: &str, rule: &HostRule) -> Result<HostRuleInfo, String> {
    let vh = &rule.spec.virtualhost;
    if vh.fqdn.trim().is_empty() {
        return Err("spec.virtualhost.fqdn is empty".to_owned());
    }
    let mut aliases: Vec<String> = vh
        .aliases
        .iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty() && *a != vh.fqdn)
        .collect();
    aliases.sort();
    aliases.dedup();
    let gslb = vh.gslb.as_ref();
    Ok(HostRuleInfo {
        cluster: cluster.to_owned(),
        namespace: rule.metadata.namespace.clone().unwrap_or_default(),
        name: rule.metadata.name.clone().unwrap_or_default(),
        local_fqdn: vh.fqdn.trim().to_owned(),
        global_fqdn: gslb
            .map(|g| g.fqdn.trim().to_owned())
            .filter(|f| !f.is_empty()),
        include_aliases: gslb.is_some_and(|g| g.include_aliases),
        aliases,
        tls: vh
            .tls
            .as_ref()
            .is_some_and(|t| !t.ssl_key_certificate.name.is_empty()),
        accepted: rule.status.as_ref().is_some_and(|s| s.status == "Accepted"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn namespace_tenant_and_labels() {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "shop",
            "labels": {"team": "a"}, "annotations": {"ako.vmware.com/tenant-name": " t1 "}}}))
        .expect("namespace");
        let info = ingest_namespace("east", &ns);
        assert_eq!(info.tenant.as_deref(), Some("t1"));
        assert_eq!(info.labels.get("team"), Some("a"));
        let bare: Namespace =
            serde_json::from_value(json!({"metadata": {"name": "x"}})).expect("namespace");
        assert_eq!(ingest_namespace("east", &bare).tenant, None);
    }

    #[test]
    fn hostrule_fields() {
        let hr: HostRule = serde_json::from_value(json!({
            "apiVersion": "ako.vmware.com/v1beta1", "kind": "HostRule",
            "metadata": {"name": "h", "namespace": "shop"},
            "spec": {"virtualhost": {"fqdn": "local.example.com",
                "aliases": ["b.example.com", "a.example.com", "b.example.com", "local.example.com"],
                "gslb": {"fqdn": "global.example.com", "includeAliases": true},
                "tls": {"sslKeyCertificate": {"name": "cert", "type": "secret"}}}},
            "status": {"status": "Accepted"}
        }))
        .expect("hostrule");
        let info = ingest_hostrule("east", &hr).expect("valid");
        assert_eq!(info.aliases, vec!["a.example.com", "b.example.com"]);
        assert_eq!(info.global_fqdn.as_deref(), Some("global.example.com"));
        assert!(info.include_aliases && info.tls && info.accepted);
    }

    #[test]
    fn hostrule_without_fqdn_is_an_error() {
        let hr: HostRule = serde_json::from_value(json!({
            "apiVersion": "ako.vmware.com/v1beta1", "kind": "HostRule",
            "metadata": {"name": "h"}, "spec": {"virtualhost": {}}}))
        .expect("hostrule");
        assert_eq!(
            ingest_hostrule("c", &hr).unwrap_err(),
            "spec.virtualhost.fqdn is empty"
        );
    }
}
