//! CI smoke for the fuzz targets in `fuzz/`: each target runs from its
//! committed corpus for a few thousand deterministic mutations (seconds, not
//! minutes) and must find nothing. Long runs use the `fuzz/` binaries; see
//! docs/hostile-input.md.

#[allow(dead_code)]
#[path = "../fuzz/src/mutate.rs"]
mod mutate;
#[allow(dead_code)]
#[path = "../fuzz/src/policy_file.rs"]
mod policy_file;
#[allow(dead_code)]
#[path = "../fuzz/src/route.rs"]
mod route;
#[allow(dead_code)]
#[path = "../fuzz/src/runner.rs"]
mod runner;
#[allow(dead_code)]
#[path = "../fuzz/src/token.rs"]
mod token;
#[allow(dead_code)]
#[path = "../fuzz/src/transform.rs"]
mod transform;

use std::path::Path;
use std::time::Duration;

use runner::{Budget, Target};

fn smoke(target: &Target, extra_seeds: Vec<Vec<u8>>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target.name);
    let mut seeds = runner::load_corpus(&dir);
    assert!(
        !seeds.is_empty(),
        "{}: no committed corpus in {}",
        target.name,
        dir.display()
    );
    seeds.extend(extra_seeds);
    let budget = Budget {
        executions: 4_000,
        time: Duration::from_secs(4),
        seed: 20_240_501,
    };
    let report = runner::run(target, seeds.clone(), budget);
    assert!(
        report.executions > seeds.len() as u64,
        "{}: the mutation loop ran",
        target.name
    );
    let failures: Vec<String> = report
        .failures
        .iter()
        .map(|f| format!("{} <- {:?}", f.message, String::from_utf8_lossy(&f.input)))
        .collect();
    assert!(failures.is_empty(), "{}: {failures:#?}", target.name);
}

#[test]
fn route_target_finds_nothing() {
    smoke(&route::TARGET, Vec::new());
}

#[test]
fn policy_file_target_finds_nothing() {
    smoke(&policy_file::TARGET, Vec::new());
}

#[test]
fn transform_target_finds_nothing() {
    smoke(&transform::TARGET, transform::builtin_seeds());
}

#[test]
fn token_target_finds_nothing() {
    smoke(&token::TARGET, Vec::new());
}

/// The harness itself: the same seed gives the same inputs, and a planted
/// property violation is found and reported with its input.
#[test]
fn the_harness_is_deterministic_and_reports_violations() {
    fn planted(data: &[u8]) -> Result<u64, String> {
        if data.windows(2).any(|w| w == b"%2") {
            return Err("planted".into());
        }
        Ok(data.len() as u64 % 7)
    }
    let target = Target {
        name: "planted",
        dictionary: &[b"%2"],
        check: planted,
    };
    let budget = Budget {
        executions: 500,
        time: Duration::from_secs(10),
        seed: 3,
    };
    let a = runner::run(&target, vec![b"/customers/x".to_vec()], budget);
    let b = runner::run(&target, vec![b"/customers/x".to_vec()], budget);
    assert_eq!(a.failures.len(), 1);
    assert!(String::from_utf8_lossy(&a.failures[0].input).contains("%2"));
    assert_eq!(a.failures[0].input, b.failures[0].input);
    assert_eq!(
        (a.executions, a.features, a.corpus),
        (b.executions, b.features, b.corpus)
    );
}
