//! amko-sim: the simulators behind `amko sim`, `amko demo`, the tests and the benchmarks.
//! Member-cluster Kubernetes API servers (with AKO emulation), an Avi GSLB leader controller, and
//! `scenario`, which installs amko-rs into them as the chart would. The operator never links this
//! crate in production builds; it depends on `amko` only for the CRDs the scenario installs.
#![forbid(unsafe_code)]

pub mod avi;
pub mod k8s;
pub mod scenario;
