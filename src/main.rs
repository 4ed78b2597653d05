//! The `copybench_exporter` binary: parses the command line, sets up logging and hands over to
//! the library. Errors end here, printed with their whole chain.

use std::process::ExitCode;

use clap::Parser;
use copybench_exporter::cli::{self, Cli, Command};
use copybench_exporter::config::{self, LogFormat, LogLevel};
use copybench_exporter::daemon::{self, Source, Startup};
use copybench_exporter::workload::worker;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match &cli.command {
        Some(Command::Worker(args)) => Ok(match worker::main(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("copybench_exporter worker: {e}");
                ExitCode::from(worker::exit_status(&e))
            }
        }),
        Some(Command::Run(args)) => {
            init_logging(LogLevel::Warn, LogFormat::Text);
            match cli::run::command(&cli, args) {
                // Flags out of their keys' bounds are bad arguments, as clap's own are.
                Err(e @ cli::run::RunCommandError::Flags(_)) => {
                    eprintln!("copybench_exporter: error: {e}");
                    Ok(ExitCode::from(2))
                }
                result => result.map_err(Into::into),
            }
        }
        Some(Command::CheckConfig { file }) => {
            cli::check::check_config(&cli, file.as_deref()).map_err(Into::into)
        }
        Some(Command::Changes(args)) => cli::changes::command(&cli, args).map_err(Into::into),
        Some(Command::Fit(args)) => cli::fit::command(args).map_err(Into::into),
        Some(Command::PrintDefaultConfig) => {
            cli::check::print_default_config(&cli).map_err(Into::into)
        }
        None => run_daemon(&cli).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|error| {
        eprintln!("copybench_exporter: error: {error:#}");
        ExitCode::FAILURE
    })
}

fn run_daemon(cli: &Cli) -> anyhow::Result<()> {
    let source = Source {
        path: cli.config_file.clone(),
        overrides: cli.overrides(),
    };
    let loaded = config::load(source.path.as_deref(), &source.overrides)?;
    let config = loaded.config;
    init_logging(config.log.level, config.log.format);
    if let (true, Some(path)) = (loaded.file_sets_nothing, &source.path) {
        tracing::warn!(
            path = %path.display(),
            "the configuration file sets nothing: every key takes its default"
        );
    }
    let startup = Startup {
        source,
        web_config_file: cli.web_config_file.clone(),
    };
    Ok(daemon::run(config, startup)?)
}

fn init_logging(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    // Colours only for a terminal: not for journald, `kubectl logs` or a file.
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
