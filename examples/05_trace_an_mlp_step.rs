//! Tour, step 5: one training step of an MLP, with the backward pass traced as it runs and
//! each layer watched through hooks.
//!
//! ```text
//! cargo run --release --example 05_trace_an_mlp_step
//! cargo run --release --example 05_trace_an_mlp_step -- --json trace.json   # the trace as JSON
//! ```
//!
//! A 8 → 16 → 3 MLP (Linear, ReLU, Linear) and cross-entropy on a batch of 4 random examples:
//! 1. forward, with a forward hook recording each layer's output statistics and histogram;
//! 2. backward inside `trace_backward`: for every node, in the order the engine runs, the op,
//!    its rule, the norm of the gradient it received, and what it sent to each input — a bias
//!    broadcast over the batch shows its gradient summed from `[4, n]`;
//! 3. a backward hook's per-layer gradient statistics;
//! 4. an SGD step and each parameter's update-to-data ratio.

use clap::Parser;
use ferrograd::autograd::trace_backward;
use ferrograd::models::layers::{Linear, Relu, Sequential};
use ferrograd::models::loss::cross_entropy;
use ferrograd::models::monitor::{update_to_data_ratio, LayerMonitor};
use ferrograd::models::optim::{Optimizer, Sgd, SgdConfig};
use ferrograd::{DType, Module, Rng, Var};

#[derive(Parser, Debug)]
#[command(about = "Tour 5: the backward pass of one MLP step, traced; layers watched through hooks")]
struct Args {
    /// Learning rate of the SGD step.
    #[arg(long, default_value_t = 0.1)]
    lr: f64,
    /// Seed for the weights and the batch.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the trace as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn main() -> ferrograd::Result<()> {
    let args = Args::parse();
    let mut rng = Rng::new(args.seed);
    let model = Sequential::new().add(Linear::new(8, 16, true, DType::F64, &mut rng)?).add(Relu).add(Linear::new(
        16,
        3,
        true,
        DType::F64,
        &mut rng,
    )?);
    // Name the parameters as the model does ("0.weight", …), for the trace.
    for (name, p) in model.named_parameters() {
        p.set_name(name);
    }
    // A forward hook that names each layer's output ("1:Relu"), so the trace reads by layer.
    model.register_forward_hook(|index, kind, _input, output| output.set_name(format!("{index}:{kind}")));
    let monitor = LayerMonitor::attach(&model, 6);
    let x = Var::constant(rng.normal_tensor(&[4, 8], 0.0, 1.0, DType::F64)?).named("x");
    let targets = rng.randint(&[4], 3)?;

    println!("== forward (forward hook: each layer's output) ==");
    let logits = model.forward(&x)?.named("logits");
    let loss = cross_entropy(&logits, &targets)?.named("loss");
    for r in monitor.activations() {
        println!("layer {} {:<6} {}", r.index, r.kind, r.summary);
    }
    let relu = &monitor.activations()[1];
    print!("ReLU output histogram:\n{}", relu.summary.histogram.render(30));
    println!("loss = {:.4}", loss.value().item()?);

    println!("\n== backward, traced ==");
    let (result, trace) = trace_backward(|| loss.backward());
    result?;
    print!("{trace}");
    if let Some(path) = &args.json {
        std::fs::write(path, trace.to_json())
            .map_err(|e| ferrograd::Error::Io { path: path.display().to_string(), reason: e.to_string() })?;
        println!("trace written to {}", path.display());
    }

    println!("\n== backward hook: ∂L/∂(layer output) ==");
    for r in monitor.gradients() {
        println!("layer {} {:<6} {}", r.index, r.kind, r.summary);
    }

    println!("\n== SGD step (lr {}): update-to-data ratio std(Δp)/std(p) ==", args.lr);
    let params = model.named_parameters();
    let before: Vec<_> = params.iter().map(|(_, p)| p.value()).collect();
    let mut sgd = Sgd::new(model.parameters(), SgdConfig { lr: args.lr, ..SgdConfig::default() })?;
    sgd.step()?;
    let mut ratios = serde_json::Map::new();
    for ((name, p), old) in params.iter().zip(&before) {
        let ratio = update_to_data_ratio(old, &p.value())?;
        println!("{name:<10} {ratio:.2e}  (log10 {:.1})", ratio.log10());
        ratios.insert(name.clone(), ratio.into());
    }
    let after = ferrograd::no_grad(|| cross_entropy(&model.forward(&x)?, &targets))?.value().item()?;
    println!("loss after the step: {after:.4} (was {:.4})", loss.value().item()?);
    println!(
        "{}",
        serde_json::json!({
            "example": "05_trace_an_mlp_step",
            "loss_before": loss.value().item()?,
            "loss_after": after,
            "trace_steps": trace.steps.len(),
            "update_ratios": ratios,
        })
    );
    Ok(())
}
