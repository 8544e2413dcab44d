//! `amko crds`: print the CRD manifests (the same text as `charts/amko/crds/`).

/// Arguments of `amko crds`.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<(), Box<dyn std::error::Error>> {
    Err("CRDs are not generated yet".into())
}
