//! `amko crds`: print the CRD manifests, or write one file per CRD (as in `charts/amko/crds/`).

use std::path::PathBuf;

/// Arguments of `amko crds`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write `<plural>.amko.vmware.com.yaml` files into this directory instead of printing.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    match args.out_dir {
        None => print!("{}", amko::crd::render_yaml()?),
        Some(dir) => {
            for (file, text) in amko::crd::crd_files()? {
                let path = dir.join(file);
                std::fs::write(&path, text)
                    .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
            }
        }
    }
    Ok(())
}
