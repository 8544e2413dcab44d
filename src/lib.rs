//! amko-rs core library: everything that is neither an actor nor a simulator. CRDs, policy
//! validation and selection, ingest of member-cluster objects, the GslbService model, and the I/O
//! adapters the operator needs (Avi client, member kubeconfig, lease). Nothing here depends on actix
//! or on the simulators (crate `amko-sim`); the `amko-actors` crate wires these pieces into actors.
#![forbid(unsafe_code)]

pub mod avi;
pub mod crd;
pub mod dns_verify;
pub mod explain_report;
pub mod federation;
pub mod fuzzing;
pub mod gate;
pub mod ingest;
pub mod lease;
pub mod liveness;
pub mod members;
pub mod model;
pub mod page;
pub mod plan_report;
pub mod policy;
pub mod redact;
pub mod state;
pub mod vocab;

/// The exit code of every reporting command (`plan`, `explain`, `verify-dns`) that could not
/// report: bad flags or input, a cluster or the controller out of reach, a subject not found.
/// Each report adds its own codes for the answers it gives.
pub const EXIT_ERROR: u8 = 1;
