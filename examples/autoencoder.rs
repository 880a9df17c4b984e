//! Trains an autoencoder on MNIST: the dense 784 → 128 → 64 → 128 → 784 network, or
//! (`--arch conv`) a convolutional one with the same 64-number code; sigmoid output and binary
//! cross-entropy against the grey levels.
//!
//! ```text
//! cargo run --release --example autoencoder
//! cargo run --release --example autoencoder -- --arch conv
//! ```
//!
//! Reports the test reconstruction loss (binary cross-entropy per pixel, PyTorch's
//! `BCELoss()`, and the mean squared error) and writes a PNG of test digits above their
//! reconstructions. The last line is a JSON object with `test_loss`.

use clap::{Parser, ValueEnum};
use ferrograd::models::loss::{binary_cross_entropy_with_logits, mse_loss, Reduction};
use ferrograd::models::zoo::Autoencoder;
use ferrograd::{no_grad, Device, Module, Rng, Tensor, Var};
use std::path::PathBuf;

#[allow(dead_code)] // the MNIST examples' JSON line and summary
#[path = "common/mod.rs"]
mod common;
#[path = "common/generative.rs"]
mod generative;

/// Which network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Arch {
    /// 784 → 128 → 64 → 128 → 784, fully connected.
    Dense,
    /// Two stride-2 convolutions and a dense layer down to 64 numbers, and back up.
    Conv,
}

/// Train an autoencoder on MNIST.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "Train an autoencoder on MNIST and report its test reconstruction loss (ferrograd example)",
    mut_arg("epochs", |a| a.default_value("10")),
    mut_arg("batch_size", |a| a.default_value("128"))
)]
struct Args {
    #[command(flatten)]
    run: common::RunArgs,
    /// The network.
    #[arg(long, value_enum, default_value_t = Arch::Dense)]
    arch: Arch,
    /// Folder for the PNG.
    #[arg(long, default_value = "out")]
    out_dir: PathBuf,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Flat `[N, 784]` pixels in the network's input shape.
fn shaped(pixels: &Tensor, arch: Arch) -> ferrograd::Result<Tensor> {
    match arch {
        Arch::Dense => Ok(pixels.clone()),
        Arch::Conv => pixels.reshape(&[pixels.shape()[0], 1, 28, 28]),
    }
}

/// Test binary cross-entropy per pixel and mean squared error, in batches of 1000.
fn evaluate(model: &Autoencoder, test: &Tensor, arch: Arch, device: Device) -> ferrograd::Result<(f64, f64)> {
    model.eval();
    let n = test.shape()[0];
    let (mut bce, mut mse) = (0.0, 0.0);
    no_grad(|| -> ferrograd::Result<()> {
        for start in (0..n).step_by(1000) {
            let x = Var::constant(shaped(&test.narrow(0, start, 1000.min(n - start))?, arch)?.to_device(device)?);
            let logits = model.forward(&x)?;
            let share = x.shape()[0] as f64 / n as f64;
            bce += binary_cross_entropy_with_logits(&logits, &x, Reduction::Mean)?.value().item()? * share;
            mse += mse_loss(&logits.sigmoid()?, &x)?.value().item()? * share;
        }
        Ok(())
    })?;
    model.train();
    Ok((bce, mse))
}

fn run(args: &Args) -> ferrograd::Result<()> {
    let device = Device::parse(&args.run.device)?;
    let (train, test) = generative::load_pixels(&args.run.data_dir)?;
    let mut rng = Rng::new(args.run.seed);
    let model = match args.arch {
        Arch::Dense => Autoencoder::dense(&mut rng)?,
        Arch::Conv => Autoencoder::conv(&mut rng)?,
    };
    generative::move_to(&[&model], device)?;
    println!("{:?} autoencoder: {} parameters; device {device}", args.arch, model.num_parameters());
    let mut test_loss = evaluate(&model, &test.inputs, args.arch, device)?;
    let train_seconds = generative::fit(
        &args.run,
        train,
        model.parameters(),
        |pixels| {
            let x = Var::constant(shaped(&pixels, args.arch)?.to_device(device)?);
            binary_cross_entropy_with_logits(&model.forward(&x)?, &x, Reduction::Mean)
        },
        |epoch, train_loss, secs| {
            test_loss = evaluate(&model, &test.inputs, args.arch, device)?;
            println!(
                "epoch {epoch}: train BCE {train_loss:.4}  test BCE {:.4}  test MSE {:.5}  {secs:.1}s",
                test_loss.0, test_loss.1
            );
            Ok(())
        },
    )?;
    generative::ensure_dir(&args.out_dir)?;
    let originals = test.inputs.narrow(0, 0, 16)?;
    model.eval();
    let reconstructions =
        no_grad(|| model.reconstruct(&Var::constant(shaped(&originals, args.arch)?.to_device(device)?)))?
            .value()
            .to_device(Device::Cpu)?
            .reshape(&[16, 784])?;
    let arch = if args.arch == Arch::Dense { "dense" } else { "conv" };
    let picture = args.out_dir.join(format!("autoencoder_{arch}.png"));
    generative::write_grid(&picture, &Tensor::cat(&[&originals, &reconstructions], 0)?, 16, 2)?;
    println!("test digits above their reconstructions: {}", picture.display());
    println!(
        "{{\"example\":\"autoencoder\",\"arch\":\"{arch}\",\"device\":\"{device}\",\"epochs\":{},\"batch_size\":{},\"lr\":{},\"seed\":{},\"test_loss\":{:.5},\"test_mse\":{:.6},\"train_seconds\":{train_seconds:.1}}}",
        args.run.epochs, args.run.batch_size, args.run.lr, args.run.seed, test_loss.0, test_loss.1
    );
    Ok(())
}
