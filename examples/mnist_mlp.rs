//! Trains a 784-128-10 multilayer perceptron on MNIST.
//!
//! ```text
//! cargo run --release --example mnist_mlp -- --epochs 5
//! ```
//!
//! Inputs are standardised, the optimizer is Adam with a cosine learning-rate schedule.
//! Prints per-epoch loss, test accuracy and throughput, with a progress bar; the last line is a
//! JSON object with the final metrics.

use clap::Parser;
use common::RunConfig;
use ferrograd::models::layers::{Linear, Relu, Sequential};
use ferrograd::models::optim::{Adam, AdamConfig};
use ferrograd::{DType, Device, Module, Rng};
use std::path::PathBuf;

#[path = "common/mod.rs"]
mod common;

/// Train a multilayer perceptron on MNIST.
#[derive(Parser, Debug)]
#[command(version, about = "Train a 784-128-10 multilayer perceptron on MNIST (ferrograd example)")]
struct Args {
    /// Passes over the 60,000 training images.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Examples per optimizer step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Peak Adam learning rate (cosine-decayed to 0 over the run).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Seed for initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Device to train on: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Folder with the four MNIST `*-ubyte.gz` files.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist"))]
    data_dir: PathBuf,
    /// Width of the hidden layer.
    #[arg(long, default_value_t = 128)]
    hidden: usize,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> ferrograd::Result<()> {
    let device = Device::parse(&args.device)?;
    let (train, test) = common::load_mnist(&args.data_dir, device)?;
    let mut rng = Rng::new(args.seed);
    let model = Sequential::new()
        .add(Linear::new(784, args.hidden, true, DType::F32, &mut rng)?)
        .add(Relu)
        .add(Linear::new(args.hidden, 10, true, DType::F32, &mut rng)?);
    println!("model: 784-{}-10 MLP, {} parameters", args.hidden, model.num_parameters());
    let mut opt = Adam::new(model.parameters(), AdamConfig { lr: args.lr, ..Default::default() })?;
    let cfg = RunConfig {
        example: "mnist_mlp",
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        seed: args.seed,
        device,
        example_shape: vec![784],
    };
    let summary = common::train(&model, &mut opt, train, &test, &cfg)?;
    common::print_json(&cfg, &summary);
    Ok(())
}
