//! End-to-end: the faults of docs/reliability.md's matrix that no other test drives through
//! `amko run`: a member cluster's watches dropped, re-watches answered 410 Gone (the watchers must
//! list again), and the controller's GSLB maintenance mode. Each checks that no change is lost and
//! that nothing else is written, and prints what recovery took (measured, not asserted).

mod harness;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use harness::{Env, EnvOptions, gdp};
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::json;

async fn start(name: &str) -> Env {
    let gdp = gdp(&["cluster1", "cluster2"], json!({}));
    Env::start(name, EnvOptions::clusters(2).install(gdp).run(&[])).await
}

/// The GslbService names written after audit mark `mark` (failed attempts included).
fn gs_written_since(env: &Env, mark: usize) -> BTreeSet<String> {
    env.audit_since(mark)
        .into_iter()
        .filter(|e| e.object_type == "gslbservice")
        .map(|e| e.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_watches_and_410_gone_lose_no_change_and_rewrite_nothing_else() {
    let env = start("watch-faults").await;
    for host in ["steady.example.com", "moves.example.com"] {
        for cluster in ["cluster1", "cluster2"] {
            let name = host.split('.').next().unwrap_or("web");
            env.create_gslb_ingress(cluster, "shop", name, host).await;
        }
    }
    env.eventually("both GslbServices with two members", || async {
        env.has_gs_with_members("steady.example.com", 2)
            && env.has_gs_with_members("moves.example.com", 2)
    })
    .await;
    let faults = env.clusters.faults("cluster2").expect("cluster2");

    // The watches end; a change made right after must still arrive (the re-watch resumes from
    // the last version seen).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mark = env.writes();
    faults.drop_watches();
    let dropped = Instant::now();
    env.delete::<Ingress>("cluster2", "shop", "moves").await;
    env.eventually("the change made after the drop arrived", || async {
        env.has_gs_with_members("moves.example.com", 1)
    })
    .await;
    let after_drop = dropped.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        gs_written_since(&env, mark),
        BTreeSet::from(["moves.example.com".to_owned()]),
        "after a dropped watch only the changed GslbService is written\n{}",
        env.log()
    );
    let drop_writes = env.writes() - mark;

    // Re-watches are answered 410 Gone: the watchers list again. Changes made meanwhile arrive,
    // and the relist rewrites nothing that did not change.
    let mark = env.writes();
    // The event history is forgotten and the watches end: every resume gets 410 Gone.
    faults.expire_history();
    let gone = Instant::now();
    env.create_gslb_ingress("cluster2", "shop", "moves", "moves.example.com")
        .await;
    env.create_gslb_ingress("cluster2", "shop", "fresh", "fresh.example.com")
        .await;
    env.eventually("the changes made around the 410 arrived", || async {
        env.has_gs_with_members("moves.example.com", 2)
            && env.has_gs_with_members("fresh.example.com", 1)
    })
    .await;
    let after_gone = gone.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        gs_written_since(&env, mark),
        BTreeSet::from([
            "fresh.example.com".to_owned(),
            "moves.example.com".to_owned()
        ]),
        "after a 410 only the changed GslbServices are written\n{}",
        env.log()
    );
    assert!(
        env.has_gs_with_members("steady.example.com", 2),
        "{}",
        env.log()
    );
    println!(
        "dropped watch: change arrived after {:.2}s with {drop_writes} writes; 410 Gone: changes arrived after {:.2}s with {} writes {:?}",
        after_drop.as_secs_f64(),
        after_gone.as_secs_f64(),
        env.writes() - mark,
        env.writes_since(mark)
    );
    harness::remove_dir(&env.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_mode_holds_every_write_and_resumes_without_loss() {
    let env = start("maintenance").await;
    env.create_gslb_ingress("cluster1", "shop", "web", "before.example.com")
        .await;
    env.eventually("written before maintenance", || async {
        env.has_gs_with_members("before.example.com", 1)
    })
    .await;
    let control = env.avi.control();
    control.set_maintenance(true).expect("maintenance on");
    let mark = env.writes();
    for i in 0..4 {
        env.create_gslb_ingress(
            "cluster2",
            "shop",
            &format!("w{i}"),
            &format!("held{i}.example.com"),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let attempts = env.audit_since(mark);
    assert!(
        attempts.iter().all(|e| e.status >= 400),
        "a write succeeded in maintenance mode: {attempts:?}"
    );
    // How often it tried is measured, not asserted (the hold's backoff is time): printed below.
    control.set_maintenance(false).expect("maintenance off");
    let resumed = Instant::now();
    env.eventually_within(
        "all four written after maintenance",
        Duration::from_secs(90),
        || async { (0..4).all(|i| env.has_gs_with_members(&format!("held{i}.example.com"), 1)) },
    )
    .await;
    let after = resumed.elapsed();
    let names: Vec<String> = env
        .gslb_services()
        .iter()
        .filter_map(|g| g["name"].as_str().map(str::to_owned))
        .collect();
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "duplicates: {names:?}");
    println!(
        "maintenance: {} failed attempts in 3 s while on ({:?}); all written {:.2}s after it ended; {} writes in all",
        attempts.len(),
        attempts
            .iter()
            .map(|e| e.time_micros.saturating_sub(attempts[0].time_micros) / 1000)
            .collect::<Vec<_>>(),
        after.as_secs_f64(),
        env.writes() - mark
    );
    harness::remove_dir(&env.dir);
}

/// KNOWN DEFECT (found by the soak campaign, not fixed here: the fix belongs in
/// actors/src/telemetry.rs or in the actors that handle stream items, owned by other work): the
/// cluster, policy, status and avi actors count a handled message for watch events, timers and
/// replies that were never counted as sent, so `amko_mailbox_depth` for them falls below zero
/// and keeps falling (at 20,000 objects: cluster −34,707 after 270 s of churn). A negative gauge
/// hides a real queue in any sum over actors. Run with `--ignored` to see it fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known defect: mailbox depth gauges fall below zero (see the comment)"]
async fn mailbox_depth_gauges_never_fall_below_zero() {
    let env = start("mailbox-depth").await;
    env.create_gslb_ingress("cluster1", "shop", "web", "depth.example.com")
        .await;
    env.eventually("written", || async {
        env.has_gs_with_members("depth.example.com", 1)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let metrics = env.metrics().await;
    let negative: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("amko_mailbox_depth{"))
        .filter(|l| {
            l.rsplit_once(' ')
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .is_some_and(|v| v < 0.0)
        })
        .collect();
    assert!(negative.is_empty(), "depth gauges below zero: {negative:?}");
    harness::remove_dir(&env.dir);
}
