//! `keyhole policy check|test|explain`: how architects prove a policy does
//! what they mean before it reaches agents.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;

/// `keyhole policy ...`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate the config and every policy file; exit 1 naming file, line and reason.
    Check {
        /// The config file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// Runs a policy subcommand.
pub fn run(cmd: PolicyCommand) -> ExitCode {
    match cmd {
        PolicyCommand::Check { config } => check(&config),
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    let result = Config::load(path).and_then(|c| c.load_policies().map(|p| (c, p)));
    match result {
        Ok((_, policies)) => {
            let routes = policies.routes.iter().count();
            println!(
                "ok: {} policy file(s), {routes} route(s)",
                policies.files.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
