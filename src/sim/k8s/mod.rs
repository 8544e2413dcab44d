//! Simulated member clusters: a Kubernetes API server that kubectl, helm and kube-rs accept, with
//! AKO emulation.
//!
//! Start with [`SimClusters::start`]: each cluster gets a base URL, [`SimClusters::kubeconfig`]
//! describes them, [`SimClusters::faults`] injects failures, [`ako`] predicts VIPs and UUIDs.
//!
//! Layout: `store` keeps objects and events; `ops` implements the verbs with the metadata rules;
//! `admission`, `crd`, `schema` + `cel_rules` validate and default; `patch` merges; `controllers`
//! and `ako` react to writes; `request`, `handlers`, `table`, `watch`, `discovery`, `protobuf`
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
mod kubeconfig;
mod ops;
mod patch;
mod protobuf;
mod request;
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
pub use server::{FaultHandle, SimClusters, SimError};
