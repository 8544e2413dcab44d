//! Simulators for tests, demos and benchmarks: member-cluster Kubernetes API servers (with AKO
//! emulation) and an Avi GSLB leader controller.

pub mod avi;
pub mod k8s;
