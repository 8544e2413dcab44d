//! Many-cluster benchmark: the real `amko run` binary (a child process, so its RSS and CPU are
//! its own) against simulated member clusters and a simulated Avi controller (in this process).
//! Runs the scenarios in order and prints a table; writes `target/many_clusters.json` and
//! `target/many_clusters.svg`. No figure is asserted.
//!
//! Full size: `cargo bench -p amko-actors --bench many_clusters`
//! Smoke (CI): `cargo test -p amko-actors --bench many_clusters -- --smoke`
//! Parameters: `cargo bench -p amko-actors --bench many_clusters -- --help`
//!
//! Layout: `params` (flags), `setup` (simulators, objects, operator process), `probe` (metrics,
//! /proc), `measure` (recorder, quiet detection), `scenarios`, `report` (table, JSON, SVG).

#[path = "many_clusters/at_limit.rs"]
mod at_limit;
#[path = "many_clusters/measure.rs"]
mod measure;
#[path = "many_clusters/params.rs"]
mod params;
#[path = "many_clusters/probe.rs"]
mod probe;
#[path = "many_clusters/report.rs"]
mod report;
#[path = "many_clusters/scenarios.rs"]
mod scenarios;
#[path = "many_clusters/setup.rs"]
mod setup;

use std::path::PathBuf;

// The simulators in this process stand in for a controller and API servers on other machines;
// under glibc's allocator they spent a quarter of their time faulting in pages that malloc had
// just returned to the kernel (rendering each answer clones the stored object), time taken from
// the operator on a 2-core machine. jemalloc, as in the operator, keeps those pages.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use std::time::Instant;

use clap::Parser;

use crate::params::Params;
use crate::setup::{Bench, BenchError};

fn main() {
    let params = Params::parse();
    // `cargo test --all-targets` runs bench targets without `--bench`: the full benchmark takes
    // minutes, so it only runs from `cargo bench` or when asked for the smoke mode.
    if !params.bench && !params.smoke {
        println!("many_clusters: skipped (run with `cargo bench` or `-- --smoke`)");
        return;
    }
    let params = if params.smoke { params.smoke() } else { params };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("many_clusters: no runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(params)) {
        eprintln!("many_clusters: {e}");
        std::process::exit(1);
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

async fn run(params: Params) -> Result<(), BenchError> {
    println!(
        "many_clusters: {} clusters × {} Ingresses, each FQDN in {} clusters ({} FQDNs); machine: {}",
        params.clusters,
        params.objects,
        params.overlap,
        setup::fqdn_count(&params),
        report::machine()
    );
    let mut bench = Bench::start(params.clone()).await?;
    bench.install().await?;
    let load = Instant::now();
    let created = bench.load_objects(params.load_concurrency).await?;
    println!(
        "loaded {created} Ingresses in {:.1}s",
        load.elapsed().as_secs_f64()
    );
    let mut all = Vec::new();
    let mut failure = None;
    for name in &params.scenarios {
        println!("scenario {name} …");
        match scenarios::run(&mut bench, name).await {
            Ok(figures) => {
                println!("{}", report::table(std::slice::from_ref(&figures)));
                all.push(figures);
            }
            Err(e) => {
                failure = Some(format!("scenario {name}: {e}"));
                break;
            }
        }
    }
    println!("\n{}", report::table(&all));
    let dir = target_dir();
    std::fs::create_dir_all(&dir)?;
    let suffix = if params.smoke { "-smoke" } else { "" };
    let json_path = dir.join(format!("many_clusters{suffix}.json"));
    let svg_path = dir.join(format!("many_clusters{suffix}.svg"));
    report::write_json(&json_path, &params, &all)?;
    std::fs::write(&svg_path, report::svg(&all))?;
    println!("wrote {} and {}", json_path.display(), svg_path.display());
    bench.shutdown().await;
    match failure {
        Some(f) => Err(f.into()),
        None => Ok(()),
    }
}
