//! Trains a small convolutional network on MNIST:
//! Conv(1→32, 3×3) + ReLU + MaxPool 2 → Conv(32→64, 3×3) + ReLU + MaxPool 2 → Flatten →
//! Dense(1600→128) + ReLU + Dropout(0.25) → Dense(128→10).
//!
//! ```text
//! cargo run --release --example mnist_cnn -- --epochs 5
//! ```
//!
//! Inputs are standardised, the optimizer is Adam with a cosine learning-rate schedule.
//! Prints per-epoch loss, test accuracy and throughput, with a progress bar; the last line is a
//! JSON object with the final metrics.

use clap::Parser;
use common::RunConfig;
use ferrograd::models::checkpoint;
use ferrograd::models::optim::{Adam, AdamConfig};
use ferrograd::models::zoo::mnist_cnn;
use ferrograd::{Device, Module, Rng};
use std::path::PathBuf;

#[path = "common/mod.rs"]
mod common;

/// Train a convolutional network on MNIST.
#[derive(Parser, Debug)]
#[command(version, about = "Train a small convolutional network on MNIST (ferrograd example)")]
struct Args {
    #[command(flatten)]
    run: common::RunArgs,
    /// Width of the dense hidden layer.
    #[arg(long, default_value_t = 128)]
    hidden: usize,
    /// Dropout probability before the last layer.
    #[arg(long, default_value_t = 0.25)]
    dropout: f64,
    /// Write the trained weights to this safetensors file.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Start from the weights in this safetensors file (with `--epochs 0`: evaluate only).
    #[arg(long)]
    load: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> ferrograd::Result<()> {
    let device = Device::parse(&args.run.device)?;
    let (train, test) = common::load_mnist(&args.run.data_dir, device)?;
    let mut rng = Rng::new(args.run.seed);
    let model = mnist_cnn(args.hidden, args.dropout, args.run.seed ^ 0xD0, &mut rng)?;
    println!("model: 2-conv CNN, {} parameters", model.num_parameters());
    if let Some(path) = &args.load {
        checkpoint::load(&model, path)?;
        println!("loaded weights from {}", path.display());
    }
    model.to_device(device)?;
    let mut opt = Adam::new(model.parameters(), AdamConfig { lr: args.run.lr, ..Default::default() })?;
    let cfg = RunConfig {
        example: "mnist_cnn",
        epochs: args.run.epochs,
        batch_size: args.run.batch_size,
        lr: args.run.lr,
        seed: args.run.seed,
        device,
        example_shape: vec![1, 28, 28],
    };
    let summary = common::train(&model, &mut opt, train, &test, &cfg)?;
    if let Some(path) = &args.save {
        checkpoint::save(&model, path)?;
        println!("saved weights to {}", path.display());
    }
    common::print_json(&cfg, &summary);
    Ok(())
}
