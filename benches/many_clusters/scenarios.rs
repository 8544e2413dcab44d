//! The scenarios, in the order they build on each other: cold start, in-sync refresh, churn, a
//! GDP edit touching every GslbService, a restart with nothing changed, a member cluster outage
//! and recovery, and a rate-limited controller; and, when named, the two long campaigns: crash
//! (SIGKILL at seeded moments, then recovery checked) and soak (churn for minutes, RSS and map
//! sizes sampled). Each returns its figures.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use amko_sim::avi::{RateLimitConfig, RateLimitScope};
use amko_sim::k8s::Down;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::measure::{Figures, Latencies, Recorder, now_micros, settle, wait_ready};
use crate::probe::{self, Probe};
use crate::setup::{Bench, BenchError, HOME, cluster_name, fqdn_count, fqdn_of};

/// The operator's budget when the controller is unlimited: effectively none.
const UNLIMITED_RATE: f64 = 1_000_000.0;
const UNLIMITED_BURST: u32 = 10_000;

pub fn quiet(bench: &Bench) -> Duration {
    Duration::from_millis(1000.max(bench.params.coalesce_ms * 5))
}

pub async fn run(bench: &mut Bench, name: &str) -> Result<Figures, BenchError> {
    match name {
        "cold_start" => cold_start(bench).await,
        "in_sync_refresh" => in_sync_refresh(bench).await,
        "churn" => churn(bench).await,
        "gdp_edit" => gdp_edit(bench).await,
        "restart" => restart(bench).await,
        "outage" => outage(bench).await,
        "rate_limited" => rate_limited(bench).await,
        "crash" => crash(bench).await,
        "soak" => soak(bench).await,
        "cold_start_at_limit" => crate::at_limit::cold_start_at_limit(bench).await,
        other => Err(format!("unknown scenario {other}").into()),
    }
}

/// Makes sure an operator with the unlimited budget is running and quiet.
async fn ensure_operator(bench: &mut Bench) -> Result<(), BenchError> {
    if bench.operator.is_none() {
        bench.start_operator(UNLIMITED_RATE, UNLIMITED_BURST)?;
        wait_ready(bench).await?;
    }
    settle(bench, quiet(bench)).await?;
    Ok(())
}

/// GslbServices and health monitors this instance owns on the controller.
pub fn owned_counts(bench: &Bench) -> (u64, u64) {
    let dump = bench.avi.control().dump();
    let count = |kind: &str, owned: &dyn Fn(&Value) -> bool| {
        dump[kind]
            .as_array()
            .map_or(0, |a| a.iter().filter(|o| owned(o)).count() as u64)
    };
    let created_by = format!("amko-{}", crate::setup::UUID);
    (
        count("gslbservice", &|o| o["created_by"] == created_by.as_str()),
        count("healthmonitor", &|o| is_owned_monitor(o, &created_by)),
    )
}

async fn cold_start(bench: &mut Bench) -> Result<Figures, BenchError> {
    // The recorder starts right after the spawn: the new process has no history to subtract.
    bench.start_operator(UNLIMITED_RATE, UNLIMITED_BURST)?;
    let recorder = Recorder::start(bench, "cold_start").await;
    let started = recorder.started();
    let ready_at = wait_ready(bench).await?;
    let quiet_since = settle(bench, quiet(bench)).await?;
    let (gs, hm) = owned_counts(bench);
    let mut figures = recorder
        .finish(bench, Some(quiet_since), Some(gs + hm))
        .await;
    let expected = fqdn_count(&bench.params) as u64;
    figures.notes.push(format!(
        "ready (boot gate open) after {:.2}s; controller holds {gs} GslbServices (expected {expected}) and {hm} monitors; minimum = one create each",
        ready_at.duration_since(started).as_secs_f64()
    ));
    if gs != expected {
        figures
            .notes
            .push(format!("MISMATCH: {gs} GslbServices, expected {expected}"));
    }
    Ok(figures)
}

async fn in_sync_refresh(bench: &mut Bench) -> Result<Figures, BenchError> {
    ensure_operator(bench).await?;
    let control = bench.avi.control().clone();
    let reads =
        |c: &amko_sim::avi::SimControl| c.counters().count(Some("GET"), Some("gslbservice"), None);
    let before = reads(&control);
    let recorder = Recorder::start(bench, "in_sync_refresh").await;
    // Wait for the periodic refresh to start reading the controller, then for it to end.
    let deadline = Instant::now() + Duration::from_secs(bench.params.refresh_secs * 2 + 30);
    while reads(&control) == before {
        if Instant::now() > deadline {
            return Err("no refresh within twice the refresh interval".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refresh_started = Instant::now();
    let mut last = reads(&control);
    let mut last_change = Instant::now();
    while last_change.elapsed() < Duration::from_millis(500) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = reads(&control);
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
    let quiet_since = settle(bench, quiet(bench)).await?;
    let mut figures = recorder.finish(bench, Some(quiet_since), Some(0)).await;
    figures.converged_secs = Some(last_change.duration_since(refresh_started).as_secs_f64());
    figures.notes.push(format!(
        "refresh read {} GslbService pages; time is first to last refresh read",
        last - before
    ));
    Ok(figures)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChangeKind {
    Vip,
    Label,
    Weight,
}

/// One planned change: which object, and the request that makes it.
struct Change {
    kind: ChangeKind,
    fqdn: String,
    url: String,
    body: Value,
}

/// The churn stream: VIP changes (the simulator's VIP family annotation flips v4/v6), label
/// changes (the selected label flips off/on) and weight changes (a GSLBHostRule per FQDN),
/// each kind on its own third of the objects so that every change alters a GslbService.
fn plan_changes(bench: &Bench, count: usize) -> Vec<Change> {
    let p = &bench.params;
    let pools: Vec<Vec<(usize, usize)>> = (0..3)
        .map(|k| {
            (0..p.objects)
                .filter(|o| o % 3 == k)
                .flat_map(|o| (0..p.clusters).map(move |c| (c, o)))
                .collect()
        })
        .collect();
    let mut toggles: HashMap<(usize, usize), u32> = HashMap::new();
    (0..count)
        .filter_map(|i| {
            let kind = i % 3;
            let pool = &pools[kind];
            if pool.is_empty() {
                return None;
            }
            // A stride co-prime with most pool sizes spreads changes over clusters and FQDNs.
            let (cluster, object) = pool[((i / 3) * 7919) % pool.len()];
            let flips = toggles.entry((cluster, object)).or_insert(0);
            *flips += 1;
            let odd = *flips % 2 == 1;
            let fqdn = fqdn_of(p, cluster, object);
            Some(match kind {
                0 => Change {
                    kind: ChangeKind::Vip,
                    url: bench.ingress_url(cluster, object),
                    body: json!({"metadata": {"annotations": {"sim.amko.io/vip-family": if odd { "v6" } else { "v4" }}}}),
                    fqdn,
                },
                1 => Change {
                    kind: ChangeKind::Label,
                    url: bench.ingress_url(cluster, object),
                    body: json!({"metadata": {"labels": {"app": if odd { "off" } else { "gslb" }}}}),
                    fqdn,
                },
                _ => {
                    let rule = format!("w-{}", fqdn.split('.').next().unwrap_or("x"));
                    Change {
                        kind: ChangeKind::Weight,
                        url: format!(
                            "{}/apis/amko.vmware.com/v1alpha1/namespaces/{HOME}/gslbhostrules/{rule}",
                            bench.home_url()
                        ),
                        body: json!({
                            "apiVersion": "amko.vmware.com/v1alpha1", "kind": "GSLBHostRule",
                            "metadata": {"name": rule, "namespace": HOME},
                            "spec": {"fqdn": fqdn, "trafficSplit": [{"cluster": cluster_name(cluster), "weight": 2 + (i % 17)}]}
                        }),
                        fqdn,
                    }
                }
            })
        })
        .collect()
}

/// Changes planned so far: each stream continues where the last one stopped, so that every
/// change flips something (a fresh plan would first repeat what is already in place).
static CHANGES_PLANNED: AtomicUsize = AtomicUsize::new(0);

/// The next `count` changes of the churn stream.
fn next_changes(bench: &Bench, count: usize) -> Vec<Change> {
    let offset = CHANGES_PLANNED.fetch_add(count, Ordering::Relaxed);
    let mut all = plan_changes(bench, offset + count);
    if offset >= all.len() {
        return Vec::new();
    }
    all.split_off(offset)
}

async fn churn(bench: &mut Bench) -> Result<Figures, BenchError> {
    ensure_operator(bench).await?;
    let rate = f64::from(bench.params.churn_rate.max(1));
    let count = (rate * bench.params.churn_secs as f64) as usize;
    let changes = next_changes(bench, count);
    let recorder = Recorder::start(bench, "churn").await;
    let start = tokio::time::Instant::now();
    let bench_ref: &Bench = bench;
    let results: Vec<Result<(usize, u64), BenchError>> =
        futures::stream::iter(changes.iter().enumerate().map(|(i, change)| async move {
            tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
            match change.kind {
                ChangeKind::Weight => bench_ref.apply(&change.url, &change.body).await?,
                _ => bench_ref.merge_patch(&change.url, &change.body).await?,
            }
            Ok((i, now_micros()))
        }))
        .buffer_unordered(512)
        .collect()
        .await;
    let sent_secs = start.elapsed().as_secs_f64();
    let mut acked = Vec::with_capacity(results.len());
    let mut failures = 0;
    for r in results {
        match r {
            Ok(x) => acked.push(x),
            Err(_) => failures += 1,
        }
    }
    let quiet_since = settle(bench, quiet(bench)).await?;
    let audit = recorder.writes_so_far(bench);
    let mut writes_of: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for entry in audit.iter().filter(|e| e.object_type == "gslbservice") {
        writes_of
            .entry(&entry.name)
            .or_default()
            .push(entry.time_micros);
    }
    let mut latencies = Vec::new();
    let mut by_kind: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut unmatched = 0;
    for (i, at) in &acked {
        let next = writes_of
            .get(changes[*i].fqdn.as_str())
            .and_then(|times| times.iter().find(|t| **t >= *at));
        match next {
            Some(t) => {
                let ms = (t - at) as f64 / 1000.0;
                latencies.push(ms);
                by_kind
                    .entry(format!("{:?}", changes[*i].kind))
                    .or_default()
                    .push(ms);
            }
            None => unmatched += 1,
        }
    }
    let per_kind: Vec<String> = by_kind
        .into_iter()
        .filter_map(|(kind, values)| {
            Latencies::from_millis(values, 0)
                .map(|l| format!("{kind} p50 {:.0} / p99 {:.0} ms", l.p50, l.p99))
        })
        .collect();
    // A change that creates or deletes a GslbService also creates or deletes its monitor.
    let monitor_writes = audit
        .iter()
        .filter(|e| e.object_type == "healthmonitor")
        .count() as u64;
    let mut figures = recorder
        .finish(
            bench,
            Some(quiet_since),
            Some(acked.len() as u64 + monitor_writes),
        )
        .await;
    figures.change_to_write_ms = Latencies::from_millis(latencies, unmatched);
    figures
        .notes
        .push(format!("change to write by kind: {}", per_kind.join(", ")));
    figures.notes.push(format!(
        "{} changes sent in {sent_secs:.2}s ({:.0}/s), {failures} failed; minimum = one GslbService write per change plus the monitor writes of GslbServices created or deleted",
        acked.len(),
        acked.len() as f64 / sent_secs.max(0.001)
    ));
    Ok(figures)
}

async fn gdp_edit(bench: &mut Bench) -> Result<Figures, BenchError> {
    ensure_operator(bench).await?;
    let (gs, _) = owned_counts(bench);
    let recorder = Recorder::start(bench, "gdp_edit").await;
    bench.apply_gdp(31).await?;
    let quiet_since = settle(bench, quiet(bench)).await?;
    let mut figures = recorder.finish(bench, Some(quiet_since), Some(gs)).await;
    figures.notes.push(format!(
        "GDP ttl 30 -> 31; minimum = one update per GslbService ({gs})"
    ));
    Ok(figures)
}

async fn restart(bench: &mut Bench) -> Result<Figures, BenchError> {
    ensure_operator(bench).await?;
    bench.operator = None;
    bench.start_operator(UNLIMITED_RATE, UNLIMITED_BURST)?;
    let recorder = Recorder::start(bench, "restart").await;
    let started = recorder.started();
    let ready_at = wait_ready(bench).await?;
    let quiet_since = settle(bench, quiet(bench)).await?;
    let mut figures = recorder.finish(bench, Some(quiet_since), Some(0)).await;
    figures.notes.push(format!(
        "ready after {:.2}s; time = operator start to quiet (boot: list every cluster, read the controller, compare)",
        ready_at.duration_since(started).as_secs_f64()
    ));
    Ok(figures)
}

/// A member cluster's API goes away for a while and comes back. Nothing may be written while it
/// is down (its members are kept); once back, a change in it must reach the controller: the
/// time is from the recovery to that write (the watches' reconnect backoff included).
async fn outage(bench: &mut Bench) -> Result<Figures, BenchError> {
    ensure_operator(bench).await?;
    let victim_index = bench.params.clusters.saturating_sub(1).min(1);
    let victim = cluster_name(victim_index);
    let faults = bench
        .clusters
        .faults(&victim)
        .ok_or("no fault handle for the outage cluster")?;
    let probe = Probe::new(&bench.operator.as_ref().ok_or("no operator")?.listen.clone());
    let disconnected = |samples: &[probe::Sample]| {
        samples.iter().any(|s| {
            s.name == "amko_cluster_connected"
                && probe::label(&s.labels, "cluster") == Some(victim.as_str())
                && s.value == 0.0
        })
    };
    let recorder = Recorder::start(bench, "outage").await;
    faults.set_down(Down::Refused);
    faults.drop_watches();
    let down_deadline = Instant::now() + Duration::from_secs(bench.params.outage_secs);
    let mut noticed = None;
    while Instant::now() < down_deadline {
        if noticed.is_none() && probe.metrics().await.is_some_and(|s| disconnected(&s)) {
            noticed = Some(recorder.started().elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let writes_while_down = recorder.writes_so_far(bench).len();
    faults.set_down(Down::No);
    let recovered = Instant::now();
    let recovered_micros = now_micros();
    // The change after recovery: the victim's first Ingress flips its VIP family.
    let url = bench.ingress_url(victim_index, 0);
    let flip = json!({"metadata": {"annotations": {"sim.amko.io/vip-family": "v6"}}});
    let fqdn = fqdn_of(&bench.params, victim_index, 0);
    let mut patched = false;
    while !patched && recovered.elapsed() < Duration::from_secs(10) {
        patched = bench.merge_patch(&url, &flip).await.is_ok();
        if !patched {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let patched_at = now_micros();
    let deadline = Instant::now() + Duration::from_secs(bench.params.timeout_secs);
    let mut reflected = None;
    while reflected.is_none() && Instant::now() < deadline {
        reflected = recorder
            .writes_so_far(bench)
            .iter()
            .find(|e| {
                e.object_type == "gslbservice" && e.name == fqdn && e.time_micros >= patched_at
            })
            .map(|e| e.time_micros);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let quiet_since = settle(bench, quiet(bench)).await?;
    let mut figures = recorder.finish(bench, Some(quiet_since), Some(1)).await;
    figures.converged_secs = reflected.map(|t| t.saturating_sub(recovered_micros) as f64 / 1e6);
    figures.notes.push(format!(
        "{victim} down {}s (operator noticed after {}), {writes_while_down} writes while down; time = recovery to the write of a change made right after it; minimum = that one update",
        bench.params.outage_secs,
        noticed.map_or("never".to_owned(), |d| format!("{:.2}s", d.as_secs_f64()))
    ));
    Ok(figures)
}

async fn rate_limited(bench: &mut Bench) -> Result<Figures, BenchError> {
    ensure_operator(bench).await?;
    let limit = bench.params.controller_limit;
    bench.avi.control().set_rate_limit(Some(RateLimitConfig {
        rate_per_sec: limit,
        burst: limit.ceil() as u32,
        scope: RateLimitScope::SourceIp,
        delay: true,
    }));
    let budget = bench.params.avi_rate;
    bench.operator = None;
    bench.start_operator(budget, budget.ceil() as u32)?;
    wait_ready(bench).await?;
    settle(bench, quiet(bench)).await?;
    let (gs, _) = owned_counts(bench);
    let recorder = Recorder::start(bench, "rate_limited").await;
    let probe = Probe::new(&bench.operator.as_ref().ok_or("no operator")?.listen.clone());
    bench.apply_gdp(32).await?;
    // The window starts at the first write and lasts while work is queued.
    let control = bench.avi.control().clone();
    let seq = control.audit_len();
    let deadline = Instant::now() + Duration::from_secs(bench.params.timeout_secs);
    while control.audit_len() == seq {
        if Instant::now() > deadline {
            return Err("no write after the GDP edit".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let window_start = Instant::now();
    let requests_at_start = control.counters().total();
    let window = Duration::from_secs(bench.params.rate_window_secs);
    let mut queued_throughout = true;
    while window_start.elapsed() < window {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let w = probe.writer().await.unwrap_or_default();
        if w.queue == 0 && w.in_flight == 0 {
            queued_throughout = false;
            break;
        }
    }
    let window_secs = window_start.elapsed().as_secs_f64();
    let requests = control.counters().total() - requests_at_start;
    let rate = requests as f64 / window_secs;
    let mut figures = if bench.params.smoke || !queued_throughout {
        let quiet_since = settle(bench, quiet(bench)).await?;
        recorder.finish(bench, Some(quiet_since), Some(gs)).await
    } else {
        let mut f = recorder.finish(bench, None, Some(gs)).await;
        f.converged_secs = None;
        f.write_amplification = None;
        f.notes.push(format!(
            "measured over a {window_secs:.1}s window with work queued; not waited for convergence ({gs} updates at {budget}/s)"
        ));
        f
    };
    figures.budget_use = Some(rate / budget);
    figures.notes.push(format!(
        "controller limit {limit}/s, operator budget {budget}/s: {requests} requests in {window_secs:.1}s = {rate:.1}/s{}",
        if queued_throughout { "" } else { " (queue ran empty inside the window)" }
    ));
    bench.avi.control().set_rate_limit(None);
    Ok(figures)
}

// ---------------------------------------------------------------------------------------------
// Crash: SIGKILL at seeded moments, then recovery checked.
// ---------------------------------------------------------------------------------------------

/// SplitMix64: deterministic moments, so that a failing trial replays from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

const FOREIGN_GS: &str = "foreign.bench.example.com";
const FOREIGN_HM: &str = "amko--foreign-bench";
const ORPHAN_GS: &str = "orphan.bench.example.com";

/// A client of the simulated controller, as a user (or another tool) has.
fn avi_client(bench: &Bench) -> Result<amko::avi::AviClient, BenchError> {
    Ok(amko::avi::AviClient::new(amko::avi::AviConnection {
        base_url: bench.avi.base_url().to_owned(),
        username: bench.avi.username().to_owned(),
        password: bench.avi.password().to_owned(),
        version: bench.avi.version().to_owned(),
        tenant: "admin".into(),
        ca_pem: bench.avi.ca_pem().map(str::to_owned),
        insecure_skip_verify: false,
        timeout: Duration::from_secs(30),
    })?)
}

fn created_by() -> String {
    format!("amko-{}", crate::setup::UUID)
}

fn is_owned_monitor(hm: &Value, created_by: &str) -> bool {
    hm["markers"].as_array().into_iter().flatten().any(|m| {
        m["key"] == "created-by"
            && m["values"]
                .as_array()
                .is_some_and(|v| v.iter().any(|x| x == created_by))
    })
}

/// The names of the monitors a GslbService references (`…#<name>` or `…?name=<name>`).
fn referenced_monitors(gs: &Value) -> Vec<String> {
    gs["health_monitor_refs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|r| {
            r.rsplit_once('#')
                .or_else(|| r.rsplit_once("name="))
                .map_or(r, |(_, name)| name)
                .to_owned()
        })
        .collect()
}

/// What is wrong on the controller after a recovery: duplicate names, owned GslbServices other
/// than the `wanted` the operator reports, owned monitors nothing references.
fn controller_problems(bench: &Bench, wanted: f64) -> Vec<String> {
    let dump = bench.avi.control().dump();
    let created_by = created_by();
    let mut problems = Vec::new();
    for kind in ["gslbservice", "healthmonitor"] {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for o in dump[kind].as_array().into_iter().flatten() {
            *seen
                .entry(o["name"].as_str().unwrap_or_default())
                .or_default() += 1;
        }
        problems.extend(
            seen.into_iter()
                .filter(|(_, n)| *n > 1)
                .map(|(name, n)| format!("{kind} {name} exists {n} times")),
        );
    }
    let owned: Vec<&Value> = dump["gslbservice"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["created_by"] == created_by.as_str())
        .collect();
    if owned.len() as f64 != wanted {
        problems.push(format!(
            "{} owned GslbServices, the operator wants {wanted}",
            owned.len()
        ));
    }
    if owned.iter().any(|g| g["name"] == ORPHAN_GS) {
        problems.push(format!("the owned orphan {ORPHAN_GS} is still there"));
    }
    let referenced: BTreeSet<String> = owned.iter().flat_map(|g| referenced_monitors(g)).collect();
    let orphans = dump["healthmonitor"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| is_owned_monitor(m, &created_by))
        .filter(|m| !referenced.contains(m["name"].as_str().unwrap_or_default()))
        .count();
    if orphans > 0 {
        problems.push(format!("{orphans} owned monitors nothing references"));
    }
    problems
}

/// The foreign objects as the controller holds them (compared whole after every trial).
fn foreign_bodies(bench: &Bench) -> Value {
    let dump = bench.avi.control().dump();
    let find = |kind: &str, name: &str| {
        dump[kind]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    json!([
        find("gslbservice", FOREIGN_GS),
        find("healthmonitor", FOREIGN_HM)
    ])
}

/// Creates a GslbService and a monitor someone else owns (the monitor's name and description look
/// like ours); returns their uuids.
async fn plant_foreign(bench: &Bench) -> Result<BTreeSet<String>, BenchError> {
    let client = avi_client(bench)?;
    let mut uuids = BTreeSet::new();
    let existing = foreign_bodies(bench);
    if existing[0].is_object() && existing[1].is_object() {
        for body in existing.as_array().into_iter().flatten() {
            uuids.insert(body["uuid"].as_str().unwrap_or_default().to_owned());
        }
        return Ok(uuids);
    }
    let gs = json!({"name": FOREIGN_GS, "created_by": "someone-else", "domain_names": [FOREIGN_GS],
        "groups": [{"name": "g", "priority": 10, "algorithm": "GSLB_ALGORITHM_ROUND_ROBIN",
                    "members": [{"ip": {"addr": "192.0.2.1", "type": "V4"}, "ratio": 1}]}]});
    let hm = json!({"name": FOREIGN_HM, "type": "HEALTH_MONITOR_HTTP", "is_federated": true,
        "description": format!("created by: amko, gsname: {}", fqdn_of(&bench.params, 0, 0)),
        "markers": [{"key": "created-by", "values": ["someone-else"]}]});
    for (kind, body) in [("gslbservice", gs), ("healthmonitor", hm)] {
        let created = client.create(kind, &body, Some("admin")).await?;
        uuids.insert(created["uuid"].as_str().unwrap_or_default().to_owned());
    }
    Ok(uuids)
}

/// Deletes every object this instance owns on the controller, so the next start is a cold one.
pub async fn wipe_owned(bench: &Bench) -> Result<(), BenchError> {
    let client = avi_client(bench)?;
    let dump = bench.avi.control().dump();
    let created_by = created_by();
    let uuids = |kind: &str, owned: &dyn Fn(&Value) -> bool| -> Vec<String> {
        dump[kind]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| owned(o))
            .filter_map(|o| o["uuid"].as_str().map(str::to_owned))
            .collect()
    };
    let services = uuids("gslbservice", &|o| o["created_by"] == created_by.as_str());
    let monitors = uuids("healthmonitor", &|o| is_owned_monitor(o, &created_by));
    for (kind, list) in [("gslbservice", services), ("healthmonitor", monitors)] {
        let client = &client;
        let results: Vec<Result<(), amko::avi::AviError>> = futures::stream::iter(
            list.into_iter()
                .map(|uuid| async move { client.delete(kind, &uuid, Some("admin")).await }),
        )
        .buffer_unordered(16)
        .collect()
        .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
    }
    Ok(())
}

/// An out-of-band edit of an owned GslbService and an owned GslbService nothing wants, as a
/// refresh must repair.
async fn plant_drift_and_orphan(bench: &Bench, rng: &mut Rng) -> Result<(), BenchError> {
    let client = avi_client(bench)?;
    let created_by = created_by();
    let owned: Vec<Value> = bench.avi.control().dump()["gslbservice"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["created_by"] == created_by.as_str())
        .cloned()
        .collect();
    if !owned.is_empty() {
        let mut edited = owned[rng.below(owned.len() as u64) as usize].clone();
        let uuid = edited["uuid"].as_str().unwrap_or_default().to_owned();
        edited["ttl"] = json!(999);
        client
            .update("gslbservice", &uuid, &edited, Some("admin"))
            .await?;
    }
    let orphan = json!({"name": ORPHAN_GS, "created_by": created_by, "domain_names": [ORPHAN_GS],
        "groups": [{"name": "g", "priority": 10, "algorithm": "GSLB_ALGORITHM_ROUND_ROBIN",
                    "members": [{"ip": {"addr": "192.0.2.9", "type": "V4"}, "ratio": 1}]}]});
    client.create("gslbservice", &orphan, Some("admin")).await?;
    Ok(())
}

/// Kills the operator (SIGKILL: `Child::kill`) once `writes` controller writes followed `mark`,
/// or after `limit`.
async fn kill_after_writes(
    bench: &mut Bench,
    mark: usize,
    writes: usize,
    limit: Duration,
) -> usize {
    let control = bench.avi.control().clone();
    let deadline = Instant::now() + limit;
    while control.audit_len().saturating_sub(mark) < writes && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    bench.operator = None;
    control.audit_len().saturating_sub(mark)
}

/// The operator's `amko_gslb_services` gauge: the GslbServices it wants.
async fn wanted_gslb_services(bench: &Bench) -> Result<f64, BenchError> {
    let probe = Probe::new(&bench.operator.as_ref().ok_or("no operator")?.listen);
    probe
        .metrics()
        .await
        .and_then(|s| {
            s.iter()
                .find(|x| x.name == "amko_gslb_services")
                .map(|x| x.value)
        })
        .ok_or_else(|| "no amko_gslb_services on /metrics".into())
}

async fn crash(bench: &mut Bench) -> Result<Figures, BenchError> {
    ensure_operator(bench).await?;
    let foreign = plant_foreign(bench).await?;
    let foreign_before = foreign_bodies(bench);
    let recorder = Recorder::start(bench, "crash").await;
    let audit_start = bench.avi.control().audit_len();
    let mut rng = Rng(bench.params.crash_seed);
    let mut records = Vec::new();
    let mut failures = Vec::new();
    let mut recovery_writes = Vec::new();
    let mut recovery_secs = Vec::new();
    let limit = Duration::from_secs(bench.params.timeout_secs);
    for trial in 0..bench.params.trials {
        ensure_operator(bench).await?;
        let (gs, hm) = owned_counts(bench);
        let phase = ["cold_start", "churn", "gdp_edit", "refresh"][trial % 4];
        let (moment, written) = match phase {
            "cold_start" => {
                bench.operator = None;
                wipe_owned(bench).await?;
                let expected = gs + hm;
                let k = rng.below(expected + 1) as usize;
                let mark = bench.avi.control().audit_len();
                bench.start_operator(UNLIMITED_RATE, UNLIMITED_BURST)?;
                let written = kill_after_writes(bench, mark, k, limit).await;
                (format!("after write {k} of {expected}"), written)
            }
            "churn" => {
                let rate = f64::from(bench.params.churn_rate.max(1));
                let secs = bench.params.churn_secs as f64;
                let changes = next_changes(bench, (rate * secs) as usize);
                let kill_ms = rng.below((secs * 1000.0) as u64);
                let mark = bench.avi.control().audit_len();
                let operator = bench.operator.take();
                let bench_ref: &Bench = bench;
                let start = tokio::time::Instant::now();
                let stream = futures::stream::iter(changes.iter().enumerate().map(
                    |(i, change)| async move {
                        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate))
                            .await;
                        match change.kind {
                            ChangeKind::Weight => bench_ref.apply(&change.url, &change.body).await,
                            _ => bench_ref.merge_patch(&change.url, &change.body).await,
                        }
                    },
                ))
                .buffer_unordered(512)
                .collect::<Vec<_>>();
                let killer = async move {
                    tokio::time::sleep(Duration::from_millis(kill_ms)).await;
                    drop(operator);
                    bench_ref.avi.control().audit_len().saturating_sub(mark)
                };
                let (sent, written) = tokio::join!(stream, killer);
                let failed = sent.iter().filter(|r| r.is_err()).count();
                (
                    format!(
                        "{kill_ms} ms into {} changes ({failed} failed)",
                        changes.len()
                    ),
                    written,
                )
            }
            "gdp_edit" => {
                let k = rng.below(gs + 1) as usize;
                let mark = bench.avi.control().audit_len();
                bench.apply_gdp(100 + trial as u32).await?;
                let written = kill_after_writes(bench, mark, k, limit).await;
                (format!("after write {k} of {gs}"), written)
            }
            _ => {
                plant_drift_and_orphan(bench, &mut rng).await?;
                let kill_ms = rng.below(bench.params.refresh_secs * 1500);
                let mark = bench.avi.control().audit_len();
                tokio::time::sleep(Duration::from_millis(kill_ms)).await;
                let written = kill_after_writes(bench, mark, 0, limit).await;
                (
                    format!("{kill_ms} ms after planting drift and an orphan"),
                    written,
                )
            }
        };
        // Recovery: restart, ready, quiet.
        let before = bench.avi.control().audit_len();
        let restarted = Instant::now();
        let restarted_micros = now_micros();
        bench.start_operator(UNLIMITED_RATE, UNLIMITED_BURST)?;
        wait_ready(bench).await?;
        let quiet_since = settle(bench, quiet(bench)).await?;
        let recovery = bench.avi.control().audit_since(before as u64);
        // From the restart to its last write (or to quiet when it wrote nothing).
        let took = recovery
            .last()
            .map_or(quiet_since.duration_since(restarted).as_secs_f64(), |e| {
                e.time_micros.saturating_sub(restarted_micros) as f64 / 1e6
            });
        let wanted = wanted_gslb_services(bench).await?;
        let mut problems = controller_problems(bench, wanted);
        // Another restart agrees that the controller holds what is wanted: it writes nothing.
        let mark = bench.avi.control().audit_len();
        bench.operator = None;
        bench.start_operator(UNLIMITED_RATE, UNLIMITED_BURST)?;
        wait_ready(bench).await?;
        settle(bench, quiet(bench)).await?;
        let second = bench.avi.control().audit_len().saturating_sub(mark);
        if second > 0 {
            problems.push(format!("a second restart wrote {second} times"));
        }
        if foreign_bodies(bench) != foreign_before {
            problems.push("a foreign object changed".to_owned());
        }
        let line = format!(
            "trial {trial:>2} {phase:<10} killed {moment} ({written} writes in the phase): recovery {} writes in {took:.2}s to {wanted} GslbServices{}",
            recovery.len(),
            if problems.is_empty() {
                "; checks passed".to_owned()
            } else {
                format!("; FAILED: {}", problems.join("; "))
            }
        );
        println!("  crash {line}");
        if !problems.is_empty() {
            failures.push(line.clone());
        }
        recovery_writes.push(recovery.len() as f64);
        recovery_secs.push(took);
        records.push(json!({
            "trial": trial, "phase": phase, "moment": moment, "phase_writes": written,
            "recovery_writes": recovery.len(), "recovery_secs": took, "wanted": wanted,
            "problems": problems,
        }));
    }
    // No write of the whole campaign touched a foreign object.
    let foreign_writes = bench
        .avi
        .control()
        .audit_since(audit_start as u64)
        .iter()
        .filter(|e| foreign.contains(&e.uuid) || e.name == FOREIGN_GS || e.name == FOREIGN_HM)
        .count();
    if foreign_writes > 0 {
        failures.push(format!("{foreign_writes} writes to foreign objects"));
    }
    let quiet_since = settle(bench, quiet(bench)).await?;
    let mut figures = recorder.finish(bench, Some(quiet_since), None).await;
    let summary = |values: &[f64]| {
        Latencies::from_millis(values.to_vec(), 0).map_or("-".to_owned(), |l| {
            format!("p50 {:.2} / p99 {:.2} / max {:.2}", l.p50, l.p99, l.max)
        })
    };
    figures.notes.push(format!(
        "{} trials (seed {:#x}): recovery writes {}, recovery seconds {}; {} failed; writes to foreign objects: {foreign_writes}",
        bench.params.trials,
        bench.params.crash_seed,
        summary(&recovery_writes),
        summary(&recovery_secs),
        failures.len()
    ));
    figures.trials = records;
    if failures.is_empty() {
        Ok(figures)
    } else {
        Err(format!("crash: {}", failures.join("\n")).into())
    }
}

// ---------------------------------------------------------------------------------------------
// Soak: churn for minutes, RSS and map sizes sampled.
// ---------------------------------------------------------------------------------------------

/// One soak sample.
#[derive(Clone, Debug, Default)]
struct SoakSample {
    secs: f64,
    rss_mib: f64,
    cpu_secs: f64,
    changes: usize,
    writes: usize,
    gslb_services: f64,
    members: f64,
    cluster_objects: f64,
    metric_series: usize,
    /// Writes the operator counted as putting back an out-of-band edit, and as deleting an owned
    /// object nothing wants: in a soak nobody edits the controller, so these are refresh races.
    drift_repairs: f64,
    orphan_deletions: f64,
    /// Messages waiting, over the actors whose depth gauge is not negative.
    mailbox_depth: f64,
    /// Depth gauges below zero (a message handled that was never counted as sent).
    negative_depths: Vec<String>,
}

impl SoakSample {
    fn json(&self) -> Value {
        json!({
            "secs": self.secs, "rss_mib": self.rss_mib, "cpu_secs": self.cpu_secs,
            "changes": self.changes, "writes": self.writes,
            "gslb_services": self.gslb_services, "members": self.members,
            "cluster_objects": self.cluster_objects, "metric_series": self.metric_series,
            "mailbox_depth": self.mailbox_depth, "negative_depths": self.negative_depths,
            "drift_repairs": self.drift_repairs, "orphan_deletions": self.orphan_deletions,
        })
    }

    fn line(&self) -> String {
        format!(
            "t {:>6.0}s RSS {:>6.1} MiB cpu {:>7.1}s changes {:>7} writes {:>7} GslbServices {:>5} members {:>6} objects {:>6} series {:>5} repairs {:>5} orphans {:>5} mailbox {:>4}{}",
            self.secs,
            self.rss_mib,
            self.cpu_secs,
            self.changes,
            self.writes,
            self.gslb_services,
            self.members,
            self.cluster_objects,
            self.metric_series,
            self.drift_repairs,
            self.orphan_deletions,
            self.mailbox_depth,
            if self.negative_depths.is_empty() {
                String::new()
            } else {
                format!(
                    " (depth gauges below zero: {})",
                    self.negative_depths.join(", ")
                )
            }
        )
    }
}

async fn soak_sample(
    probe: &Probe,
    pid: u32,
    started: Instant,
    changes: usize,
    writes: usize,
) -> SoakSample {
    let process = probe::process_figures(pid);
    let samples = probe.metrics().await.unwrap_or_default();
    let gauge = |name: &str| {
        samples
            .iter()
            .filter(|s| s.name == name)
            .fold(0.0, |sum, s| sum + s.value)
    };
    let depths = probe::mailbox_depths(&samples);
    SoakSample {
        secs: started.elapsed().as_secs_f64(),
        rss_mib: process.rss_mib,
        cpu_secs: process.cpu_secs,
        changes,
        writes,
        gslb_services: gauge("amko_gslb_services"),
        members: gauge("amko_gslb_members"),
        cluster_objects: gauge("amko_cluster_objects"),
        metric_series: samples.len(),
        drift_repairs: gauge("amko_drift_repairs_total"),
        orphan_deletions: gauge("amko_orphan_deletions_total"),
        mailbox_depth: depths.iter().map(|(_, d)| d.max(0.0)).sum(),
        negative_depths: depths
            .into_iter()
            .filter(|(_, d)| *d < 0.0)
            .map(|(actor, d)| format!("{actor} {d}"))
            .collect(),
    }
}

/// Least-squares slope of `y` over `x` (per unit of `x`); 0 with fewer than two points.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    if den == 0.0 { 0.0 } else { num / den }
}

async fn soak(bench: &mut Bench) -> Result<Figures, BenchError> {
    ensure_operator(bench).await?;
    let p = bench.params.clone();
    let rate = f64::from(p.soak_rate.max(1));
    let changes = next_changes(bench, (rate * p.soak_secs as f64) as usize);
    let operator = bench.operator.as_ref().ok_or("no operator")?;
    let (pid, probe) = (operator.pid(), Probe::new(&operator.listen));
    let recorder = Recorder::start(bench, "soak").await;
    let control = bench.avi.control().clone();
    let audit_start = control.audit_len();
    let sent = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let started = Instant::now();
    let bench_ref: &Bench = bench;
    let start = tokio::time::Instant::now();
    let stream = async {
        futures::stream::iter(changes.iter().enumerate().map(|(i, change)| {
            let (sent, failed) = (&sent, &failed);
            async move {
                tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
                let result = match change.kind {
                    ChangeKind::Weight => bench_ref.apply(&change.url, &change.body).await,
                    _ => bench_ref.merge_patch(&change.url, &change.body).await,
                };
                match result {
                    Ok(()) => sent.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }))
        .buffer_unordered(512)
        .collect::<Vec<()>>()
        .await;
        done.store(true, Ordering::Relaxed);
    };
    let sampler = async {
        let mut samples = Vec::new();
        let every = Duration::from_secs(p.soak_sample_secs.max(1));
        loop {
            let s = soak_sample(
                &probe,
                pid,
                started,
                sent.load(Ordering::Relaxed),
                control.audit_len().saturating_sub(audit_start),
            )
            .await;
            println!("  soak {}", s.line());
            samples.push(s);
            if done.load(Ordering::Relaxed) {
                return samples;
            }
            let next = started + every * samples.len() as u32;
            while Instant::now() < next && !done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let ((), mut samples) = tokio::join!(stream, sampler);
    let sent_secs = started.elapsed().as_secs_f64();
    let quiet_since = settle(bench, quiet(bench)).await?;
    let end = soak_sample(
        &probe,
        pid,
        started,
        sent.load(Ordering::Relaxed),
        control.audit_len().saturating_sub(audit_start),
    )
    .await;
    println!("  soak {} (quiet)", end.line());
    samples.push(end);
    let audit = recorder.writes_so_far(bench);
    let monitor_writes = audit
        .iter()
        .filter(|e| e.object_type == "healthmonitor")
        .count() as u64;
    let acked = sent.load(Ordering::Relaxed) as u64;
    let mut figures = recorder
        .finish(bench, Some(quiet_since), Some(acked + monitor_writes))
        .await;
    // Growth once warm: the first sample after the warm-up against the last.
    let warm: Vec<&SoakSample> = samples
        .iter()
        .filter(|s| s.secs >= p.soak_warmup_secs as f64)
        .collect();
    if let (Some(first), Some(last)) = (warm.first(), warm.last()) {
        let hours = |s: &SoakSample| s.secs / 3600.0;
        let rss_slope = slope(
            &warm
                .iter()
                .map(|s| (hours(s), s.rss_mib))
                .collect::<Vec<_>>(),
        );
        let max_rss = warm.iter().map(|s| s.rss_mib).fold(0.0, f64::max);
        figures.notes.push(format!(
            "after the {}s warm-up ({:.0}s to {:.0}s, {} samples): RSS {:.1} -> {:.1} MiB (max {:.1}, trend {:+.1} MiB/h); GslbServices {} -> {}, members {} -> {}, cluster objects {} -> {}, metric series {} -> {}",
            p.soak_warmup_secs,
            first.secs,
            last.secs,
            warm.len(),
            first.rss_mib,
            last.rss_mib,
            max_rss,
            rss_slope,
            first.gslb_services,
            last.gslb_services,
            first.members,
            last.members,
            first.cluster_objects,
            last.cluster_objects,
            first.metric_series,
            last.metric_series
        ));
    } else {
        figures
            .notes
            .push("no sample after the warm-up: growth not measured".to_owned());
    }
    // Writes the controller refused (412, 409, …) count as writes above; say how many.
    let mut refused: BTreeMap<u16, usize> = BTreeMap::new();
    for e in audit.iter().filter(|e| !(200..300).contains(&e.status)) {
        *refused.entry(e.status).or_default() += 1;
    }
    figures.notes.push(format!(
        "{acked} changes sent in {sent_secs:.0}s ({:.1}/s), {} failed; {} writes ({monitor_writes} monitor; refused by status: {refused:?}); minimum = one GslbService write per change plus the monitor writes",
        acked as f64 / sent_secs.max(0.001),
        failed.load(Ordering::Relaxed),
        audit.len()
    ));
    figures.samples = samples.iter().map(SoakSample::json).collect();
    Ok(figures)
}
