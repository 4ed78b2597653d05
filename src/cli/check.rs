//! `check-config` and `print-default-config`: a configuration checked as the daemon would
//! load it, and the documented defaults.

use std::path::PathBuf;
use std::process::ExitCode;

use super::flags::Cli;
use crate::config;
use crate::workload::WorkloadError;

/// Errors of `check-config` and `print-default-config`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigCommandError {
    /// Two different files were named.
    #[error(
        "two files given, {0} and {1}: name the file to check once, as the argument or with --config.file"
    )]
    TwoFiles(PathBuf, PathBuf),
    /// No file was named.
    #[error("no file given: copybench_exporter check-config FILE")]
    NoFile,
    /// `print-default-config` was given a file.
    #[error("print-default-config prints the built-in defaults; it takes no --config.file")]
    FileNotUsed,
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The workdir cannot hold scratch directories.
    #[error("workload.workdir {path}: {error}")]
    Workdir {
        /// The directory.
        path: PathBuf,
        /// Why not.
        error: WorkloadError,
    },
}

/// Runs `check-config`: loads `file` (or `--config.file`) with the environment and flag
/// overrides, and checks that the workdir can hold scratch directories, as readiness does.
pub fn check_config(
    cli: &Cli,
    file: Option<&std::path::Path>,
) -> Result<ExitCode, ConfigCommandError> {
    let file = match (file, cli.config_file.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return Err(ConfigCommandError::TwoFiles(a.to_owned(), b.to_owned()));
        }
        (Some(file), _) | (None, Some(file)) => file,
        (None, None) => return Err(ConfigCommandError::NoFile),
    };
    let loaded = config::load(Some(file), &cli.overrides())?;
    let config = loaded.config;
    if loaded.file_sets_nothing {
        eprintln!(
            "warning: {} sets nothing: every key takes its default",
            file.display()
        );
    }
    let path = config.workload.workdir();
    crate::workload::check_workdir(&path)
        .map_err(|error| ConfigCommandError::Workdir { path, error })?;
    println!("{}: configuration is valid", file.display());
    Ok(ExitCode::SUCCESS)
}

/// Runs `print-default-config`.
pub fn print_default_config(cli: &Cli) -> Result<ExitCode, ConfigCommandError> {
    if cli.config_file.is_some() {
        return Err(ConfigCommandError::FileNotUsed);
    }
    print!("{}", config::DEFAULT_TOML);
    Ok(ExitCode::SUCCESS)
}
