//! The scenarios, in the order they build on each other: cold start, in-sync refresh, churn, a
//! GDP edit touching every GslbService, a restart with nothing changed, a member cluster outage
//! and recovery, and a rate-limited controller. Each returns its figures.

use std::collections::{BTreeMap, HashMap};
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

fn quiet(bench: &Bench) -> Duration {
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
fn owned_counts(bench: &Bench) -> (u64, u64) {
    let dump = bench.avi.control().dump();
    let count = |kind: &str, owned: &dyn Fn(&Value) -> bool| {
        dump[kind]
            .as_array()
            .map_or(0, |a| a.iter().filter(|o| owned(o)).count() as u64)
    };
    let created_by = format!("amko-{}", crate::setup::UUID);
    (
        count("gslbservice", &|o| o["created_by"] == created_by.as_str()),
        count("healthmonitor", &|o| {
            o["name"].as_str().is_some_and(|n| n.starts_with("amko--"))
        }),
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

async fn churn(bench: &mut Bench) -> Result<Figures, BenchError> {
    ensure_operator(bench).await?;
    let rate = f64::from(bench.params.churn_rate.max(1));
    let count = (rate * bench.params.churn_secs as f64) as usize;
    let changes = plan_changes(bench, count);
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
