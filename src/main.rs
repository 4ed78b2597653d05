//! The `copybench_exporter` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use copybench_exporter::cli::{self, Cli, Command};
use copybench_exporter::config::{self, Config};
use copybench_exporter::workload::worker;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Worker(args)) => worker::main(args)
            .map(|()| ExitCode::SUCCESS)
            .map_err(anyhow::Error::from),
        Some(Command::Run(args)) => cli::run_command(&cli, args).map_err(anyhow::Error::from),
        Some(Command::CheckConfig { file }) => Config::load(Some(file), &cli.overrides())
            .map(|_| {
                println!("{}: configuration is valid", file.display());
                ExitCode::SUCCESS
            })
            .map_err(anyhow::Error::from),
        Some(Command::PrintDefaultConfig) => {
            print!("{}", config::DEFAULT_TOML);
            Ok(ExitCode::SUCCESS)
        }
        None => Err(anyhow::anyhow!(
            "the daemon is not available yet; use `run`"
        )),
    };
    result.unwrap_or_else(|error| {
        eprintln!("copybench_exporter: error: {error:#}");
        ExitCode::from(2)
    })
}
