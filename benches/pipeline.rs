//! Criterion benchmarks of the pure paths in front of model building: ingesting Ingresses as
//! AKO annotated them, selecting observations with a GDP, and the World's incremental updates
//! (one changed object, a policy change re-selecting everything) at 20,000 objects.

#[path = "../tests/common/fixtures.rs"]
mod fixtures;

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::json;

use amko::ingest::{ObjectKind, Observation, ingest_ingress};
use amko::policy::hostrule_index::HostRuleIndex;
use amko::policy::select::SelectionContext;
use amko::state::{ObjectId, World};

const CLUSTERS: usize = 100;
const PER_CLUSTER: usize = 200;

/// Ingress `i` of cluster `c` as AKO leaves it: a VIP in status, the VS UUID map annotation.
fn ingress(c: usize, i: usize, label: &str) -> Ingress {
    let host = format!("app{}.example.com", (c / 5) * PER_CLUSTER + i);
    let vs_map = json!({ host.clone(): format!("virtualservice-{c}-{i}") }).to_string();
    serde_json::from_value(json!({
        "metadata": {"name": format!("web-{i}"), "namespace": "default", "labels": {"app": label},
            "annotations": {"ako.vmware.com/host-fqdn-vs-uuid-map": vs_map,
                            "ako.vmware.com/controller-cluster-uuid": format!("cluster-{c}")}},
        "spec": {"rules": [{"host": host.clone(), "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]},
        "status": {"loadBalancer": {"ingress": [{"ip": format!("10.{}.{}.{}", c, i / 250, 1 + i % 250), "hostname": host}]}}
    }))
    .unwrap_or_default()
}

fn object_id(c: usize, i: usize) -> ObjectId {
    ObjectId {
        kind: ObjectKind::Ingress,
        cluster: fixtures::cluster_name(c),
        namespace: "default".into(),
        name: format!("web-{i}"),
    }
}

fn loaded_world() -> World {
    let mut world = World::new(fixtures::settings());
    world.set_policy(Some(fixtures::policy(CLUSTERS)));
    for c in 0..CLUSTERS {
        let cluster = fixtures::cluster_name(c);
        for i in 0..PER_CLUSTER {
            world.upsert_object(
                object_id(c, i),
                ingest_ingress(&cluster, &ingress(c, i, "gslb")),
            );
        }
    }
    world
}

fn pipeline(c: &mut Criterion) {
    let ingresses: Vec<(String, Ingress)> = (0..10)
        .flat_map(|c| (0..100).map(move |i| (fixtures::cluster_name(c), ingress(c, i, "gslb"))))
        .collect();
    c.bench_function("ingest 1,000 Ingresses", |b| {
        b.iter(|| {
            ingresses
                .iter()
                .map(|(cluster, ing)| black_box(ingest_ingress(cluster, ing)).observations.len())
                .sum::<usize>()
        })
    });

    let observations: Vec<Observation> = ingresses
        .iter()
        .flat_map(|(cluster, ing)| ingest_ingress(cluster, ing).observations)
        .collect();
    assert_eq!(
        observations.len(),
        1000,
        "every fixture Ingress yields its host"
    );
    let policy = fixtures::policy(CLUSTERS);
    let settings = fixtures::settings();
    let namespaces = BTreeMap::new();
    let hostrules = HostRuleIndex::default();
    let context = SelectionContext {
        policy: &policy,
        settings: &settings,
        namespaces: &namespaces,
        hostrules: &hostrules,
    };
    c.bench_function("select 1,000 observations", |b| {
        b.iter(|| {
            for o in &observations {
                black_box(context.select(o));
            }
        })
    });

    let mut world = loaded_world();
    let flipped = ingest_ingress("cluster43", &ingress(42, 7, "off"));
    let restored = ingest_ingress("cluster43", &ingress(42, 7, "gslb"));
    c.bench_function("World: one object changes (20,000 objects)", |b| {
        b.iter(|| {
            let a = world.upsert_object(object_id(42, 7), flipped.clone());
            let b = world.upsert_object(object_id(42, 7), restored.clone());
            black_box(a.len() + b.len())
        })
    });
    let key = world.keys().next().cloned();
    assert_eq!(world.observation_count(), CLUSTERS * PER_CLUSTER);
    c.bench_function("World: inputs of one GslbService (20,000 objects)", |b| {
        b.iter(|| {
            key.as_ref()
                .map(|k| black_box(world.inputs_for(k)).members.len())
        })
    });

    let mut other = fixtures::policy(CLUSTERS);
    other.name = "changed".into();
    let mut group = c.benchmark_group("World: policy change re-selects 20,000 objects");
    group.sample_size(10);
    group.bench_function("set_policy", |b| {
        b.iter_batched(
            || (loaded_world(), other.clone()),
            |(mut w, p)| black_box(w.set_policy(Some(p)).len()),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
