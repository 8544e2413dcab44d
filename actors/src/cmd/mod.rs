//! One module per `amko` subcommand.

pub mod crds;
pub mod demo;
pub mod federate;
pub mod run;
pub mod sim;
