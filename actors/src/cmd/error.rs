//! Errors of the subcommands' own steps, each naming what it was working on (the file, the
//! address), so that `amko: …` on stderr says what to fix.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    ReadKubeconfig {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Only `amko demo` creates files and directories of its own.
    #[cfg(feature = "sim")]
    #[error("cannot create {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The debug endpoints show every member object and GslbService without authentication:
    /// their own listener must not be reachable from other hosts.
    #[error(
        "--debug-listen {addr} is not a loopback address (127.0.0.1 or [::1]); use --debug-endpoints to serve them on --listen"
    )]
    DebugListenNotLoopback { addr: SocketAddr },
    /// The chosen context of the home kubeconfig is unusable.
    #[error(transparent)]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// Neither in-cluster configuration nor `~/.kube/config`.
    #[error(transparent)]
    InferConfig(#[from] kube::config::InferConfigError),
    #[error(transparent)]
    Client(#[from] kube::Error),
}

impl CmdError {
    pub fn read(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| CmdError::Read { path, source }
    }

    pub fn write(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| CmdError::Write { path, source }
    }

    #[cfg(feature = "sim")]
    pub fn create(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| CmdError::Create { path, source }
    }

    pub fn listen(addr: SocketAddr) -> impl FnOnce(std::io::Error) -> Self {
        move |source| CmdError::Listen { addr, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_path_or_address() {
        let io = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let addr: SocketAddr = "127.0.0.1:8080".parse().expect("address");
        let cases = [
            (
                CmdError::read("/x/members")(io()),
                "cannot read /x/members: entity not found",
            ),
            (
                CmdError::write("/x/a.yaml")(io()),
                "cannot write /x/a.yaml: entity not found",
            ),
            #[cfg(feature = "sim")]
            (
                CmdError::create("/x/dir")(io()),
                "cannot create /x/dir: entity not found",
            ),
            (
                CmdError::listen(addr)(io()),
                "cannot listen on 127.0.0.1:8080: entity not found",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
            assert!(
                std::error::Error::source(&err).is_some(),
                "{text}: keeps its cause"
            );
        }
    }
}
