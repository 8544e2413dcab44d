//! The `cold_start_at_limit` scenario: a cold start (no owned object on the controller) against a
//! controller limited to `--controller-limit` requests/s, the operator's budget at `--avi-rate`,
//! timed against the least the budget allows: `minimum requests / budget`. Counts every request
//! the controller answered, by method and object type, so what adds to the minimum is named.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use amko_sim::avi::{CounterSnapshot, RateLimitConfig, RateLimitScope};

use crate::measure::{Figures, Recorder, settle, wait_ready};
use crate::scenarios::{owned_counts, quiet, wipe_owned};
use crate::setup::{Bench, BenchError, fqdn_count};

/// Requests no cold start can do without, besides one create per GslbService and per monitor:
/// one login, the GSLB leader check (`GET cluster`, `GET gslb`: writing to a follower is refused),
/// and one page of each listing the boot reads from an empty controller (owned GslbServices,
/// managed health monitors, federated PKI profiles).
pub const BOOT_MINIMUM: u64 = 1 + 2 + 3;

/// Requests by "METHOD type" between two counter snapshots.
fn requests_between(before: &CounterSnapshot, after: &CounterSnapshot) -> BTreeMap<String, u64> {
    let mut by_kind = BTreeMap::new();
    for entry in &after.entries {
        let earlier = before.count(
            Some(&entry.method),
            Some(&entry.object_type),
            Some(entry.status),
        );
        let n = entry.count.saturating_sub(earlier);
        if n > 0 {
            *by_kind
                .entry(format!("{} {}", entry.method, entry.object_type))
                .or_insert(0) += n;
        }
    }
    by_kind
}

pub async fn cold_start_at_limit(bench: &mut Bench) -> Result<Figures, BenchError> {
    // A cold start: no operator, nothing owned on the controller (earlier scenarios may have run).
    bench.operator = None;
    bench.avi.control().set_rate_limit(None);
    wipe_owned(bench).await?;
    let limit = bench.params.controller_limit;
    bench.avi.control().set_rate_limit(Some(RateLimitConfig {
        rate_per_sec: limit,
        burst: limit.ceil() as u32,
        scope: RateLimitScope::SourceIp,
        delay: true,
    }));
    let budget = bench.params.avi_rate;
    let before = bench.avi.control().counters();
    let spawned = Instant::now();
    bench.start_operator(budget, budget.ceil() as u32)?;
    let recorder = Recorder::start(bench, "cold_start_at_limit").await;
    let recorder_started = recorder.started();
    let ready_at = wait_ready(bench).await?;
    let quiet_since = match bench.params.at_limit_cutoff_secs {
        None => Some(settle(bench, quiet(bench)).await?),
        Some(cutoff) => {
            let left = Duration::from_secs(cutoff).saturating_sub(spawned.elapsed());
            match tokio::time::timeout(left, settle(bench, quiet(bench))).await {
                Ok(settled) => Some(settled?),
                Err(_) => None,
            }
        }
    };
    let after = bench.avi.control().counters();
    let (gs, hm) = owned_counts(bench);
    let mut figures = recorder.finish(bench, quiet_since, Some(gs + hm)).await;
    bench.avi.control().set_rate_limit(None);

    let requests = requests_between(&before, &after);
    let total: u64 = requests.values().sum();
    let minimum = gs + hm + BOOT_MINIMUM;
    let floor_secs = minimum as f64 / budget;
    // The recorder started a moment after the spawn; its converged time is from its start.
    let lag = recorder_started.duration_since(spawned).as_secs_f64();
    let from_start = figures.converged_secs.map(|s| s + lag);
    let ready_secs = ready_at.duration_since(spawned).as_secs_f64();
    figures.converged_secs = from_start;
    figures.budget_use = from_start.map(|s| total as f64 / s / budget);
    let ratio = |secs: f64| secs / floor_secs;
    let expected = fqdn_count(&bench.params) as u64;
    figures.notes.push(format!(
        "controller limit {limit}/s, operator budget {budget}/s; minimum requests {minimum} = {gs} GslbService + {hm} monitor creates + {BOOT_MINIMUM} (login, leader check: GET cluster + GET gslb, one page of each of the 3 boot listings); floor = minimum / budget = {floor_secs:.1}s"
    ));
    figures.notes.push(format!(
        "requests answered: {total} (excess {}), {}",
        total as i64 - minimum as i64,
        requests
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let part = if quiet_since.is_none() {
        " (CUT OFF before convergence: the part written so far, its minimum and floor)"
    } else {
        ""
    };
    match from_start {
        Some(secs) => figures.notes.push(format!(
            "TAKE{part}: process start to last write {secs:.1}s = {:.3} × floor; ready after {ready_secs:.1}s, ready to last write {:.1}s = {:.3} × floor",
            ratio(secs),
            secs - ready_secs,
            ratio(secs - ready_secs)
        )),
        None => figures.notes.push("no write".to_owned()),
    }
    if gs != expected {
        figures
            .notes
            .push(format!("MISMATCH: {gs} GslbServices, expected {expected}"));
    }
    Ok(figures)
}
