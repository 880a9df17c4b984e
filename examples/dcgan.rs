//! Trains a DCGAN (Radford et al., 2016) on MNIST: a generator of transposed convolutions with
//! BatchNorm and ReLU, then a 3×3 convolution at full size and tanh, against a discriminator of
//! strided convolutions with BatchNorm and LeakyReLU (dropout optional), with the
//! non-saturating loss and Adam(2e-4, β₁ = 0.5), and two generator updates per discriminator
//! update (`--g-steps`).
//!
//! ```text
//! cargo run --release --example dcgan
//! ```
//!
//! Writes a grid of 64 samples after every epoch and the loss curves (`--out-dir`), then scores
//! 10,000 samples with the `mnist_cnn` classifier (trained and cached on first use): the
//! inception-style score over the 10 digit classes, and the class histogram. The last line is a
//! JSON object with `score`.

use clap::Parser;
use ferrograd::models::zoo::{dcgan_discriminator, dcgan_generator, dcgan_init};

#[allow(dead_code)] // the MNIST examples' JSON line and summary
#[path = "common/mod.rs"]
mod common;
#[path = "common/generative.rs"]
mod generative;

/// Train a DCGAN on MNIST.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "Train a DCGAN on MNIST and score its samples (ferrograd example)",
    mut_arg("epochs", |a| a.default_value("20")),
    mut_arg("g_steps", |a| a.default_value("2")),
    mut_arg("lr", |a| a.default_value("0.0002").help("Adam learning rate of both networks"))
)]
struct Args {
    #[command(flatten)]
    run: common::RunArgs,
    #[command(flatten)]
    gan: generative::GanArgs,
    /// Generator channels at 28×28 (twice as many at 14×14, four times at 7×7).
    #[arg(long, default_value_t = 16)]
    width: usize,
    /// Discriminator channels at 14×14 (twice as many at 7×7).
    #[arg(long, default_value_t = 32)]
    d_width: usize,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> ferrograd::Result<()> {
    let (latent, width, dropout_seed) = (args.gan.latent, args.width, args.run.seed ^ 0xD15C);
    generative::run_gan("dcgan", &args.run, &args.gan, vec![1, 28, 28], |rng| {
        let generator = dcgan_generator(latent, width, rng)?;
        let discriminator = dcgan_discriminator(args.d_width, args.gan.dropout, dropout_seed, rng)?;
        dcgan_init(&generator, rng)?;
        dcgan_init(&discriminator, rng)?;
        Ok((generator, discriminator))
    })
}
