//! The command line shared by the per-target binaries:
//! `[--seconds S] [--runs N] [--seed X] [--corpus DIR] [--artifacts DIR] [--emit-seeds]`.

use std::path::PathBuf;
use std::time::Duration;

use crate::runner::{self, Budget, Target};

struct Options {
    budget: Budget,
    corpus: PathBuf,
    artifacts: PathBuf,
    emit_seeds: bool,
}

fn options(target: &Target, root: &str) -> Result<Options, String> {
    let mut o = Options {
        budget: Budget {
            executions: u64::MAX,
            time: Duration::from_secs(60),
            seed: 1,
        },
        corpus: PathBuf::from(root).join("corpus").join(target.name),
        artifacts: PathBuf::from(root).join("artifacts").join(target.name),
        emit_seeds: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => {
                o.budget.time =
                    Duration::from_secs(value()?.parse().map_err(|_| "--seconds: a number")?)
            }
            "--runs" => o.budget.executions = value()?.parse().map_err(|_| "--runs: a number")?,
            "--seed" => o.budget.seed = value()?.parse().map_err(|_| "--seed: a number")?,
            "--corpus" => o.corpus = PathBuf::from(value()?),
            "--artifacts" => o.artifacts = PathBuf::from(value()?),
            "--emit-seeds" => o.emit_seeds = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// Seeds a target generates itself (from the demo data set), beyond its corpus files.
pub fn builtin_seeds(target: &Target) -> Vec<Vec<u8>> {
    if target.name == crate::transform::TARGET.name {
        crate::transform::builtin_seeds()
    } else {
        Vec::new()
    }
}

/// Runs `target` as the process's whole job; `root` is the fuzz crate's directory.
pub fn main(target: &Target, root: &str) {
    let o = match options(target, root) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{}: {e}", target.name);
            std::process::exit(2);
        }
    };
    if o.emit_seeds {
        let written = emit(&o.corpus, &builtin_seeds(target));
        println!(
            "{}: wrote {written} seeds to {}",
            target.name,
            o.corpus.display()
        );
        return;
    }
    // Failures are reported below, with their inputs saved; the default hook's
    // backtraces would only drown them.
    std::panic::set_hook(Box::new(|_| {}));
    let mut seeds = runner::load_corpus(&o.corpus);
    seeds.extend(builtin_seeds(target));
    let report = runner::run(target, seeds, o.budget);
    let rate = report.executions as f64 / report.elapsed.as_secs_f64().max(0.001);
    println!(
        "{}: {} executions in {:.1}s ({rate:.0}/s), {} features, corpus {}, {} failures",
        target.name,
        report.executions,
        report.elapsed.as_secs_f64(),
        report.features,
        report.corpus,
        report.failures.len()
    );
    if report.failures.is_empty() {
        return;
    }
    let _ = std::fs::create_dir_all(&o.artifacts);
    for (i, f) in report.failures.iter().enumerate() {
        let path = o.artifacts.join(format!("failure-{i}"));
        let _ = std::fs::write(&path, &f.input);
        let message: String = f.message.chars().take(300).collect();
        println!("  {}: {message}", path.display());
    }
    std::process::exit(1);
}

fn emit(dir: &std::path::Path, seeds: &[Vec<u8>]) -> usize {
    let _ = std::fs::create_dir_all(dir);
    seeds
        .iter()
        .enumerate()
        .filter(|(i, s)| std::fs::write(dir.join(format!("builtin-{i:02}")), s).is_ok())
        .count()
}
