//! Tour, step 1: backpropagation by hand, on scalars — the neuron of micrograd.
//!
//! ```text
//! cargo run --release --example 01_scalars_by_hand
//! ```
//!
//! A neuron with two inputs computes `o = tanh(x1·w1 + x2·w2 + b)`. We take its derivatives
//! twice: first by hand, applying the chain rule one node at a time from the output back to
//! the inputs, exactly as the engine does; then with `backward()`. The two must agree.
//!
//! The chain rule, node by node (`g` is `∂o/∂node`, starting from `∂o/∂o = 1`):
//!
//! ```text
//! o = tanh(n)      ∂o/∂n  = 1 − o²                          tanh' = 1 − tanh²
//! n = s + b        ∂o/∂s  = ∂o/∂n,  ∂o/∂b = ∂o/∂n           a sum passes g on unchanged
//! s = p1 + p2      ∂o/∂p1 = ∂o/∂s,  ∂o/∂p2 = ∂o/∂s
//! p1 = x1 · w1     ∂o/∂x1 = ∂o/∂p1 · w1,  ∂o/∂w1 = ∂o/∂p1 · x1   a product swaps its factors
//! p2 = x2 · w2     ∂o/∂x2 = ∂o/∂p2 · w2,  ∂o/∂w2 = ∂o/∂p2 · x2
//! ```

use clap::Parser;
use ferrograd::autograd::compare_gradient;
use ferrograd::{Tensor, Var};

#[derive(Parser, Debug)]
#[command(about = "Tour 1: backpropagation by hand on the micrograd neuron")]
struct Args {
    /// Write the graph, with gradients, as Graphviz DOT to this file.
    #[arg(long)]
    dot: Option<std::path::PathBuf>,
}

/// A scalar that requires a gradient, with a name for the drawing.
fn scalar(v: f64, name: &str) -> Var {
    Var::parameter(Tensor::scalar(v)).named(name)
}

fn value(v: &Var) -> f64 {
    v.value().item().expect("a scalar")
}

fn main() -> ferrograd::Result<()> {
    let args = Args::parse();
    // The numbers of micrograd's README, chosen so that o = 1/√2.
    let (x1, x2) = (scalar(2.0, "x1"), scalar(0.0, "x2"));
    let (w1, w2) = (scalar(-3.0, "w1"), scalar(1.0, "w2"));
    let b = scalar(6.881_373_587_019_543, "b");

    // Forward: each line makes one node of the graph.
    let p1 = x1.mul(&w1)?.named("p1");
    let p2 = x2.mul(&w2)?.named("p2");
    let s = p1.add(&p2)?.named("s");
    let n = s.add(&b)?.named("n");
    let o = n.tanh()?.named("o");
    println!("forward: n = {:.4}, o = tanh(n) = {:.4}", value(&n), value(&o));

    // Backward by hand, from the output to the inputs.
    let d_o = 1.0;
    let d_n = d_o * (1.0 - value(&o).powi(2));
    let (d_s, d_b) = (d_n, d_n);
    let (d_p1, d_p2) = (d_s, d_s);
    let (d_x1, d_w1) = (d_p1 * value(&w1), d_p1 * value(&x1));
    let (d_x2, d_w2) = (d_p2 * value(&w2), d_p2 * value(&x2));
    println!("by hand: ∂o/∂n = 1 − o² = {d_n:.4}");
    println!(
        "         ∂o/∂x1 = {d_x1:.4}  ∂o/∂w1 = {d_w1:.4}  ∂o/∂x2 = {d_x2:.4}  ∂o/∂w2 = {d_w2:.4}  ∂o/∂b = {d_b:.4}"
    );

    // Backward by the engine. Keep the graph so that it can be drawn with its gradients.
    o.backward_with(&Tensor::scalar(1.0f64), false, true)?;
    println!("autograd vs by hand:");
    let mut all_close = true;
    for (var, by_hand) in [(&x1, d_x1), (&w1, d_w1), (&x2, d_x2), (&w2, d_w2), (&b, d_b)] {
        let cmp = compare_gradient(&var.name().unwrap_or_default(), &Tensor::scalar(by_hand), var)?;
        println!("  {cmp}");
        all_close &= cmp.approximate;
    }
    if let Some(path) = &args.dot {
        std::fs::write(path, o.to_dot())
            .map_err(|e| ferrograd::Error::Io { path: path.display().to_string(), reason: e.to_string() })?;
        println!("graph written to {} (render: dot -Tsvg {} -o graph.svg)", path.display(), path.display());
    }
    println!(
        "{}",
        serde_json::json!({"example": "01_scalars_by_hand", "o": value(&o), "dw1": d_w1, "agree": all_close})
    );
    Ok(())
}
