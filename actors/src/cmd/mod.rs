//! One module per `amko` subcommand.

pub mod crds;
pub mod sim;
