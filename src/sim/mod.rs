//! Simulators for tests, demos and benchmarks: member-cluster Kubernetes API servers (with AKO
//! emulation) and an Avi GSLB leader controller; `scenario` installs amko-rs into them as the chart
//! would.

pub mod avi;
pub mod k8s;
pub mod scenario;
