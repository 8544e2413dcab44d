//! Model: the desired GslbService and health monitors for one `tenant/fqdn`, their canonical JSON
//! payloads, and the comparison against what the controller returns.

pub mod build;
#[cfg(test)]
mod build_tests;
pub mod compare;
pub mod health;
pub mod identity;
pub mod payload;
pub mod plan;

pub use build::{DesiredGs, GsInputs, build_gslb_service, uses_fallback_pki};
