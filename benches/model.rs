//! Criterion benchmarks of the pure hot paths: building every GslbService (and serialising its
//! payloads) for 10,000 members across 100 clusters, and comparing desired payloads with what a
//! controller returns.

#[path = "../tests/common/fixtures.rs"]
mod fixtures;

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use amko::model::compare::in_sync;
use amko::model::{GsInputs, build_gslb_service};
use amko::vocab::{GsKey, Member};

/// Groups members by GslbService and builds each one, as the GslbService actors do in aggregate.
fn build_all(members: &[Member], policy: &amko::vocab::Policy) -> Vec<String> {
    let settings = fixtures::settings();
    let policy = std::sync::Arc::new(policy.clone());
    let mut by_key: BTreeMap<&GsKey, Vec<Member>> = BTreeMap::new();
    for m in members {
        by_key.entry(&m.key).or_default().push(m.clone());
    }
    by_key
        .into_iter()
        .filter_map(|(key, group)| {
            let input = GsInputs {
                key: key.clone(),
                domain_names: vec![key.fqdn.clone()],
                members: group,
                policy: policy.clone(),
                overrides: None,
            };
            build_gslb_service(&input, &settings, None)
                .map(|d| serde_json::to_string(&d.gslb_service).unwrap_or_default())
        })
        .collect()
}

fn model(c: &mut Criterion) {
    // 100 clusters x 100 FQDNs: 10,000 members, 100 GslbServices of 100 members each.
    let wide = fixtures::members(100, 100);
    // 100 clusters x 100 FQDNs spread as 5 clusters per FQDN: 2,000 GslbServices of 5 members.
    let narrow: Vec<Member> = fixtures::members(100, 2000)
        .into_iter()
        .filter(|m| {
            let c: usize = m
                .id()
                .cluster
                .trim_start_matches("cluster")
                .parse()
                .unwrap_or(0);
            let f: usize = m.id().name.trim_start_matches("obj").parse().unwrap_or(0);
            (c + f).is_multiple_of(20)
        })
        .collect();
    assert_eq!(wide.len(), 10_000);
    assert_eq!(narrow.len(), 10_000);
    let policy = fixtures::policy(100);

    c.bench_function("build 10k members, 100 clusters, 100 GS", |b| {
        b.iter(|| black_box(build_all(black_box(&wide), &policy)))
    });
    c.bench_function("build 10k members, 100 clusters, 2000 GS", |b| {
        b.iter(|| black_box(build_all(black_box(&narrow), &policy)))
    });

    let payloads: Vec<serde_json::Value> = build_all(&narrow, &policy)
        .iter()
        .filter_map(|s| serde_json::from_str(s).ok())
        .collect();
    c.bench_function("compare 2000 GS payloads with controller copies", |b| {
        b.iter(|| black_box(payloads.iter().filter(|p| in_sync(p, p)).count()))
    });
}

criterion_group!(benches, model);
criterion_main!(benches);
