//! Fuzzes the `route` target: see `keyhole_fuzz::route` and docs/hostile-input.md.

fn main() {
    keyhole_fuzz::cli::main(&keyhole_fuzz::route::TARGET, env!("CARGO_MANIFEST_DIR"));
}
