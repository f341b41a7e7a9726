//! The embedded demo: keys, certificates, a synthetic data set, a sample
//! customer API and the gateway, in one command.

pub mod data;
pub mod pki;
pub mod setup;
pub mod upstream;

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tokio::net::TcpListener;

use crate::config::Config;

/// `keyhole demo` arguments.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Directory for the demo's files (created once, reused after).
    #[arg(long, default_value = "keyhole-demo")]
    pub dir: PathBuf,
    /// Gateway port on 127.0.0.1.
    #[arg(long, default_value_t = 8443)]
    pub port: u16,
    /// Customers in the synthetic data set (used when the data set is first
    /// created): at least 3, which the demo's tickets are about.
    #[arg(long, default_value_t = 1000, value_parser = parse_customers)]
    pub customers: usize,
}

/// Parses `--customers`: 3 (the customers the demo's tickets name) to a million.
fn parse_customers(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (3..=1_000_000).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text:?} is not a number of customers from 3 to 1000000"
        )),
    }
}

/// `keyhole sample-api` arguments.
#[derive(Debug, Clone, Args)]
pub struct SampleApiArgs {
    /// The data set written by `keyhole demo` (`DIR/customers.json`).
    #[arg(long)]
    pub data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18080")]
    pub listen: String,
    /// File holding the bearer credential the API requires (`DIR/keys/upstream.credential`).
    #[arg(long)]
    pub credential_file: Option<PathBuf>,
}

/// Runs the demo until Ctrl-C.
pub async fn run(args: DemoArgs) -> Result<(), String> {
    let upstream_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let upstream_addr = upstream_listener.local_addr().map_err(|e| e.to_string())?;
    let files = setup::prepare(&args.dir, args.customers, args.port, upstream_addr.port())
        .map_err(|e| e.to_string())?;
    let config = Config::load(&files.config).map_err(|e| e.to_string())?;
    crate::telemetry::init_logging(&crate::telemetry::TelemetryConfig {
        log_format: "text".into(),
        log_level: "warn".into(),
        otlp: Default::default(),
    });
    let data = setup::load_data(&files.data).map_err(|e| e.to_string())?;
    let credential =
        std::fs::read_to_string(&files.upstream_credential).map_err(|e| e.to_string())?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(upstream::serve(
        upstream_listener,
        Arc::new(tokio::sync::RwLock::new(data)),
        upstream::SampleApiConfig {
            credential: Some(credential.trim().to_string()),
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let running = crate::gateway::start(config.clone())
        .await
        .map_err(|e| e.to_string())?;
    let demo = setup::write_demo_json(
        &files,
        &config,
        running.addr,
        running.admin_addr,
        upstream_addr,
    )
    .map_err(|e| e.to_string())?;
    setup::print_welcome(&demo, &files);
    crate::cli::wait_for_signals(&running.gateway).await;
    running.shutdown().await;
    crate::telemetry::flush_logs();
    let _ = stop_tx.send(());
    let _ = api.await;
    Ok(())
}

/// Runs the sample customer API alone until Ctrl-C.
pub async fn run_sample_api(args: SampleApiArgs) -> Result<(), String> {
    let data = setup::load_data(&args.data).map_err(|e| e.to_string())?;
    let credential = match &args.credential_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("credential file {}: {e}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    println!(
        "sample customer API on http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    upstream::serve(
        listener,
        Arc::new(tokio::sync::RwLock::new(data)),
        upstream::SampleApiConfig { credential },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await
    .map_err(|e| e.to_string())
}
