//! Policy: validation of the GDP, GSLBHostRules and GSLBConfig, and the compiled rules that
//! selection and model building use.
//!
//! Entry points: [`accept_gslb_config`], [`accept_gdp`], [`accept_host_rule`]. Each runs the
//! checks in AMKO's documented order and returns the first [`PolicyError`] or the compiled form.

pub mod compile;
pub mod config;
pub mod error;
pub mod hostrule_index;
pub mod in_force;
pub mod lookup;
pub mod select;
pub mod validate;

pub use compile::{accept_gdp, accept_gslb_config, accept_host_rule};
pub use config::{ControllerSettings, GslbConfigSettings, LogLevel};
pub use error::{DownResponseProblem, ObjectRef, PolicyError, PoolAlgorithmProblem, Problem};
pub use lookup::{ControllerLookup, ControllerSnapshot, HealthMonitorFacts, ProfileDefect};

#[cfg(test)]
mod in_force_tests;
#[cfg(test)]
mod tests;
