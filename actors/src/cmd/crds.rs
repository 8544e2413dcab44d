//! `amko crds`: print the CRD manifests, or write one file per CRD (as in `charts/amko/crds/`).

use std::path::PathBuf;

use super::error::CmdError;

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
                std::fs::write(&path, text).map_err(CmdError::write(&path))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_dir_receives_one_file_per_crd() {
        let dir = std::env::temp_dir().join(format!("amko-crds-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        run(Args {
            out_dir: Some(dir.clone()),
        })
        .expect("crds written");
        let expected = amko::crd::crd_files().expect("CRDs render");
        for (file, text) in &expected {
            let written = std::fs::read_to_string(dir.join(file)).expect("file written");
            assert_eq!(&written, text, "{file}");
        }
        let count = std::fs::read_dir(&dir).expect("dir").count();
        assert_eq!(count, expected.len());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn missing_out_dir_is_an_error_naming_the_path() {
        let dir =
            std::env::temp_dir().join(format!("amko-crds-missing-{}/sub", std::process::id()));
        let err = run(Args {
            out_dir: Some(dir.clone()),
        })
        .expect_err("directory does not exist");
        assert!(
            err.to_string().contains(&dir.display().to_string()),
            "{err}"
        );
    }
}
