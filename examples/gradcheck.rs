//! Runs gradcheck and gradgradcheck over every op in the catalog and prints a table: op, shapes
//! tried, the worst difference between the analytic and the numerical derivative, pass or fail.
//!
//! ```text
//! cargo run --release --example gradcheck                  # every op, seeds 0..3
//! cargo run --release --example gradcheck -- --op conv2d   # ops whose name contains "conv2d"
//! cargo run --release --example gradcheck -- --seeds 10 --seed 42
//! ```
//!
//! Each op is checked on fresh random inputs per seed: contiguous, non-contiguous and
//! broadcast cases (see `ferrograd::autograd::catalog`). The tolerance is PyTorch's default
//! (`|analytic − numeric| ≤ 1e-5 + 1e-3·|numeric|` per Jacobian entry, with central differences
//! of step 1e-6 in f64); "worst |Δ|" is the largest difference found. The last line is a JSON
//! summary; the exit status is 1 if any check failed.

use clap::Parser;
use ferrograd::autograd::catalog::catalog;
use std::collections::BTreeMap;

#[derive(Parser, Debug)]
#[command(about = "gradcheck and gradgradcheck over every registered op")]
struct Args {
    /// First seed of the random inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How many seeds (sets of random shapes and values) to try per op.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Check only ops whose name contains this.
    #[arg(long)]
    op: Option<String>,
}

/// What one op's cases found.
#[derive(Default)]
struct Row {
    composite: bool,
    shapes: Vec<String>,
    cases: usize,
    worst_first: f64,
    worst_second: f64,
    failures: Vec<String>,
}

fn main() {
    let args = Args::parse();
    let mut rows: BTreeMap<&'static str, Row> = BTreeMap::new();
    for seed in args.seed..args.seed + args.seeds {
        for case in catalog(seed) {
            if args.op.as_deref().is_some_and(|want| !case.op.contains(want)) {
                continue;
            }
            let row = rows.entry(case.op).or_default();
            row.composite = case.composite;
            row.cases += 1;
            let shapes = case.shapes();
            if !row.shapes.contains(&shapes) {
                row.shapes.push(shapes.clone());
            }
            match case.check(seed) {
                Ok((first, second)) => {
                    row.worst_first = row.worst_first.max((first.analytic - first.numeric).abs());
                    row.worst_second = row.worst_second.max((second.analytic - second.numeric).abs());
                    for r in [first, second].iter().filter(|r| !r.passed) {
                        row.failures.push(format!("{} {shapes}: {r}", case.variant));
                    }
                }
                Err(e) => row.failures.push(format!("{} {shapes}: error: {e}", case.variant)),
            }
        }
    }

    println!("{:<28} {:>5}  {:<44} {:>11} {:>11}  result", "op", "cases", "shapes tried", "worst |Δ|", "2nd order");
    println!("{}", "-".repeat(112));
    for (op, row) in &rows {
        let mut shapes = row.shapes.iter().take(2).cloned().collect::<Vec<_>>().join("; ");
        if row.shapes.len() > 2 {
            shapes.push_str(&format!("; +{}", row.shapes.len() - 2));
        }
        if shapes.chars().count() > 44 {
            shapes = shapes.chars().take(41).collect::<String>() + "...";
        }
        let name = if row.composite { format!("{op} (composite)") } else { op.to_string() };
        let result = if row.failures.is_empty() { "pass" } else { "FAIL" };
        println!(
            "{name:<28} {:>5}  {shapes:<44} {:>11.2e} {:>11.2e}  {result}",
            row.cases, row.worst_first, row.worst_second
        );
    }
    let failures: Vec<&String> = rows.values().flat_map(|r| &r.failures).collect();
    for f in &failures {
        println!("FAILED {f}");
    }
    let cases: usize = rows.values().map(|r| r.cases).sum();
    println!(
        "{}",
        serde_json::json!({
            "example": "gradcheck",
            "ops": rows.len(),
            "cases": cases,
            "failed": failures.len(),
            "worst_abs_diff": rows.values().map(|r| r.worst_first).fold(0.0, f64::max),
            "worst_abs_diff_second_order": rows.values().map(|r| r.worst_second).fold(0.0, f64::max),
        })
    );
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
