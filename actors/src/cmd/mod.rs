//! One module per `amko` subcommand.

pub mod bundle_archive;
pub mod clusters;
pub mod crds;
#[cfg(feature = "sim")]
pub mod demo;
pub mod error;
pub mod explain;
pub mod federate;
pub mod plan;
pub mod plugin;
pub mod run;
#[cfg(feature = "sim")]
pub mod sim;
pub mod support_bundle;
pub mod verify_dns;
