//! `keyhole policy check|test|explain`: how architects prove a policy does
//! what they mean before it reaches agents.
//!
//! - [`check`]: every error in the config and the policy files at once, each
//!   naming file, line, rule and reason;
//! - [`cases`] and [`runner`]: policy test cases (record, agent, ticket →
//!   expected output), run through the real transform;
//! - [`explain`]: per rule of a route, what an agent would get and why.

pub mod cases;
pub mod check;
pub mod diff;
pub mod expect;
pub mod explain;
pub mod files;
pub mod runner;
pub mod schema;
pub mod tickets;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

/// `keyhole policy ...`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate the config and every policy file; exit 1 naming file, line, rule and reason.
    Check {
        /// The config file.
        #[arg(long)]
        config: PathBuf,
        /// Response schemas to check field paths against (default: `<policies.dir>/schemas`).
        #[arg(long)]
        schemas: Option<PathBuf>,
        /// Check the config and policies only, not the certificates, keys and
        /// secrets the config names (for where those are not at hand).
        #[arg(long)]
        policies_only: bool,
    },
    /// Run the policy test cases of a directory; exit 1 on any failure.
    Test {
        /// The config file.
        #[arg(long)]
        config: PathBuf,
        /// Directory of case files (`*.toml`, `*.json`).
        cases_dir: PathBuf,
    },
    /// Show, rule by rule, what an agent would see on a route and why.
    Explain {
        /// The config file.
        #[arg(long)]
        config: PathBuf,
        /// The agent id (`sub`).
        #[arg(long)]
        agent: String,
        /// The ticket the agent would send in `X-Ticket-Id`.
        #[arg(long)]
        ticket: Option<String>,
        /// The request method, e.g. `GET`.
        method: String,
        /// The request path, e.g. `/customers/C-1001`.
        path: String,
    },
}

/// Runs a policy subcommand.
pub fn run(cmd: PolicyCommand) -> ExitCode {
    match cmd {
        PolicyCommand::Check {
            config,
            schemas,
            policies_only,
        } => {
            let files = if policies_only {
                check::Files::Skip
            } else {
                check::Files::Load
            };
            let report = check::check(&config, schemas.as_deref(), files);
            for finding in &report.findings {
                eprintln!("error: {finding}");
            }
            if report.findings.is_empty() {
                println!("{}", report.summary());
                ExitCode::SUCCESS
            } else {
                eprintln!("{} error(s)", report.findings.len());
                ExitCode::FAILURE
            }
        }
        PolicyCommand::Test { config, cases_dir } => match runner::run(&config, &cases_dir) {
            Ok(report) => {
                print!("{report}");
                exit(report.all_passed())
            }
            Err(e) => fail(e),
        },
        PolicyCommand::Explain {
            config,
            agent,
            ticket,
            method,
            path,
        } => {
            let request = explain::Request {
                agent: &agent,
                ticket: ticket.as_deref(),
                method: &method,
                path: &path,
            };
            match explain::explain(&config, &request) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
    }
}

fn exit(success: bool) -> ExitCode {
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}
