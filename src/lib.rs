//! amko-rs core library: everything that is not an actor. CRDs, policy validation and selection,
//! ingest of member-cluster objects, the GslbService model, the Avi client and the simulators.
//! Nothing here depends on actix; the `amko-actors` crate wires these pieces into actors.
#![forbid(unsafe_code)]

pub mod avi;
pub mod crd;
pub mod federation;
pub mod ingest;
pub mod lease;
pub mod members;
pub mod model;
pub mod policy;
pub mod sim;
pub mod state;
