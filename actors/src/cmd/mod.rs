//! One module per `amko` subcommand.

pub mod crds;
pub mod run;
pub mod sim;
