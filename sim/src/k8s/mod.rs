//! Simulated member clusters: a Kubernetes API server that kubectl, helm and kube-rs accept, with
//! AKO emulation.
//!
//! Start with [`SimClusters::start`]: each cluster gets a base URL, [`SimClusters::kubeconfig`]
//! describes them, [`SimClusters::faults`] injects failures, [`ako`] predicts VIPs and UUIDs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use amko::sim::k8s::{ClusterSpec, Down, SimClusters, SimConfig, VipFamily, ako};
//! let config = SimConfig {
//!     clusters: vec![ClusterSpec::new("east"), ClusterSpec::new("ocp").openshift().vip_family(VipFamily::Dual)],
//!     ..Default::default()
//! };
//! let sim = SimClusters::start(config).await?;
//! sim.write_kubeconfig(std::path::Path::new("/tmp/members.kubeconfig"))?;
//! let east = sim.server_url("east").unwrap_or_default(); // http://127.0.0.1:PORT
//! let vip = ako::vip_for("east", "shop", "web", "shop.example.com", ako::IpFamily::V4);
//! if let Some(faults) = sim.faults("east") {
//!     faults.set_down(Down::Refused); // later: Down::No
//! }
//! # let _ = (east, vip);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The same fault controls are served over HTTP under `<control_url>/sim/` (see `control`).
//!
//! Layout: `store` keeps objects and events; `ops` implements the verbs with the metadata rules;
//! `admission`, `crd`, `schema` + `cel_rules` validate and default; `patch` merges; `controllers`
//! and `ako` react to writes; `pod_logs` holds the text `pods/log` serves; `pod_proxy` forwards `pods/proxy` to `status.podIP`; `request`, `handlers`, `table`, `watch`, `discovery`, `protobuf`
//! speak HTTP; `faults` + `control` inject failures; `server`, `tls`, `kubeconfig` run it all.

mod admission;
pub mod ako;
mod cel_rules;
mod cluster;
pub mod config;
mod control;
mod controllers;
mod crd;
mod discovery;
pub mod error;
pub mod faults;
mod handlers;
mod ids;
mod json_util;
mod kubeconfig;
mod ops;
mod patch;
mod pod_logs;
mod pod_proxy;
mod protobuf;
mod request;
pub mod request_log;
mod resources;
mod schema;
mod selectors;
mod server;
mod store;
mod table;
mod tls;
mod watch;

pub use config::{AkoSettings, ClusterSpec, Listen, SimConfig, VipFamily, WatchSettings};
pub use discovery::KUBERNETES_VERSION;
pub use faults::{Down, FaultSettings};
pub use kubeconfig::ClusterEndpoint;
pub use request_log::RbacRequest;
pub use server::{FaultHandle, SimClusters, SimError};
