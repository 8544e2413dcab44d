//! Criterion benchmarks of the pure paths in front of model building: ingesting Ingresses as
//! AKO annotated them, selecting observations with a GDP, and the World's incremental updates
//! (one changed object, a policy change re-selecting everything) at 20,000 objects.

#[path = "../tests/common/fixtures.rs"]
mod fixtures;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use k8s_openapi::api::networking::v1::Ingress;

use amko::ingest::{Observation, ingest_ingress};
use amko::policy::hostrule_index::HostRuleIndex;
use amko::policy::select::SelectionContext;
use amko::state::World;
use fixtures::{ingress, object_id};

const CLUSTERS: usize = 100;
const PER_CLUSTER: usize = 200;

fn loaded_world() -> World {
    let mut world = World::new(fixtures::settings());
    world.set_policy(Some(fixtures::policy(CLUSTERS)));
    for c in 0..CLUSTERS {
        let cluster = fixtures::cluster_name(c);
        for i in 0..PER_CLUSTER {
            world.upsert_object(
                object_id(c, i),
                ingest_ingress(&cluster, &ingress(c, i, PER_CLUSTER, "gslb")),
            );
        }
    }
    world
}

fn pipeline(c: &mut Criterion) {
    let ingresses: Vec<(String, Ingress)> = (0..10)
        .flat_map(|c| {
            (0..100).map(move |i| {
                (
                    fixtures::cluster_name(c),
                    ingress(c, i, PER_CLUSTER, "gslb"),
                )
            })
        })
        .collect();
    c.bench_function("ingest 1,000 Ingresses", |b| {
        b.iter(|| {
            ingresses
                .iter()
                .map(|(cluster, ing)| black_box(ingest_ingress(cluster, ing)).observations.len())
                .sum::<usize>()
        })
    });

    let observations: Vec<Arc<Observation>> = ingresses
        .iter()
        .flat_map(|(cluster, ing)| ingest_ingress(cluster, ing).observations)
        .map(Arc::new)
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
    let flipped = ingest_ingress("cluster43", &ingress(42, 7, PER_CLUSTER, "off"));
    let restored = ingest_ingress("cluster43", &ingress(42, 7, PER_CLUSTER, "gslb"));
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
