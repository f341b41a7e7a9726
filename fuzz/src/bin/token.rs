//! Fuzzes the `token` target: see `keyhole_fuzz::token` and docs/hostile-input.md.

fn main() {
    keyhole_fuzz::cli::main(&keyhole_fuzz::token::TARGET, env!("CARGO_MANIFEST_DIR"));
}
