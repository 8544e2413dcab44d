//! Index of accepted AKO HostRules across member clusters: local -> global FQDN mapping (custom
//! global FQDN mode), TLS by (cluster, namespace, host), and the alias domain names of each GslbService.

use std::collections::{BTreeMap, BTreeSet};

use crate::ingest::HostRuleInfo;

/// Accepted HostRules, indexed for selection and naming. Built afresh from the rules (cheap).
#[derive(Clone, Debug, Default)]
pub struct HostRuleIndex {
    /// (cluster, local fqdn) -> global fqdn.
    global_by_local: BTreeMap<(String, String), String>,
    /// (cluster, namespace, local fqdn) with a TLS certificate.
    tls: BTreeSet<(String, String, String)>,
    /// alias -> GslbService names claiming it, for both modes.
    alias_claims_default: BTreeMap<String, BTreeSet<String>>,
    alias_claims_custom: BTreeMap<String, BTreeSet<String>>,
}

impl HostRuleIndex {
    /// Indexes `rules`; rules that are not accepted by AKO are ignored.
    pub fn new<'a>(rules: impl IntoIterator<Item = &'a HostRuleInfo>) -> Self {
        let mut index = HostRuleIndex::default();
        let mut accepted: Vec<&HostRuleInfo> = rules.into_iter().filter(|r| r.accepted).collect();
        // Deterministic: when two rules in one cluster claim the same host, the first by
        // (cluster, namespace, name) wins (AKO itself rejects the second).
        accepted.sort_by(|a, b| {
            (&a.cluster, &a.namespace, &a.name).cmp(&(&b.cluster, &b.namespace, &b.name))
        });
        for rule in accepted {
            let local = (rule.cluster.clone(), rule.local_fqdn.clone());
            if let Some(global) = &rule.global_fqdn {
                index
                    .global_by_local
                    .entry(local)
                    .or_insert_with(|| global.clone());
                if rule.include_aliases {
                    for alias in &rule.aliases {
                        index
                            .alias_claims_custom
                            .entry(alias.clone())
                            .or_default()
                            .insert(global.clone());
                    }
                }
            }
            for alias in &rule.aliases {
                index
                    .alias_claims_default
                    .entry(alias.clone())
                    .or_default()
                    .insert(rule.local_fqdn.clone());
            }
            if rule.tls {
                index.tls.insert((
                    rule.cluster.clone(),
                    rule.namespace.clone(),
                    rule.local_fqdn.clone(),
                ));
            }
        }
        index
    }

    /// The global FQDN an accepted HostRule in `cluster` maps `local_fqdn` to.
    pub fn global_fqdn(&self, cluster: &str, local_fqdn: &str) -> Option<&str> {
        self.global_by_local
            .get(&(cluster.to_owned(), local_fqdn.to_owned()))
            .map(String::as_str)
    }

    /// A HostRule in (cluster, namespace) gives `host` a TLS certificate.
    pub fn is_tls(&self, cluster: &str, namespace: &str, host: &str) -> bool {
        self.tls
            .contains(&(cluster.to_owned(), namespace.to_owned(), host.to_owned()))
    }

    /// The GslbService an alias goes to (its first claimant by name), if any HostRule claims it.
    pub fn alias_owner(&self, alias: &str, custom_global_fqdn: bool) -> Option<&str> {
        let claims = if custom_global_fqdn {
            &self.alias_claims_custom
        } else {
            &self.alias_claims_default
        };
        claims
            .get(alias)
            .and_then(|owners| owners.first())
            .map(String::as_str)
    }

    /// Domain names of the GslbService `gs_fqdn`: the FQDN first, then its aliases, sorted. An
    /// alias claimed by several GslbServices goes to the first of them by name only, because the
    /// controller allows a domain name on one GslbService.
    pub fn domain_names(&self, gs_fqdn: &str, custom_global_fqdn: bool) -> Vec<String> {
        let claims = if custom_global_fqdn {
            &self.alias_claims_custom
        } else {
            &self.alias_claims_default
        };
        let mut names = vec![gs_fqdn.to_owned()];
        names.extend(
            claims
                .iter()
                .filter(|(alias, owners)| {
                    alias.as_str() != gs_fqdn && owners.first().map(String::as_str) == Some(gs_fqdn)
                })
                .map(|(alias, _)| alias.clone()),
        );
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        cluster: &str,
        ns: &str,
        local: &str,
        global: Option<&str>,
        aliases: &[&str],
    ) -> HostRuleInfo {
        HostRuleInfo {
            cluster: cluster.into(),
            namespace: ns.into(),
            name: format!("hr-{local}"),
            local_fqdn: local.into(),
            global_fqdn: global.map(Into::into),
            include_aliases: true,
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            tls: ns == "secure",
            accepted: true,
        }
    }

    #[test]
    fn default_mode_aliases_and_conflicts() {
        let rules = [
            rule(
                "east",
                "a",
                "shop.example.com",
                None,
                &["shop2.example.com", "shared.example.com"],
            ),
            rule(
                "west",
                "a",
                "shop.example.com",
                None,
                &["shop3.example.com"],
            ),
            rule(
                "west",
                "a",
                "blog.example.com",
                None,
                &["shared.example.com"],
            ),
        ];
        let index = HostRuleIndex::new(&rules);
        assert_eq!(
            index.domain_names("shop.example.com", false),
            vec!["shop.example.com", "shop2.example.com", "shop3.example.com"]
        );
        // "shared" is claimed by blog and shop: it goes to blog (first by name) only.
        assert_eq!(
            index.domain_names("blog.example.com", false),
            vec!["blog.example.com", "shared.example.com"]
        );
    }

    #[test]
    fn custom_mode_maps_local_to_global() {
        let mut r = rule(
            "east",
            "secure",
            "shop.east.internal",
            Some("shop.example.com"),
            &["alt.example.com"],
        );
        let mut not_accepted = rule(
            "west",
            "a",
            "shop.west.internal",
            Some("shop.example.com"),
            &[],
        );
        not_accepted.accepted = false;
        let index = HostRuleIndex::new([&r, &not_accepted]);
        assert_eq!(
            index.global_fqdn("east", "shop.east.internal"),
            Some("shop.example.com")
        );
        assert_eq!(index.global_fqdn("west", "shop.west.internal"), None);
        assert!(index.is_tls("east", "secure", "shop.east.internal"));
        assert!(!index.is_tls("east", "a", "shop.east.internal"));
        assert_eq!(
            index.domain_names("shop.example.com", true),
            vec!["shop.example.com", "alt.example.com"]
        );
        r.include_aliases = false;
        let index = HostRuleIndex::new([&r]);
        assert_eq!(
            index.domain_names("shop.example.com", true),
            vec!["shop.example.com"]
        );
    }
}
