use clap::Parser;

fn main() -> std::process::ExitCode {
    keyhole::cli::run(keyhole::cli::Cli::parse())
}
