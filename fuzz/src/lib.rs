//! Stable fuzzing for Keyhole: a deterministic mutation harness (no nightly
//! toolchain needed) and one target per parser that hostile input reaches.
//!
//! Each target's module is self-contained so the CI smoke test in
//! `tests/property_fuzz_smoke.rs` can include the same files by path.

pub mod cli;
pub mod mutate;
pub mod policy_file;
pub mod route;
pub mod runner;
pub mod token;
pub mod transform;

/// Every target, by name.
pub const TARGETS: [&runner::Target; 4] = [
    &policy_file::TARGET,
    &route::TARGET,
    &transform::TARGET,
    &token::TARGET,
];
