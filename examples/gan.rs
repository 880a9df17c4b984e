//! Trains a GAN of two MLPs on MNIST (Goodfellow et al., 2014): a generator latent → 256 → 512 →
//! 784 (tanh) against a discriminator 784 → 512 → 256 → 1 with LeakyReLU and dropout, with the
//! non-saturating loss and Adam(2e-4, β₁ = 0.5).
//!
//! ```text
//! cargo run --release --example gan
//! ```
//!
//! Writes a grid of 64 samples after every epoch and the loss curves (`--out-dir`), then scores
//! 10,000 samples with the `mnist_cnn` classifier (trained and cached on first use). The last
//! line is a JSON object with `score`.

use clap::Parser;
use ferrograd::models::zoo::{mlp_discriminator, mlp_generator};

#[allow(dead_code)] // the MNIST examples' JSON line and summary
#[path = "common/mod.rs"]
mod common;
#[path = "common/generative.rs"]
mod generative;

/// Train an MLP GAN on MNIST.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "Train an MLP GAN on MNIST and score its samples (ferrograd example)",
    mut_arg("epochs", |a| a.default_value("30")),
    mut_arg("batch_size", |a| a.default_value("64")),
    mut_arg("lr", |a| a.default_value("0.0002").help("Adam learning rate of both networks")),
    mut_arg("dropout", |a| a.default_value("0.3"))
)]
struct Args {
    #[command(flatten)]
    run: common::RunArgs,
    #[command(flatten)]
    gan: generative::GanArgs,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> ferrograd::Result<()> {
    let dropout_seed = args.run.seed ^ 0xD15C;
    generative::run_gan("gan", &args.run, &args.gan, vec![784], |rng| {
        Ok((mlp_generator(args.gan.latent, rng)?, mlp_discriminator(args.gan.dropout, dropout_seed, rng)?))
    })
}
