//! Criterion benchmark of what one change costs the operator's pure code at 20,000 and at 200,000
//! objects (100 clusters × 200 and × 2,000 Ingresses, each FQDN in 5 clusters, as in the
//! many-cluster benchmark). Three steps, each at both sizes, so that a cost growing with the
//! number of objects shows as a ratio above 1 (issue 15 wants it under 1.5):
//! - one change: an Ingress label flips off and back on in the World, and each time the changed
//!   GslbService's inputs are taken, its desired state built and handed to the writer's map;
//! - one GslbService write: the writer's step for a GslbService whose TTL changed (plan against
//!   the controller cache), then the write's result applied to the cache through the ledger;
//! - one refresh step: one listed GslbService taken into the cache, and the writer's step for
//!   it finding it in sync.

#[path = "../tests/common/fixtures.rs"]
mod fixtures;

use std::collections::BTreeSet;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

use amko::avi::converge::{self, DesiredMap, Step};
use amko::avi::refresh::WriteLedger;
use amko::avi::sync::{CacheChange, ObjectType};
use amko::ingest::ingest_ingress;
use amko::model::build::build_gslb_service;
use amko::model::plan::{ControllerObject, ControllerState, Write};
use amko::state::World;
use amko::vocab::GsKey;
use fixtures::{OVERLAP, ingress, object_id};

const CLUSTERS: usize = 100;

/// The operator's state after a converged cold start: the World, the writer's desired map and
/// a controller cache holding exactly that (as the controller echoes it, with uuids).
struct Converged {
    world: World,
    desired: DesiredMap,
    cache: ControllerState,
    ledger: WriteLedger,
}

fn echo(tenant: &str, mut body: Value, uuid: String) -> ControllerObject {
    body["uuid"] = json!(uuid);
    ControllerObject::from_body(tenant, body).unwrap_or_else(|| unreachable!("uuid and name set"))
}

fn converged(per_cluster: usize) -> Converged {
    let settings = fixtures::settings();
    let mut world = World::new(settings.clone());
    world.set_policy(Some(fixtures::policy(CLUSTERS)));
    for c in 0..CLUSTERS {
        let cluster = fixtures::cluster_name(c);
        for i in 0..per_cluster {
            world.upsert_object(
                object_id(c, i),
                ingest_ingress(&cluster, &ingress(c, i, per_cluster, "gslb")),
            );
        }
    }
    let keys: Vec<GsKey> = world.keys().cloned().collect();
    let mut desired = DesiredMap::new();
    let mut cache = ControllerState::default();
    for (n, key) in keys.into_iter().enumerate() {
        let Some(d) = world.desired(&key, None) else {
            continue;
        };
        for (m, hm) in d.health_monitors.iter().enumerate() {
            let body = serde_json::to_value(hm).unwrap_or_default();
            cache.insert_health_monitor(echo(&key.tenant, body, format!("hm-{n}-{m}")));
        }
        let body = serde_json::to_value(&d.gslb_service).unwrap_or_default();
        cache.insert_gslb_service(echo(&key.tenant, body, format!("gs-{n}")));
        desired.insert(key, Arc::new(d));
    }
    Converged {
        world,
        desired,
        cache,
        ledger: WriteLedger::new(),
    }
}

/// The writer's step for `key` against the state.
fn step(state: &Converged, key: &GsKey) -> Step {
    let created_by = &fixtures::settings().created_by;
    converge::step(
        key,
        false,
        &BTreeSet::new(),
        &state.desired,
        &state.cache,
        created_by,
    )
}

fn scale(c: &mut Criterion) {
    let settings = fixtures::settings();
    let mut group = c.benchmark_group("scale");
    group.sample_size(30);
    for per_cluster in [200, 2_000] {
        let objects = CLUSTERS * per_cluster;
        let mut state = converged(per_cluster);
        assert_eq!(state.world.observation_count(), objects);
        assert_eq!(state.desired.len(), objects / OVERLAP);

        // One change: cluster 43's Ingress 7 leaves its GslbService and comes back.
        let cluster = fixtures::cluster_name(42);
        let flipped = ingest_ingress(&cluster, &ingress(42, 7, per_cluster, "off"));
        let restored = ingest_ingress(&cluster, &ingress(42, 7, per_cluster, "gslb"));
        group.bench_function(BenchmarkId::new("one change", objects), |b| {
            b.iter(|| {
                for ingested in [&flipped, &restored] {
                    let changed = state
                        .world
                        .upsert_object(object_id(42, 7), ingested.clone());
                    for key in changed {
                        let inputs = state.world.inputs_for(&key);
                        match build_gslb_service(&inputs, &settings, None) {
                            Some(d) => state.desired.insert(key, Arc::new(d)),
                            None => state.desired.remove(&key),
                        };
                    }
                }
            })
        });

        // One GslbService write: its TTL alternates, so each step plans one update.
        let key = state
            .world
            .keys()
            .nth(objects / OVERLAP / 2)
            .cloned()
            .unwrap_or_else(|| unreachable!("the world has GslbServices"));
        let versions: Vec<Arc<_>> = [30, 31]
            .into_iter()
            .map(|ttl| {
                let mut d = state
                    .world
                    .desired(&key, None)
                    .unwrap_or_else(|| unreachable!("the key has members"));
                d.gslb_service.ttl = Some(ttl);
                Arc::new(d)
            })
            .collect();
        let mut turn = 0;
        group.bench_function(BenchmarkId::new("one GslbService write", objects), |b| {
            b.iter(|| {
                turn += 1;
                state
                    .desired
                    .insert(key.clone(), versions[turn % 2].clone());
                let Step::Write { writes, .. } = step(&state, &key) else {
                    unreachable!("the TTL changed")
                };
                for write in writes {
                    if let Write::UpdateGslbService { tenant, uuid, body } = write {
                        let object = echo(&tenant, body, uuid);
                        let change = CacheChange::Upsert(ObjectType::GslbService, object);
                        state.ledger.apply(change, &mut state.cache);
                    }
                }
            })
        });

        // One refresh step: the listed copy of a GslbService enters the cache, the writer finds
        // it in sync.
        let listed = state
            .cache
            .gslb_services()
            .get(&(key.tenant.clone(), key.fqdn.clone()))
            .map(ControllerObject::body)
            .unwrap_or_default();
        group.bench_function(BenchmarkId::new("one refresh step", objects), |b| {
            b.iter(|| {
                let object = echo(&key.tenant, listed.clone(), "gs-listed".into());
                state.cache.insert_gslb_service(object);
                black_box(step(&state, &key))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
