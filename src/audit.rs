//! Audit placeholder.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Verify the chain.
    Verify {
        /// Ledger directory.
        dir: std::path::PathBuf,
    },
}
/// Audit errors.
#[derive(Debug, thiserror::Error)]
#[error("audit")]
pub struct AuditError;
/// Runs an audit command.
pub fn run(_cmd: AuditCommand) -> Result<std::process::ExitCode, AuditError> {
    Err(AuditError)
}
