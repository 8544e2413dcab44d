//! How long the real `amko plan` takes at scale: the many-cluster benchmark's world (by default
//! 100 clusters × 200 Ingresses = 20,000 objects, 4,000 FQDNs) built with that benchmark's own
//! setup, then `amko plan` timed three times: against an empty controller (everything to create),
//! against the controller `amko run` converged (in sync), and with a proposed GDP that changes
//! every GslbService's TTL. Prints one line per figure; `docs/plan.md` quotes them.
//!
//! `cargo bench -p amko-actors --bench plan_scale [-- --clusters 10 --objects 20]`; `-- --smoke`
//! (3 clusters × 20 Ingresses) also runs under `cargo test`.

#[allow(dead_code)]
#[path = "../../benches/many_clusters/params.rs"]
mod params;
#[allow(dead_code)]
#[path = "../../benches/many_clusters/setup.rs"]
mod setup;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};

use params::Params;
use setup::{Bench, BenchError, HOME, UUID, cluster_name, fqdn_count};

/// Runs `amko plan` (with `extra`), returning its exit code, wall time and JSON report.
fn timed_plan(bench: &Bench, extra: &[&str]) -> Result<(i32, Duration, Value), BenchError> {
    let members = bench.dir.join("plan-members-kubeconfig");
    std::fs::copy(&bench.kubeconfig, &members)?;
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_amko"))
        .arg("plan")
        .arg("--kubeconfig")
        .arg(&bench.kubeconfig)
        .args(["--context", "cluster1", "--namespace", HOME])
        .arg("--members-kubeconfig")
        .arg(&members)
        .args(["--output", "json"])
        .args(extra)
        .env("AMKO_LOG", "warn")
        .stdin(Stdio::null())
        .output()?;
    let took = started.elapsed();
    let report: Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "amko plan printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    Ok((output.status.code().unwrap_or(-1), took, report))
}

fn owned_gslb_services(bench: &Bench) -> usize {
    let created_by = format!("amko-{UUID}");
    bench.avi.control().dump()["gslbservice"]
        .as_array()
        .map_or(0, |a| {
            a.iter()
                .filter(|o| o["created_by"] == created_by.as_str())
                .count()
        })
}

fn line(what: &str, code: i32, took: Duration, report: &Value) {
    println!(
        "plan_scale {what}: {:.2} s, exit code {code}, summary {}",
        took.as_secs_f64(),
        report["summary"]
    );
}

async fn run(params: Params) -> Result<(), BenchError> {
    let mut bench = Bench::start(params.clone()).await?;
    bench.install().await?;
    let objects = bench.load_objects(params.load_concurrency).await?;
    println!(
        "plan_scale world: {} clusters, {objects} Ingresses, {} FQDNs",
        params.clusters,
        fqdn_count(&params)
    );

    let (code, took, report) = timed_plan(&bench, &[])?;
    line("empty controller", code, took, &report);

    bench.start_operator(1_000_000.0, 1_000_000)?;
    let deadline = Instant::now() + Duration::from_secs(900);
    while owned_gslb_services(&bench) < fqdn_count(&params) {
        if Instant::now() > deadline {
            return Err(format!("not converged: {}", bench.log_tail(20)).into());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Quiet for 3 s: the writer is done.
    let mut last = bench.avi.control().audit_len();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = bench.avi.control().audit_len();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    bench.operator = None;
    let writes = bench.avi.control().audit_len();

    let (code, took, report) = timed_plan(&bench, &[])?;
    line("in sync", code, took, &report);

    let clusters: Vec<Value> = (0..params.clusters)
        .map(|c| json!({"cluster": cluster_name(c)}))
        .collect();
    let gdp = json!({
        "apiVersion": "amko.vmware.com/v1alpha2", "kind": "GlobalDeploymentPolicy",
        "metadata": {"name": "global-gdp", "namespace": HOME},
        "spec": {
            "matchRules": {"appSelector": {"label": {"app": "gslb"}}},
            "matchClusters": clusters,
            "ttl": 60
        }
    });
    let file = bench.dir.join("new-gdp.yaml");
    std::fs::write(&file, format!("{gdp:#}\n"))?;
    let file = file.display().to_string();
    let (code, took, report) = timed_plan(&bench, &["-f", &file])?;
    line(
        "proposed GDP (TTL of every GslbService)",
        code,
        took,
        &report,
    );
    println!(
        "plan_scale controller writes during the plans: {}",
        bench.avi.control().audit_len() - writes
    );
    bench.shutdown().await;
    Ok(())
}

fn main() {
    let params = Params::parse();
    // `cargo test --all-targets` runs bench targets without `--bench`: building the world takes
    // minutes, so, like many_clusters, it runs only from `cargo bench` or with `-- --smoke`.
    if !params.bench && !params.smoke {
        println!("plan_scale: skipped (run with `cargo bench` or `-- --smoke`)");
        return;
    }
    let params = if params.smoke { params.smoke() } else { params };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("plan_scale: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(params)) {
        eprintln!("plan_scale: {e}");
        std::process::exit(1);
    }
}
