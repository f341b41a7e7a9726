//! The stable fuzzing loop: seeds in, mutations out, every input checked for
//! its target's properties, panics caught, and inputs that reach a new
//! "feature" (a target-defined summary of what the input exercised) kept as
//! new seeds, so exploration moves beyond the committed corpus.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::mutate::Mutator;

/// Checks one input: `Ok(feature)` summarizes what it exercised, `Err` names a
/// violated property.
pub type Check = fn(&[u8]) -> Result<u64, String>;

/// One fuzz target.
pub struct Target {
    /// Name, also its corpus directory's name.
    pub name: &'static str,
    /// Tokens worth inserting.
    pub dictionary: &'static [&'static [u8]],
    /// The property check.
    pub check: Check,
}

/// How long a run may go on.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Most inputs executed (seeds included).
    pub executions: u64,
    /// Wall-clock bound.
    pub time: Duration,
    /// Fixes every mutation choice.
    pub seed: u64,
}

/// An input that violated a property (or panicked).
#[derive(Debug, Clone)]
pub struct Failure {
    /// The input, to replay.
    pub input: Vec<u8>,
    /// What went wrong.
    pub message: String,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Inputs executed.
    pub executions: u64,
    /// Distinct features seen.
    pub features: usize,
    /// Corpus size at the end (seeds plus kept inputs).
    pub corpus: usize,
    /// Distinct failures, first input of each.
    pub failures: Vec<Failure>,
    /// Time taken.
    pub elapsed: Duration,
}

/// Most inputs kept in memory; beyond this new features are still counted.
const MAX_CORPUS: usize = 4096;
/// Distinct failures kept.
const MAX_FAILURES: usize = 16;

/// Every file of `dir` (sorted by name), or nothing when it does not exist.
pub fn load_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn execute(check: Check, input: &[u8]) -> Result<u64, String> {
    match catch_unwind(AssertUnwindSafe(|| check(input))) {
        Ok(result) => result,
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".to_string());
            Err(format!("panicked: {text}"))
        }
    }
}

/// Fuzzes `target` from `seeds` within `budget`.
pub fn run(target: &Target, seeds: Vec<Vec<u8>>, budget: Budget) -> Report {
    let started = Instant::now();
    let mut mutator = Mutator::new(budget.seed, target.dictionary);
    let mut corpus = seeds;
    corpus.push(Vec::new());
    let mut features = HashSet::new();
    let mut report = Report::default();
    let mut seen_messages = HashSet::new();
    let mut record = |input: &[u8], result: Result<u64, String>, report: &mut Report| -> bool {
        report.executions += 1;
        match result {
            Ok(feature) => features.insert(feature),
            Err(message) => {
                let key: String = message.chars().take(60).collect();
                if seen_messages.insert(key) && report.failures.len() < MAX_FAILURES {
                    report.failures.push(Failure {
                        input: input.to_vec(),
                        message,
                    });
                }
                false
            }
        }
    };
    for seed in corpus.clone() {
        let result = execute(target.check, &seed);
        record(&seed, result, &mut report);
    }
    while report.executions < budget.executions && started.elapsed() < budget.time {
        let base = &corpus[mutator.below(corpus.len())];
        let other = &corpus[mutator.below(corpus.len())];
        let input = mutator.mutate(base, other);
        let result = execute(target.check, &input);
        if record(&input, result, &mut report) && corpus.len() < MAX_CORPUS {
            corpus.push(input);
        }
    }
    report.features = features.len();
    report.corpus = corpus.len();
    report.elapsed = started.elapsed();
    report
}

/// A cheap, stable hash for feature summaries.
pub fn feature(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}
