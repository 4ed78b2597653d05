//! The `copybench_exporter` binary: parses the command line, sets up logging and hands over to
//! the library. Errors end here, printed with their whole chain.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use copybench_exporter::cli::{self, Cli, Command};
use copybench_exporter::config::{self, Config, LogFormat, LogLevel};
use copybench_exporter::daemon::{self, Daemon};
use copybench_exporter::http;
use copybench_exporter::webconfig::WebConfigFile;
use copybench_exporter::workload::{self, worker};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Worker(args)) => match worker::main(args) {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("copybench_exporter worker: {e}");
                Ok(ExitCode::from(worker::exit_status(&e)))
            }
        },
        Some(Command::Run(args)) => {
            init_logging(LogLevel::Warn, LogFormat::Text);
            cli::run_command(&cli, args).map_err(anyhow::Error::from)
        }
        Some(Command::CheckConfig { file }) => {
            cli::check_config_command(&cli, file.as_deref()).map_err(anyhow::Error::from)
        }
        Some(Command::Changes(args)) => cli::changes_command(args).map_err(anyhow::Error::from),
        Some(Command::Fit(args)) => cli::fit_command(args).map_err(anyhow::Error::from),
        Some(Command::PrintDefaultConfig) => {
            cli::print_default_config(&cli).map_err(anyhow::Error::from)
        }
        None => run_daemon(&cli).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|error| {
        eprintln!("copybench_exporter: error: {error:#}");
        ExitCode::FAILURE
    })
}

fn run_daemon(cli: &Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config_file.as_deref(), &cli.overrides())?;
    init_logging(config.log.level, config.log.format);
    if let Some(path) = &cli.config_file {
        config::warn_if_sets_nothing(path);
    }
    match daemon::raise_open_files_limit() {
        Ok(limit) => {
            let needed = daemon::descriptors_needed(&config);
            if limit < needed {
                tracing::warn!(
                    limit,
                    needed,
                    "the open-files limit leaves too few descriptors for [web] max_connections \
                     and the largest pool; lower them or raise the hard limit"
                );
            }
        }
        Err(e) => tracing::warn!("cannot raise the open files limit: {e}"),
    }
    let address = config.web.listen_address;
    // Workers re-execute this very program, even after its file is replaced or deleted.
    let exe = std::path::PathBuf::from(workload::SELF_EXE);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let served: anyhow::Result<()> = runtime.block_on(async {
        let signals = daemon::Signals::install().context("cannot install signal handlers")?;
        let listener = http::bind(&address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let bound = listener
            .local_addr()
            .context("cannot read the bound address")?;
        let web = cli
            .web_config_file
            .as_deref()
            .map(WebConfigFile::open)
            .transpose()?
            .map(Arc::new);
        let daemon = Daemon::new(config, cli.config_file.clone(), cli.overrides(), exe)?;
        // NODE_NAME comes from the Kubernetes downward API (deploy/kubernetes).
        let node = std::env::var("NODE_NAME").unwrap_or_default();
        tracing::info!(address = %bound, version = env!("CARGO_PKG_VERSION"), node, "listening");
        daemon::run(daemon, listener, signals, web).await;
        Ok(())
    });
    // Runs end within the grace period; this only bounds a stuck blocking task.
    runtime.shutdown_timeout(Duration::from_secs(5));
    tracing::info!("stopped");
    served
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
