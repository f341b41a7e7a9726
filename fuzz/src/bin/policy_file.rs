//! Fuzzes the `policy_file` target: see `keyhole_fuzz::policy_file` and docs/hostile-input.md.

fn main() {
    keyhole_fuzz::cli::main(
        &keyhole_fuzz::policy_file::TARGET,
        env!("CARGO_MANIFEST_DIR"),
    );
}
