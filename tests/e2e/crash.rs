//! End-to-end crash campaign: `amko run` is killed with SIGKILL at a seeded random moment during a
//! cold start, a churn of Ingress changes, a GDP edit or a refresh repairing drift; after each
//! kill it is restarted and the controller must hold exactly the desired GslbServices (computed
//! here from what the trial created: names, members, weights, TTL), with no duplicate, no owned
//! orphan, and no write to an object amko-rs does not own. Each trial prints one summary line
//! with the writes recovery took.
//!
//! CI runs 5 trials (every phase at least once); the long form is
//! `AMKO_CRASH_TRIALS=60 cargo test -p amko-actors --test operator_crash -- --nocapture`
//! (`AMKO_CRASH_SEED` picks another sequence; a failing trial names its seed).

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use harness::{CREATED_BY, Env, EnvOptions, gdp, members_of, ref_names};
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};

const CLUSTERS: [&str; 2] = ["cluster1", "cluster2"];
const HOSTS: usize = 5;
const NAMESPACE: &str = "shop";
/// A GslbService and a monitor someone else owns; the monitor's name looks like one of ours.
const FOREIGN_GS: &str = "foreign.crash.example.com";
const FOREIGN_HM: &str = "amko--foreign-crash";
/// An owned GslbService and monitor nothing wants, planted before a refresh (as a crash between
/// two writes could leave them).
const ORPHAN_GS: &str = "orphan.crash.example.com";
const ORPHAN_HM: &str = "amko--orphan-crash";

/// SplitMix64: a few lines of deterministic randomness, so a failing trial replays from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    ColdStart,
    Churn,
    GdpEdit,
    Refresh,
}

/// Round-robin, so that any five trials cover every phase; the moment and the changes are random.
const PHASES: [Phase; 4] = [
    Phase::ColdStart,
    Phase::Churn,
    Phase::GdpEdit,
    Phase::Refresh,
];

/// The GDP: both clusters in one priority group with weights `w1`/`w2`, TTL `ttl`.
fn policy(w1: u32, w2: u32, ttl: u32) -> Value {
    gdp(
        &CLUSTERS,
        json!({
            "trafficSplit": [
                {"cluster": "cluster1", "weight": w1, "priority": 10},
                {"cluster": "cluster2", "weight": w2, "priority": 10}
            ],
            "ttl": ttl
        }),
    )
}

fn host(h: usize) -> String {
    format!("h{h}.crash.example.com")
}

fn ingress_name(h: usize) -> String {
    format!("web-{h}")
}

/// What the trial made in the clusters: per (cluster index, host index), whether the Ingress
/// exists and whether it carries the label the GDP selects; plus the GDP in force.
#[derive(Clone, Debug)]
struct World {
    ingresses: BTreeMap<(usize, usize), bool>,
    weights: [u32; 2],
    ttl: u32,
}

impl World {
    fn selected(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.ingresses
            .iter()
            .filter(|(_, selected)| **selected)
            .map(|(key, _)| *key)
    }
}

/// One GslbService as compared: TTL and sorted `(member VIP, ratio)`.
type GsView = (i64, Vec<(String, i64)>);

/// The VIP AKO wrote on the Ingress for `h` in `cluster`, once it has.
async fn vip(env: &Env, cluster: usize, h: usize) -> Option<String> {
    let ingress = env
        .get_object::<Ingress>(CLUSTERS[cluster], NAMESPACE, &ingress_name(h))
        .await?;
    ingress
        .status?
        .load_balancer?
        .ingress?
        .into_iter()
        .find(|i| i.hostname.as_deref() == Some(host(h).as_str()))?
        .ip
}

/// The GslbServices the world calls for, waiting for AKO to have given each selected Ingress its
/// VIP.
async fn desired(env: &Env, world: &World) -> BTreeMap<String, GsView> {
    let mut out: BTreeMap<String, GsView> = BTreeMap::new();
    for (cluster, h) in world.selected() {
        env.eventually("AKO gave the Ingress a VIP", || async {
            vip(env, cluster, h).await.is_some()
        })
        .await;
        let address = vip(env, cluster, h).await;
        let entry = out
            .entry(host(h))
            .or_insert_with(|| (i64::from(world.ttl), Vec::new()));
        entry.1.push((
            address.unwrap_or_default(),
            i64::from(world.weights[cluster]),
        ));
    }
    for (_, members) in out.values_mut() {
        members.sort();
    }
    out
}

fn is_owned_monitor(hm: &Value) -> bool {
    hm["markers"].as_array().into_iter().flatten().any(|m| {
        m["key"] == "created-by"
            && m["values"]
                .as_array()
                .is_some_and(|v| v.iter().any(|x| x == CREATED_BY))
    })
}

/// Differences between the controller and `want`: owned GslbServices (TTL, members, weights),
/// duplicates, owned monitors nothing references, references to monitors that do not exist.
fn differences(env: &Env, want: &BTreeMap<String, GsView>) -> Vec<String> {
    let mut problems = Vec::new();
    let services = env.gslb_services();
    let monitors = env.health_monitors();
    for (kind, objects) in [("GslbService", &services), ("health monitor", &monitors)] {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for o in objects.iter() {
            *seen
                .entry(o["name"].as_str().unwrap_or_default())
                .or_default() += 1;
        }
        for (name, n) in seen.into_iter().filter(|(_, n)| *n > 1) {
            problems.push(format!("{kind} {name} exists {n} times"));
        }
    }
    let owned: Vec<&Value> = services
        .iter()
        .filter(|gs| gs["created_by"] == CREATED_BY)
        .collect();
    let mut have: BTreeMap<String, GsView> = BTreeMap::new();
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    for gs in &owned {
        let mut members: Vec<(String, i64)> = members_of(gs)
            .iter()
            .map(|m| {
                (
                    m["ip"]["addr"].as_str().unwrap_or_default().to_owned(),
                    m["ratio"].as_i64().unwrap_or(1),
                )
            })
            .collect();
        members.sort();
        let name = gs["name"].as_str().unwrap_or_default().to_owned();
        let refs = ref_names(&gs["health_monitor_refs"]);
        if refs.is_empty() {
            problems.push(format!("{name} references no monitor"));
        }
        for r in &refs {
            if !monitors.iter().any(|m| m["name"] == r.as_str()) {
                problems.push(format!("{name} references the missing monitor {r}"));
            }
        }
        referenced.extend(refs);
        have.insert(name, (gs["ttl"].as_i64().unwrap_or(-1), members));
    }
    for (name, view) in want {
        match have.get(name) {
            None => problems.push(format!("{name} missing (want {view:?})")),
            Some(got) if got != view => {
                problems.push(format!("{name} is {got:?}, want {view:?}"));
            }
            Some(_) => {}
        }
    }
    for name in have.keys().filter(|n| !want.contains_key(*n)) {
        problems.push(format!("owned orphan GslbService {name}"));
    }
    for hm in monitors.iter().filter(|m| is_owned_monitor(m)) {
        let name = hm["name"].as_str().unwrap_or_default();
        if !referenced.contains(name) {
            problems.push(format!("owned orphan monitor {name}"));
        }
    }
    problems
}

/// Every write that changed or deleted an object went to one created by amko-rs in this
/// environment (the environment starts empty, so each such object's create is in the audit log),
/// and no write at all touched the foreign objects.
fn assert_only_owned_objects_written(env: &Env, foreign: &[(String, String)], context: &str) {
    let audit = env.avi.control().audit_log();
    let foreign_uuids: BTreeSet<&str> = foreign.iter().map(|(uuid, _)| uuid.as_str()).collect();
    let created: BTreeSet<&str> = audit
        .iter()
        .filter(|e| e.method == "POST" && (200..300).contains(&e.status))
        .map(|e| e.uuid.as_str())
        .filter(|u| !foreign_uuids.contains(u))
        .collect();
    let mut foreign_creates = 0;
    for entry in &audit {
        let names_foreign = foreign.iter().any(|(_, name)| *name == entry.name);
        if entry.method == "POST" && names_foreign && foreign_creates < foreign.len() {
            // The trial's own creation of the foreign objects.
            foreign_creates += 1;
            continue;
        }
        assert!(
            !names_foreign && !foreign_uuids.contains(entry.uuid.as_str()),
            "a write touched a foreign object: {entry:?}\n{context}"
        );
        if entry.method != "POST" && !entry.uuid.is_empty() {
            assert!(
                created.contains(entry.uuid.as_str()),
                "{} {} {} ({}) went to an object nobody created here\n{context}",
                entry.method,
                entry.object_type,
                entry.name,
                entry.uuid
            );
        }
    }
}

/// Creates the foreign GslbService and monitor; returns their `(uuid, name)` and bodies.
async fn plant_foreign(env: &Env) -> (Vec<(String, String)>, Vec<Value>) {
    let client = env.avi_client();
    let gs = json!({"name": FOREIGN_GS, "created_by": "someone-else", "domain_names": [FOREIGN_GS],
        "groups": [{"name": "g", "priority": 10, "algorithm": "GSLB_ALGORITHM_ROUND_ROBIN",
                    "members": [{"ip": {"addr": "192.0.2.1", "type": "V4"}, "ratio": 1}]}]});
    let hm = json!({"name": FOREIGN_HM, "type": "HEALTH_MONITOR_HTTP", "is_federated": true,
        "description": format!("created by: amko, gsname: {}", host(0)),
        "markers": [{"key": "created-by", "values": ["someone-else"]}]});
    let mut ids = Vec::new();
    for (kind, body) in [("gslbservice", gs), ("healthmonitor", hm)] {
        let created = client
            .create(kind, &body, Some("admin"))
            .await
            .expect("foreign object created");
        ids.push((
            created["uuid"].as_str().unwrap_or_default().to_owned(),
            created["name"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    (ids, foreign_bodies(env))
}

fn foreign_bodies(env: &Env) -> Vec<Value> {
    let gs = env.gslb_service(FOREIGN_GS).unwrap_or(Value::Null);
    let hm = env
        .health_monitors()
        .into_iter()
        .find(|m| m["name"] == FOREIGN_HM)
        .unwrap_or(Value::Null);
    vec![gs, hm]
}

/// An owned GslbService and an owned monitor made for it that nothing wants, and an
/// out-of-band edit of an owned GslbService (weights and TTL), as a refresh must repair them.
async fn plant_drift_and_orphans(env: &Env, rng: &mut Rng) {
    let client = env.avi_client();
    let marker = json!([{"key": "created-by", "values": [CREATED_BY]}]);
    let hm = json!({"name": ORPHAN_HM, "type": "HEALTH_MONITOR_HTTP", "is_federated": true,
        "description": format!("created by: amko, gsname: {ORPHAN_GS}"), "markers": marker});
    client
        .create("healthmonitor", &hm, Some("admin"))
        .await
        .expect("orphan monitor");
    let gs = json!({"name": ORPHAN_GS, "created_by": CREATED_BY, "domain_names": [ORPHAN_GS],
        "health_monitor_refs": [format!("/api/healthmonitor?name={ORPHAN_HM}")],
        "groups": [{"name": "g", "priority": 10, "algorithm": "GSLB_ALGORITHM_ROUND_ROBIN",
                    "members": [{"ip": {"addr": "192.0.2.9", "type": "V4"}, "ratio": 1}]}]});
    client
        .create("gslbservice", &gs, Some("admin"))
        .await
        .expect("orphan GslbService");
    let owned: Vec<Value> = env
        .gslb_services()
        .into_iter()
        .filter(|g| g["created_by"] == CREATED_BY && g["name"] != ORPHAN_GS)
        .collect();
    if owned.is_empty() {
        return;
    }
    let mut edited = owned[rng.below(owned.len() as u64) as usize].clone();
    let uuid = edited["uuid"].as_str().unwrap_or_default().to_owned();
    edited["groups"][0]["members"][0]["ratio"] = json!(7);
    edited["ttl"] = json!(999);
    client
        .update("gslbservice", &uuid, &edited, Some("admin"))
        .await
        .expect("out-of-band edit");
}

/// Applies one random change to the world and the clusters: create, delete, deselect or
/// reselect an Ingress.
async fn churn_step(env: &Env, world: &mut World, rng: &mut Rng) -> String {
    let cluster = rng.below(CLUSTERS.len() as u64) as usize;
    let h = rng.below(HOSTS as u64) as usize;
    let name = ingress_name(h);
    let c = CLUSTERS[cluster];
    match world.ingresses.get(&(cluster, h)).copied() {
        None => {
            env.create_gslb_ingress(c, NAMESPACE, &name, &host(h)).await;
            world.ingresses.insert((cluster, h), true);
            format!("create {c}/{name}")
        }
        Some(selected) if rng.below(2) == 0 => {
            env.delete::<Ingress>(c, NAMESPACE, &name).await;
            world.ingresses.remove(&(cluster, h));
            format!("delete {c}/{name} (selected {selected})")
        }
        Some(selected) => {
            let label = if selected { "off" } else { "gslb" };
            env.patch::<Ingress>(
                c,
                NAMESPACE,
                &name,
                json!({"metadata": {"labels": {"app": label}}}),
            )
            .await;
            world.ingresses.insert((cluster, h), !selected);
            format!("label {c}/{name} app={label}")
        }
    }
}

/// Waits until the controller holds what `world` calls for; returns how long that took.
async fn converge(env: &Env, world: &World, what: &str) -> Duration {
    let want = desired(env, world).await;
    let started = Instant::now();
    env.eventually_within(what, Duration::from_secs(60), || async {
        differences(env, &want).is_empty()
    })
    .await;
    started.elapsed()
}

/// When to kill: after the operator's `writes`-th controller write of the phase (0: before any),
/// plus `extra_ms`; or after `limit` if it never makes that many.
#[derive(Clone, Copy, Debug)]
struct Moment {
    writes: usize,
    extra_ms: u64,
}

impl Moment {
    fn pick(rng: &mut Rng, expected_writes: usize) -> Moment {
        Moment {
            writes: rng.below(expected_writes as u64 + 1) as usize,
            extra_ms: rng.below(10),
        }
    }
}

/// Kills `operator` (SIGKILL: the harness's handle uses std's `Child::kill`) at `moment`, counting
/// writes after the audit mark `mark`.
async fn kill_at(
    env: &Env,
    operator: Option<harness::Operator>,
    mark: usize,
    moment: Moment,
    limit: Duration,
) {
    let deadline = Instant::now() + limit;
    while env.writes().saturating_sub(mark) < moment.writes && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(moment.extra_ms)).await;
    drop(operator);
}

/// What one trial measured.
struct Outcome {
    line: String,
    recovery_writes: usize,
    recovery_secs: f64,
}

/// One trial.
async fn trial(seed: u64, index: usize) -> Outcome {
    let mut rng = Rng(seed);
    let phase = PHASES[index % PHASES.len()];
    let mut world = World {
        ingresses: BTreeMap::new(),
        weights: [3, 1],
        ttl: 30,
    };
    let mut env = Env::start(
        &format!("crash-{index}"),
        EnvOptions::clusters(2).install(policy(3, 1, 30)),
    )
    .await;
    // A slower controller widens the windows between writes, where a kill hurts most.
    let latency_ms = rng.below(50);
    env.avi
        .control()
        .set_latency(Duration::from_millis(latency_ms));
    let (foreign, foreign_before) = plant_foreign(&env).await;
    // A seeded starting set: most hosts in one or both clusters.
    for (cluster, context) in CLUSTERS.iter().enumerate() {
        for h in 0..HOSTS {
            if rng.below(4) != 0 {
                env.create_gslb_ingress(context, NAMESPACE, &ingress_name(h), &host(h))
                    .await;
                world.ingresses.insert((cluster, h), true);
            }
        }
    }
    let hosts_wanted = |world: &World| {
        world
            .selected()
            .map(|(_, h)| h)
            .collect::<BTreeSet<_>>()
            .len()
    };
    let refresh_args: &[&str] = if phase == Phase::Refresh {
        &["--refresh-secs", "1"]
    } else {
        &[]
    };
    let limit = Duration::from_secs(5);
    let mut changes = Vec::new();
    let mark = env.writes();
    env.start_operator(refresh_args);
    let moment;
    if phase == Phase::ColdStart {
        // A monitor and a GslbService per host.
        moment = Moment::pick(&mut rng, 2 * hosts_wanted(&world));
        let operator = env.operator.take();
        kill_at(&env, operator, mark, moment, limit).await;
    } else {
        env.wait_ready().await;
        converge(&env, &world, "converged before the crash").await;
        let mark = env.writes();
        match phase {
            Phase::Churn => {
                let steps = 8 + rng.below(8);
                moment = Moment::pick(&mut rng, steps as usize);
                let operator = env.operator.take();
                let mut churn_rng = Rng(rng.next());
                let churn = async {
                    for _ in 0..steps {
                        changes.push(churn_step(&env, &mut world, &mut churn_rng).await);
                        tokio::time::sleep(Duration::from_millis(churn_rng.below(100))).await;
                    }
                };
                tokio::join!(churn, kill_at(&env, operator, mark, moment, limit));
            }
            Phase::GdpEdit => {
                moment = Moment::pick(&mut rng, hosts_wanted(&world));
                world.weights = [1 + rng.below(9) as u32, 1 + rng.below(9) as u32];
                world.ttl = 31 + rng.below(60) as u32;
                env.replace_gdp(policy(world.weights[0], world.weights[1], world.ttl))
                    .await;
                let operator = env.operator.take();
                kill_at(&env, operator, mark, moment, limit).await;
            }
            Phase::Refresh | Phase::ColdStart => {
                plant_drift_and_orphans(&env, &mut rng).await;
                // The repair, the orphan GslbService's delete, its monitor's delete.
                moment = Moment::pick(&mut rng, 3);
                let mark = env.writes();
                let operator = env.operator.take();
                kill_at(&env, operator, mark, moment, limit).await;
            }
        }
    }
    let before_restart = env.writes();
    let written_before_kill = before_restart.saturating_sub(mark);

    let restarted = Instant::now();
    env.start_operator(&[]);
    env.wait_ready().await;
    converge(&env, &world, "the desired state after the restart").await;
    let recovered_in = restarted.elapsed();
    // Let any write still under way land before counting and comparing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let recovery = env.audit_since(before_restart);
    let context = format!(
        "seed {seed:#x} trial {index} {phase:?} killed at {moment:?}, changes {changes:?}\n{}",
        env.log()
    );
    let want = desired(&env, &world).await;
    let problems = differences(&env, &want);
    assert!(
        problems.is_empty(),
        "after recovery: {problems:?}\n{context}"
    );
    assert_only_owned_objects_written(&env, &foreign, &context);
    assert_eq!(
        foreign_bodies(&env),
        foreign_before,
        "a foreign object changed\n{context}"
    );
    // What the restarted operator wants is what the controller holds: another restart agrees.
    env.assert_restart_writes_nothing().await;

    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for e in &recovery {
        *by_kind
            .entry(format!("{} {}", e.method, e.object_type))
            .or_default() += 1;
    }
    let line = format!(
        "crash trial {index:>3} seed {seed:#018x} {:<9} latency {latency_ms:>2} ms, killed after write {:>2} +{:>2} ms ({written_before_kill} writes since the operator started, {} churn changes): {} GslbServices recovered with {} writes {by_kind:?} in {:.2}s from restart; nothing lost, no duplicate, no orphan, foreign untouched",
        format!("{phase:?}"),
        moment.writes,
        moment.extra_ms,
        changes.len(),
        want.len(),
        recovery.len(),
        recovered_in.as_secs_f64()
    );
    harness::remove_dir(&env.dir);
    Outcome {
        line,
        recovery_writes: recovery.len(),
        recovery_secs: recovered_in.as_secs_f64(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_any_moment_the_restarted_operator_converges_exactly() {
    let trials: usize = std::env::var("AMKO_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let base: u64 = std::env::var("AMKO_CRASH_SEED")
        .ok()
        .and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0x5eed_c7a5_0012);
    let mut seeds = Rng(base);
    let mut outcomes = Vec::new();
    for index in 0..trials {
        let seed = seeds.next();
        let outcome = trial(seed, index).await;
        println!("{}", outcome.line);
        outcomes.push(outcome);
    }
    let mut writes: Vec<usize> = outcomes.iter().map(|o| o.recovery_writes).collect();
    let mut secs: Vec<f64> = outcomes.iter().map(|o| o.recovery_secs).collect();
    writes.sort_unstable();
    secs.sort_by(f64::total_cmp);
    let median = |n: usize| n / 2;
    println!(
        "crash campaign: {trials} trials from seed {base:#x}, all recovered exactly; {} needed recovery writes; recovery writes median {} max {}; restart to converged median {:.2}s max {:.2}s",
        writes.iter().filter(|w| **w > 0).count(),
        writes.get(median(writes.len())).copied().unwrap_or(0),
        writes.last().copied().unwrap_or(0),
        secs.get(median(secs.len())).copied().unwrap_or(0.0),
        secs.last().copied().unwrap_or(0.0),
    );
}
