//! The `keyhole` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// Keyhole: the privacy gateway for outsourced customer support.
#[derive(Debug, Parser)]
#[command(name = "keyhole", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded demo: keys, data, sample API and gateway, until Ctrl-C.
    Demo(crate::demo::DemoArgs),
    /// Run the gateway from a config file.
    Serve {
        /// The config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Run the demo's sample customer API alone (for `serve` against the demo config).
    SampleApi(crate::demo::SampleApiArgs),
    /// Check, test and explain policies.
    #[command(subcommand)]
    Policy(crate::policy::tooling::PolicyCommand),
    /// Mint an agent JWT with the config's signing key (demo and tests).
    AgentToken {
        /// The config file.
        #[arg(long)]
        config: PathBuf,
        /// Agent id (`sub`).
        #[arg(long)]
        agent: String,
        /// Vendor (`vendor` claim).
        #[arg(long)]
        vendor: String,
        /// Lifetime, e.g. `8h`, `30m`, `90s`.
        #[arg(long, default_value = "8h", value_parser = parse_ttl)]
        ttl: Duration,
    },
    /// Token tools for the security team.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Ledger audit: verify, who-saw, agent, attribute.
    #[command(subcommand)]
    Audit(crate::audit::AuditCommand),
}

/// `keyhole token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Show which agent, vendor, field class and key a token was issued under.
    Inspect {
        /// The config file (for the token keys).
        #[arg(long)]
        config: PathBuf,
        /// The token.
        token: String,
        /// Also print the clear value.
        #[arg(long)]
        reveal: bool,
    },
}

/// Parses `8h`, `30m`, `90s` or a plain number of seconds.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid duration {text:?}"))?;
    let unit_secs: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("invalid duration unit in {text:?} (s, m, h, d)")),
    };
    let secs = n
        .checked_mul(unit_secs)
        .filter(|&secs| secs <= MAX_TTL_SECS)
        .ok_or_else(|| {
            format!(
                "duration {text:?} is longer than {}d",
                MAX_TTL_SECS / 86_400
            )
        })?;
    if secs == 0 {
        return Err("duration must be positive".into());
    }
    Ok(Duration::from_secs(secs))
}

/// The longest lifetime `agent-token` mints: a year. Beyond it a token
/// outlives any key rotation, and far beyond it its expiry overflows.
const MAX_TTL_SECS: u64 = 366 * 86_400;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Demo(args) => with_runtime(crate::demo::run(args)),
        Command::Serve { config } => with_runtime(serve(config)),
        Command::SampleApi(args) => with_runtime(crate::demo::run_sample_api(args)),
        Command::Policy(cmd) => crate::policy::tooling::run(cmd),
        Command::AgentToken {
            config,
            agent,
            vendor,
            ttl,
        } => agent_token(&config, &agent, &vendor, ttl),
        Command::Token(TokenCommand::Inspect {
            config,
            token,
            reveal,
        }) => token_inspect(&config, &token, reveal),
        Command::Audit(cmd) => match crate::audit::run(cmd) {
            Ok(code) => code,
            Err(e) => fail(e),
        },
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

fn with_runtime<F: std::future::Future<Output = Result<(), String>>>(fut: F) -> ExitCode {
    // With one CPU (a pinned process, a one-core container) a work-stealing
    // pool has no one to steal from, and handing wakeups between the main
    // thread and its one worker cost about 7% of CPU per masked request.
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_cpu {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    match rt.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// `keyhole serve`: runs until SIGTERM or Ctrl-C; SIGHUP reloads.
async fn serve(path: PathBuf) -> Result<(), String> {
    let config = Config::load(&path).map_err(|e| e.to_string())?;
    crate::telemetry::init_logging(&config.telemetry);
    let running = crate::gateway::start(config)
        .await
        .map_err(|e| e.to_string())?;
    wait_for_signals(&running.gateway).await;
    tracing::info!("shutting down: draining connections");
    running.shutdown().await;
    crate::telemetry::flush_logs();
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM, reloading on every SIGHUP meanwhile.
pub async fn wait_for_signals(gateway: &crate::gateway::Gateway) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut hup), Ok(mut term)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = term.recv() => return,
            _ = hup.recv() => {
                if let Err(e) = gateway.reload() {
                    tracing::error!(error = %e, "reload refused; the previous configuration keeps serving");
                }
            }
        }
    }
}

fn agent_token(path: &std::path::Path, agent: &str, vendor: &str, ttl: Duration) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    match crate::authenticate::mint(&config.auth, agent, vendor, ttl) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn token_inspect(path: &std::path::Path, token: &str, reveal: bool) -> ExitCode {
    let vault = match Config::load(path)
        .map_err(|e| e.to_string())
        .and_then(|c| crate::token::TokenVault::load(&c.tokens).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    match vault.inspect(token.trim()) {
        Ok(info) => {
            let or_any = |v: Option<String>| v.unwrap_or_else(|| "(any holder in scope)".into());
            println!("agent:  {}", or_any(info.agent));
            println!("vendor: {}", or_any(info.vendor));
            println!("scope:  {:?}", info.scope);
            println!("class:  {}", info.class);
            let retired = if info.key_retired { " (retired)" } else { "" };
            println!("key:    {}{retired}", info.key_id);
            // One value gives one holder the same token every time, so a
            // token cannot say when; the key says during which period.
            println!(
                "issued: while key {} was active (a token carries no time: it is the same each time)",
                info.key_id
            );
            if reveal {
                println!("value:  {}", info.value);
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("{e} ({})", e.code())),
    }
}
