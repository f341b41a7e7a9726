use clap::Parser;

// The request path allocates many small, short-lived buffers (JSON values,
// header maps, ledger entries) across threads; mimalloc's per-thread free lists
// serve them with less contention and fragmentation than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    keyhole::cli::run(keyhole::cli::Cli::parse())
}
