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
use ferrograd::{Device, Module, Rng};
use generative::{DigitClassifier, GanConfig};
use std::path::PathBuf;

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
    mut_arg("lr", |a| a.default_value("0.0002").help("Adam learning rate of both networks"))
)]
struct Args {
    #[command(flatten)]
    run: common::RunArgs,
    /// Adam's β₁.
    #[arg(long, default_value_t = 0.5)]
    beta1: f64,
    /// Keep the learning rate constant (default: decay it linearly to 0 over the second half).
    #[arg(long)]
    constant_lr: bool,
    /// Size of the generator's noise input.
    #[arg(long, default_value_t = 64)]
    latent: usize,
    /// Dropout in the discriminator.
    #[arg(long, default_value_t = 0.3)]
    dropout: f64,
    /// Folder for the sample grids and the loss plot.
    #[arg(long, default_value = "out")]
    out_dir: PathBuf,
    /// The scoring classifier's weights (trained and saved there if missing).
    #[arg(long, default_value_os_t = generative::default_classifier_path())]
    classifier: PathBuf,
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
    let classifier = DigitClassifier::load_or_train(&args.classifier, &args.run.data_dir)?;
    let (train, test) = generative::load_pixels(&args.run.data_dir)?;
    let mut rng = Rng::new(args.run.seed);
    let generator = mlp_generator(args.latent, &mut rng)?;
    let discriminator = mlp_discriminator(args.dropout, args.run.seed ^ 0xD15C, &mut rng)?;
    generative::move_to(&[&generator, &discriminator], device)?;
    println!(
        "GAN: generator {} parameters, discriminator {} parameters; device {device}",
        generator.num_parameters(),
        discriminator.num_parameters()
    );
    generative::ensure_dir(&args.out_dir)?;
    let cfg = GanConfig {
        example: "gan",
        epochs: args.run.epochs,
        batch_size: args.run.batch_size,
        lr: args.run.lr,
        beta1: args.beta1,
        constant_lr: args.constant_lr,
        latent: args.latent,
        seed: args.run.seed,
        device,
        image_shape: vec![784],
        out_dir: args.out_dir.clone(),
    };
    let history = generative::train_gan(&generator, &discriminator, train, &cfg, &classifier)?;
    generative::report_gan(&generator, &history, &cfg, &classifier, &test)
}
