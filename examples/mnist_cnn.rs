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
use ferrograd::models::checkpoint;
use ferrograd::models::data::mnist::{self, Split};
use ferrograd::models::data::{DataLoader, TensorDataset};
use ferrograd::models::layers::{Conv2d, Dropout, Flatten, Linear, MaxPool2d, Relu, Sequential};
use ferrograd::models::loss::cross_entropy;
use ferrograd::models::metrics::correct_predictions;
use ferrograd::models::optim::{Adam, AdamConfig, Optimizer};
use ferrograd::tensor::Window;
use ferrograd::{no_grad, DType, Device, Module, Rng, Var};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;

/// Train a convolutional network on MNIST.
#[derive(Parser, Debug)]
#[command(version, about = "Train a small convolutional network on MNIST (ferrograd example)")]
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
    let device = Device::parse(&args.device)?;
    let train = normalize(mnist::load(&args.data_dir, Split::Train)?)?;
    let test = normalize(mnist::load(&args.data_dir, Split::Test)?)?;
    // Fail early, with a clear error, if the device cannot be used.
    train.inputs.narrow(0, 0, 1)?.to_device(device)?;
    println!("MNIST: {} training, {} test images; device {device}", train.len(), test.len());

    let mut rng = Rng::new(args.seed);
    let model = Sequential::new()
        .add(Conv2d::new(1, 32, [3, 3], Window::default(), 1, true, DType::F32, &mut rng)?)
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Conv2d::new(32, 64, [3, 3], Window::default(), 1, true, DType::F32, &mut rng)?)
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(Linear::new(1600, args.hidden, true, DType::F32, &mut rng)?)
        .add(Relu)
        .add(Dropout::new(args.dropout, args.seed ^ 0xD0)?)
        .add(Linear::new(args.hidden, 10, true, DType::F32, &mut rng)?);
    println!("model: 2-conv CNN, {} parameters", model.num_parameters());
    if let Some(path) = &args.load {
        checkpoint::load(&model, path)?;
        println!("loaded weights from {}", path.display());
    }
    let mut opt = Adam::new(model.parameters(), AdamConfig { lr: args.lr, ..Default::default() })?;
    let mut loader = DataLoader::new(train, args.batch_size, true, false, args.seed)?;

    let (mut train_time, mut samples) = (0.0f64, 0usize);
    let (mut step, total_steps) = (0usize, args.epochs * loader.num_batches());
    let (mut last_loss, mut test_acc) = (f64::NAN, 0.0);
    for epoch in 1..=args.epochs {
        let bar = ProgressBar::new(loader.num_batches() as u64);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{}", args.epochs));
        let start = Instant::now();
        let (mut loss_sum, mut batches, mut epoch_samples) = (0.0, 0usize, 0usize);
        for batch in loader.epoch() {
            let (x, y) = batch?;
            // Cosine learning-rate schedule, from `lr` down to 0 over the whole run: large steps
            // early, fine ones at the end, which settles the weights in a better minimum.
            let progress = step as f64 / total_steps as f64;
            opt.set_lr(args.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
            step += 1;
            epoch_samples += y.numel();
            let logits = model.forward(&Var::constant(x.reshape(&[y.numel(), 1, 28, 28])?))?;
            let loss = cross_entropy(&logits, &y)?;
            opt.zero_grad();
            loss.backward()?;
            opt.step()?;
            let l = loss.value().item()?;
            loss_sum += l;
            batches += 1;
            if batches % 50 == 0 {
                bar.set_message(format!("loss {:.4}", loss_sum / batches as f64));
            }
            bar.inc(1);
        }
        let secs = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        train_time += secs;
        samples += epoch_samples;
        last_loss = loss_sum / batches.max(1) as f64;
        model.eval();
        test_acc = evaluate(&model, &test)?;
        model.train();
        println!(
            "epoch {epoch}: loss {last_loss:.4}  test accuracy {:.2}%  {:.0} samples/s  {secs:.2}s",
            100.0 * test_acc,
            epoch_samples as f64 / secs
        );
    }
    if args.epochs == 0 {
        model.eval();
        test_acc = evaluate(&model, &test)?;
        println!("test accuracy {:.2}%", 100.0 * test_acc);
    }
    if let Some(path) = &args.save {
        checkpoint::save(&model, path)?;
        println!("saved weights to {}", path.display());
    }
    println!(
        "{{\"example\":\"mnist_cnn\",\"device\":\"{device}\",\"epochs\":{},\"batch_size\":{},\"lr\":{},\"seed\":{},\"train_loss\":{},\"test_accuracy\":{test_acc:.4},\"samples_per_sec\":{:.1},\"train_seconds\":{train_time:.3}}}",
        args.epochs,
        args.batch_size,
        args.lr,
        args.seed,
        // JSON has no NaN: with no training step there is no loss.
        if last_loss.is_finite() { format!("{last_loss:.6}") } else { "null".to_string() },
        samples as f64 / train_time.max(1e-9),
    );
    Ok(())
}

/// Standardises pixels with MNIST's training-set mean and standard deviation (0.1307, 0.3081),
/// as torchvision's `Normalize` does: zero-centred inputs make the first layer's gradients
/// better conditioned, and Adam converges faster.
fn normalize(mut data: TensorDataset) -> ferrograd::Result<TensorDataset> {
    data.inputs = data.inputs.add_scalar(-0.1307)?.mul_scalar(1.0 / 0.3081)?;
    Ok(data)
}

/// Test accuracy, computed without recording a graph, in batches of 1000.
fn evaluate(model: &impl Module, test: &TensorDataset) -> ferrograd::Result<f64> {
    no_grad(|| {
        let mut correct = 0;
        let idx: Vec<usize> = (0..test.len()).collect();
        for chunk in idx.chunks(1000) {
            let (x, y) = test.batch(chunk)?;
            let logits = model.forward(&Var::constant(x.reshape(&[chunk.len(), 1, 28, 28])?))?;
            correct += correct_predictions(&logits.value(), &y)?;
        }
        Ok(correct as f64 / test.len() as f64)
    })
}
