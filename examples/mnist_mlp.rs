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

#[path = "common/mod.rs"]
mod common;

/// Train a multilayer perceptron on MNIST.
#[derive(Parser, Debug)]
#[command(version, about = "Train a 784-128-10 multilayer perceptron on MNIST (ferrograd example)")]
struct Args {
    #[command(flatten)]
    run: common::RunArgs,
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
    let device = Device::parse(&args.run.device)?;
    let (train, test) = common::load_mnist(&args.run.data_dir, device)?;
    let mut rng = Rng::new(args.run.seed);
    let model = Sequential::new()
        .add(Linear::new(784, args.hidden, true, DType::F32, &mut rng)?)
        .add(Relu)
        .add(Linear::new(args.hidden, 10, true, DType::F32, &mut rng)?);
    println!("model: 784-{}-10 MLP, {} parameters", args.hidden, model.num_parameters());
    model.to_device(device)?;
    let mut opt = Adam::new(model.parameters(), AdamConfig { lr: args.run.lr, ..Default::default() })?;
    let cfg = RunConfig {
        example: "mnist_mlp",
        epochs: args.run.epochs,
        batch_size: args.run.batch_size,
        lr: args.run.lr,
        seed: args.run.seed,
        device,
        example_shape: vec![784],
    };
    let summary = common::train(&model, &mut opt, train, &test, &cfg)?;
    common::print_json(&cfg, &summary);
    Ok(())
}
