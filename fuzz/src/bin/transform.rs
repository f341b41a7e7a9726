//! Fuzzes the `transform` target: see `keyhole_fuzz::transform` and docs/hostile-input.md.

fn main() {
    keyhole_fuzz::cli::main(&keyhole_fuzz::transform::TARGET, env!("CARGO_MANIFEST_DIR"));
}
