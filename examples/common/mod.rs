//! What the MNIST examples share: loading and standardising the data, the training loop (cosine
//! learning-rate schedule, progress bar, per-epoch report), evaluation under `no_grad`, and the
//! final JSON line. Each example only builds its model.

use ferrograd::models::data::mnist::{self, Split};
use ferrograd::models::data::{DataLoader, TensorDataset};
use ferrograd::models::loss::cross_entropy;
use ferrograd::models::metrics::correct_predictions;
use ferrograd::models::optim::Optimizer;
use ferrograd::{no_grad, Device, Module, Tensor, Var};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The flags every example takes (DEVELOPERS.md: examples behave alike).
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Passes over the 60,000 training images.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Examples per optimizer step.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Peak Adam learning rate (cosine-decayed to 0 over the run).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Seed for initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device to train on: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Folder with the four MNIST `*-ubyte.gz` files.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist"))]
    pub data_dir: PathBuf,
}

/// The run's settings, echoed in the JSON line.
pub struct RunConfig {
    /// The example's name.
    pub example: &'static str,
    /// Passes over the training set.
    pub epochs: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Seed for shuffling.
    pub seed: u64,
    /// The device trained on.
    pub device: Device,
    /// The shape of one example as the model takes it (`[784]`, `[1, 28, 28]`).
    pub example_shape: Vec<usize>,
}

/// The final metrics.
pub struct Summary {
    /// Mean training loss of the last epoch (NaN if no step ran).
    pub train_loss: f64,
    /// Test accuracy, a fraction.
    pub test_accuracy: f64,
    /// Training throughput over all epochs.
    pub samples_per_sec: f64,
    /// Time spent in training steps.
    pub train_seconds: f64,
}

/// MNIST's train and test splits, standardised with the training set's mean and standard
/// deviation (0.1307, 0.3081) as torchvision's `Normalize`: zero-centred inputs condition the
/// first layer's gradients better, and Adam converges faster. Fails early, with a clear error,
/// if the device cannot be used.
pub fn load_mnist(dir: &Path, device: Device) -> ferrograd::Result<(TensorDataset, TensorDataset)> {
    let normalize = |mut d: TensorDataset| -> ferrograd::Result<TensorDataset> {
        d.inputs = d.inputs.add_scalar(-0.1307)?.mul_scalar(1.0 / 0.3081)?;
        Ok(d)
    };
    let train = normalize(mnist::load(dir, Split::Train)?)?;
    let test = normalize(mnist::load(dir, Split::Test)?)?;
    train.inputs.narrow(0, 0, 1)?.to_device(device)?;
    println!("MNIST: {} training, {} test images; device {device}", train.len(), test.len());
    Ok((train, test))
}

/// A batch of flat images in the model's input shape, on the run's device.
fn model_input(x: Tensor, cfg: &RunConfig) -> ferrograd::Result<Var> {
    let mut shape = vec![x.shape()[0]];
    shape.extend(&cfg.example_shape);
    Ok(Var::constant(x.reshape(&shape)?.to_device(cfg.device)?))
}

/// Trains for `cfg.epochs` epochs with a cosine learning-rate schedule (from `lr` down to 0 over
/// the run: large steps early, fine ones at the end), reporting each epoch.
pub fn train(
    model: &dyn Module,
    opt: &mut dyn Optimizer,
    train: TensorDataset,
    test: &TensorDataset,
    cfg: &RunConfig,
) -> ferrograd::Result<Summary> {
    let mut loader = DataLoader::new(train, cfg.batch_size, true, false, cfg.seed)?;
    let (mut train_seconds, mut samples) = (0.0f64, 0usize);
    let (mut step, total_steps) = (0usize, cfg.epochs * loader.num_batches());
    let (mut train_loss, mut test_accuracy) = (f64::NAN, evaluate_if(cfg.epochs == 0, model, test, cfg)?);
    for epoch in 1..=cfg.epochs {
        let bar = ProgressBar::new(loader.num_batches() as u64);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{}", cfg.epochs));
        model.train();
        let start = Instant::now();
        let (mut loss_sum, mut batches, mut epoch_samples) = (0.0, 0usize, 0usize);
        for batch in loader.epoch() {
            let (x, y) = batch?;
            let progress = step as f64 / total_steps as f64;
            opt.set_lr(cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
            step += 1;
            epoch_samples += y.numel();
            let loss = cross_entropy(&model.forward(&model_input(x, cfg)?)?, &y.to_device(cfg.device)?)?;
            opt.zero_grad();
            loss.backward()?;
            opt.step()?;
            loss_sum += loss.value().item()?;
            batches += 1;
            if batches % 50 == 0 {
                bar.set_message(format!("loss {:.4}", loss_sum / batches as f64));
            }
            bar.inc(1);
        }
        let secs = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        train_seconds += secs;
        samples += epoch_samples;
        train_loss = loss_sum / batches.max(1) as f64;
        test_accuracy = evaluate(model, test, cfg)?;
        println!(
            "epoch {epoch}: loss {train_loss:.4}  test accuracy {:.2}%  {:.0} samples/s  {secs:.2}s",
            100.0 * test_accuracy,
            epoch_samples as f64 / secs
        );
    }
    Ok(Summary { train_loss, test_accuracy, samples_per_sec: samples as f64 / train_seconds.max(1e-9), train_seconds })
}

fn evaluate_if(cond: bool, model: &dyn Module, test: &TensorDataset, cfg: &RunConfig) -> ferrograd::Result<f64> {
    if !cond {
        return Ok(0.0);
    }
    let acc = evaluate(model, test, cfg)?;
    println!("test accuracy {:.2}%", 100.0 * acc);
    Ok(acc)
}

/// Test accuracy in evaluation mode, without recording a graph, in batches of 1000.
pub fn evaluate(model: &dyn Module, test: &TensorDataset, cfg: &RunConfig) -> ferrograd::Result<f64> {
    model.eval();
    no_grad(|| {
        let mut correct = 0;
        let idx: Vec<usize> = (0..test.len()).collect();
        for chunk in idx.chunks(1000) {
            let (x, y) = test.batch(chunk)?;
            correct += correct_predictions(&model.forward(&model_input(x, cfg)?)?.value(), &y.to_device(cfg.device)?)?;
        }
        Ok(correct as f64 / test.len() as f64)
    })
}

/// The last line: one JSON object with the settings and the final metrics.
pub fn print_json(cfg: &RunConfig, s: &Summary) {
    // JSON has no NaN: with no training step there is no loss.
    let loss = if s.train_loss.is_finite() { format!("{:.6}", s.train_loss) } else { "null".to_string() };
    println!(
        "{{\"example\":\"{}\",\"device\":\"{}\",\"epochs\":{},\"batch_size\":{},\"lr\":{},\"seed\":{},\"train_loss\":{loss},\"test_accuracy\":{:.4},\"samples_per_sec\":{:.1},\"train_seconds\":{:.3}}}",
        cfg.example, cfg.device, cfg.epochs, cfg.batch_size, cfg.lr, cfg.seed, s.test_accuracy, s.samples_per_sec, s.train_seconds
    );
}
