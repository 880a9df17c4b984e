//! Tour, step 3: the graph that autograd records, drawn — and the rules of `.grad`.
//!
//! ```text
//! cargo run --release --example 03_autograd_and_the_graph -- --out-dir /tmp/graphs
//! dot -Tsvg /tmp/graphs/after_backward.dot -o graph.svg     # with Graphviz installed
//! ```
//!
//! Every op on a `Var` that requires a gradient records a node: the op, its inputs, and its
//! backward rule. `backward()` visits the nodes in reverse topological order (each node after
//! every node that used it, so its gradient is complete when its rule runs) and adds each
//! rule's results into the inputs' gradients. This example draws the graph before and after
//! backward, shows what each op saves for backward, and shows why optimizers call
//! `zero_grad()`: gradients *accumulate*.

use clap::Parser;
use ferrograd::autograd::DotOptions;
use ferrograd::{DType, Rng, Tensor, Var};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(about = "Tour 3: the autograd graph, drawn before and after backward")]
struct Args {
    /// Folder for the DOT files (and SVGs, when Graphviz's `dot` is installed).
    #[arg(long, default_value = "target/tour")]
    out_dir: PathBuf,
    /// Seed for the random values.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn write(dir: &Path, name: &str, root: &Var, options: DotOptions) -> ferrograd::Result<()> {
    let io = |e: std::io::Error| ferrograd::Error::Io { path: dir.display().to_string(), reason: e.to_string() };
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::write(dir.join(format!("{name}.dot")), root.to_dot_with(options)).map_err(io)?;
    match root.to_svg() {
        Ok(svg) => std::fs::write(dir.join(format!("{name}.svg")), svg).map_err(io)?,
        Err(_) => println!("  (Graphviz `dot` not found: wrote {name}.dot only)"),
    }
    println!("  wrote {}", dir.join(format!("{name}.dot")).display());
    Ok(())
}

fn main() -> ferrograd::Result<()> {
    let args = Args::parse();
    let mut rng = Rng::new(args.seed);
    let x = Var::constant(rng.normal_tensor(&[4, 3], 0.0, 1.0, DType::F64)?).named("x");
    let w = Var::parameter(rng.normal_tensor(&[3, 2], 0.0, 0.5, DType::F64)?).named("W");
    let b = Var::parameter(Tensor::zeros(&[2], DType::F64)).named("b");
    // L = mean(relu(x·W + b)²)
    let h = x.matmul(&w)?.add(&b)?.relu()?.named("h");
    h.retain_grad(); // keep ∂L/∂h too: intermediate gradients are dropped by default
    let loss = h.mul(&h)?.mean_all()?.named("L");

    println!("1. the graph before backward (parameters say their gradient is not yet computed),");
    println!("   with what each op's rule saves for backward:");
    write(&args.out_dir, "before_backward", &loss, DotOptions { show_saved: true })?;

    // retain_graph = true keeps the graph for drawing; a plain backward() frees it as it goes.
    loss.backward_with(&Tensor::ones(&[], DType::F64), false, true)?;
    println!("2. after backward, every stored gradient's norm:");
    write(&args.out_dir, "after_backward", &loss, DotOptions::default())?;
    println!("   ∂L/∂W = {}", w.grad().expect("W requires a gradient"));
    println!("   ∂L/∂h (retained) has shape {:?}", h.grad().expect("retained").shape());

    // Gradients accumulate: a second backward adds the same gradient again.
    let first = w.grad().expect("computed").to_vec::<f64>()?;
    loss.backward()?; // this one frees the graph
    let doubled = w.grad().expect("computed").to_vec::<f64>()?;
    let ratio = doubled[0] / first[0];
    println!(
        "3. backward again without zero_grad: ∂L/∂W[0,0] went from {:.4} to {:.4} ({ratio:.1}×)",
        first[0], doubled[0]
    );
    println!("   — .grad is a sum over backward passes (so that a batch can be split into pieces);");
    println!("   an optimizer step must start from zero: w.zero_grad().");
    w.zero_grad();
    b.zero_grad();
    match loss.backward() {
        Err(e) => println!("4. a third backward through the freed graph is an error: {e}"),
        Ok(()) => unreachable!("the graph was freed"),
    }
    // Under no_grad nothing is recorded: the result is a constant.
    let frozen = ferrograd::no_grad(|| x.matmul(&w))?;
    println!("5. under no_grad: requires_grad = {}, op = {:?}", frozen.requires_grad(), frozen.op_name());
    println!(
        "{}",
        serde_json::json!({"example": "03_autograd_and_the_graph", "loss": loss.value().item()?, "accumulation_ratio": ratio})
    );
    Ok(())
}
