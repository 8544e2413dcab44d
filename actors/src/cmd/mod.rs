//! One module per `amko` subcommand.

pub mod crds;
pub mod demo;
pub mod run;
pub mod sim;
