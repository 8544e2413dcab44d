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

use std::fmt::Display;
use std::io::Write as _;
use std::process::ExitCode;

use run::{LogFormat, init_logging};

pub use amko::EXIT_ERROR;

/// Runs a reporting command: logs go to stderr; `compute` builds the report and `render` turns it
/// into stdout's text and the exit code. An error goes to stderr (and, with `json`, to stdout as
/// `{"error", "exit_code"}` so a pipeline parsing JSON still gets JSON) with exit code 1.
pub fn report<R, E: Display>(
    log_format: LogFormat,
    json: bool,
    compute: impl FnOnce() -> Result<R, E>,
    render: impl FnOnce(R) -> (String, u8),
) -> ExitCode {
    if let Err(err) = init_logging(log_format) {
        eprintln!("amko: {err}");
        return ExitCode::from(EXIT_ERROR);
    }
    match compute() {
        Ok(report) => {
            let (text, code) = render(report);
            // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::from(code)
        }
        Err(err) => {
            eprintln!("amko: {err}");
            if json {
                let answer = serde_json::json!({"error": err.to_string(), "exit_code": EXIT_ERROR});
                println!("{answer:#}");
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}
