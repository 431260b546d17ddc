//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong loading a policy set or running test cases.
/// Deciding never fails: a question the engine cannot evaluate is denied,
/// with the reason in [`countersign_proto::governance::PolicyDecision::errors`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The schema or the policies are not acceptable. Every problem found is
    /// listed, each naming its file and, where there is one, its policy.
    #[error("invalid policy set:{}", bullets(.problems))]
    InvalidPolicySet { problems: Vec<String> },

    /// A test case file is not acceptable. Every problem found is listed,
    /// each naming the case, identity, request or exception it is in.
    #[error("invalid policy test cases:{}", bullets(.problems))]
    InvalidCases { problems: Vec<String> },

    /// A policy directory holds no `*.cedar` file: loading it would deny
    /// everything, which is never what an operator meant.
    #[error("no policy files (*.cedar) in {}", .dir.display())]
    NoPolicyFiles { dir: PathBuf },

    /// `write_defaults` found files it would have to overwrite; it wrote nothing.
    #[error("refusing to overwrite existing {}", display_paths(.paths))]
    AlreadyExists { paths: Vec<PathBuf> },

    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

fn bullets(problems: &[String]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
