//! What the generative examples (autoencoder, vae, gan, dcgan) share: MNIST as pixels in [0, 1],
//! PNG grids of digits, loss-curve plots, the GAN training loop, and the score of generated
//! digits by the classifier of the `mnist_cnn` example.
//!
//! Include it beside `common/mod.rs` (it trains the classifier with that module's loop).

#![allow(dead_code)]

#[path = "bar.rs"]
mod bar;
pub use bar::progress_bar;

use crate::common::{self, RunConfig};
use ferrograd::models::checkpoint;
use ferrograd::models::data::mnist::{self, Split};
use ferrograd::models::data::{DataLoader, TensorDataset};
use ferrograd::models::layers::Sequential;
use ferrograd::models::metrics::{class_histogram, inception_score};
use ferrograd::models::optim::{Adam, AdamConfig, Optimizer};
use ferrograd::models::zoo::{gan_train_step, generator_step, mnist_cnn};
use ferrograd::{no_grad, DType, Device, Error, Module, Rng, Tensor, Var};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// MNIST's train and test images as `f32` pixels in [0, 1], flat `[n, 784]`, with their labels.
pub fn load_pixels(dir: &Path) -> ferrograd::Result<(TensorDataset, TensorDataset)> {
    let train = mnist::load(dir, Split::Train)?;
    let test = mnist::load(dir, Split::Test)?;
    println!("MNIST: {} training, {} test images", train.len(), test.len());
    Ok((train, test))
}

fn io_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Io { path: path.display().to_string(), reason: reason.to_string() }
}

/// Creates `dir` (and its parents) if needed.
pub fn ensure_dir(dir: &Path) -> ferrograd::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, format!("cannot create: {e}")))
}

/// Writes square grey images — `images` is `[N, …]` with `side·side` values per image in [0, 1]
/// (clamped) — as one 8-bit greyscale PNG: `cols` images per row, 2 pixels of mid-grey between
/// them, each pixel drawn as a `zoom × zoom` block.
pub fn write_grid(path: &Path, images: &Tensor, cols: usize, zoom: usize) -> ferrograd::Result<()> {
    let n = images.shape().first().copied().unwrap_or(0);
    let per_image = images.numel().checked_div(n).unwrap_or(0);
    let side = (per_image as f64).sqrt().round() as usize;
    if n == 0 || side * side != per_image || cols == 0 || zoom == 0 {
        return Err(Error::shape("write_grid", &[images.shape()], "expected N > 0 square images"));
    }
    let pixels = images.to_dtype(DType::F64)?.to_vec::<f64>()?;
    let (rows, cell, gap) = (n.div_ceil(cols), side * zoom, 2);
    let (width, height) = (cols * (cell + gap) + gap, rows * (cell + gap) + gap);
    let mut canvas = vec![128u8; width * height];
    for (i, image) in pixels.chunks(per_image).enumerate() {
        let (x0, y0) = (gap + (i % cols) * (cell + gap), gap + (i / cols) * (cell + gap));
        for y in 0..cell {
            for x in 0..cell {
                let v = image[(y / zoom) * side + x / zoom].clamp(0.0, 1.0);
                canvas[(y0 + y) * width + x0 + x] = (v * 255.0).round() as u8;
            }
        }
    }
    let file = std::fs::File::create(path).map_err(|e| io_error(path, format!("cannot create: {e}")))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| io_error(path, e))?;
    writer.write_image_data(&canvas).map_err(|e| io_error(path, e))
}

/// The font the plots use, shipped in `data/fonts` (plotters draws no text without one).
static FONT: &[u8] = include_bytes!("../../data/fonts/DejaVuSans.ttf");

/// Plots loss curves, one `(name, values per step)` series each, as a PNG line chart: steps on
/// the x axis, each curve smoothed by a moving average over `smooth` steps (raw GAN losses are
/// too noisy to read).
pub fn plot_losses(path: &Path, title: &str, series: &[(&str, &[f64])], smooth: usize) -> ferrograd::Result<()> {
    use plotters::prelude::*;
    let plot_error = |e: &dyn std::fmt::Display| io_error(path, format!("plotting: {e}"));
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).map_err(|_| plot_error(&"bad font"))?;
    let smoothed: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|(_, v)| {
            let w = smooth.max(1);
            (0..v.len())
                .map(|i| {
                    let window = &v[i.saturating_sub(w - 1)..=i];
                    (i as f64, window.iter().sum::<f64>() / window.len() as f64)
                })
                .collect()
        })
        .collect();
    let steps = smoothed.iter().map(Vec::len).max().unwrap_or(1).max(2) as f64;
    let values = || smoothed.iter().flatten().map(|p| p.1).filter(|v| v.is_finite());
    let (lo, hi) = (values().fold(f64::INFINITY, f64::min), values().fold(f64::NEG_INFINITY, f64::max));
    let (lo, hi) = if lo < hi { (lo, hi) } else { (lo - 1.0, lo + 1.0) };
    let margin = 0.05 * (hi - lo);

    let root = BitMapBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..steps, (lo - margin)..(hi + margin))
        .map_err(|e| plot_error(&e))?;
    chart
        .configure_mesh()
        .x_desc("training step")
        .y_desc(format!("loss (moving average of {smooth} steps)"))
        .draw()
        .map_err(|e| plot_error(&e))?;
    let colors = [RED, BLUE, GREEN, MAGENTA];
    for (i, ((name, _), points)) in series.iter().zip(&smoothed).enumerate() {
        let color = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
            .map_err(|e| plot_error(&e))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_error(&e))?;
    root.present().map_err(|e| plot_error(&e))
}

/// The `mnist_cnn` classifier, used to score generated digits.
pub struct DigitClassifier {
    model: Sequential,
}

/// How a set of digits scores with the classifier.
pub struct DigitScore {
    /// The inception-style score over the 10 classes (1 to 10).
    pub score: f64,
    /// How many digits the classifier assigns to each class.
    pub histogram: Vec<usize>,
}

impl DigitClassifier {
    /// Loads the classifier's weights from `path`, or, if there is no such file, trains the
    /// `mnist_cnn` example's network for 3 epochs (≈ 99.2% test accuracy, a minute on 2 cores)
    /// and saves it there for the next run.
    pub fn load_or_train(path: &Path, data_dir: &Path) -> ferrograd::Result<DigitClassifier> {
        let mut rng = Rng::new(0);
        let model = mnist_cnn(128, 0.25, 0xD0, &mut rng)?;
        if path.exists() {
            checkpoint::load(&model, path)?;
            println!("classifier: loaded {}", path.display());
        } else {
            println!("classifier: {} not found, training the mnist_cnn network (3 epochs)", path.display());
            let (train, test) = common::load_mnist(data_dir, Device::Cpu)?;
            let mut opt = Adam::new(model.parameters(), AdamConfig::default())?;
            let cfg = RunConfig {
                example: "mnist_cnn",
                epochs: 3,
                batch_size: 64,
                lr: 1e-3,
                seed: 0,
                device: Device::Cpu,
                example_shape: vec![1, 28, 28],
            };
            common::train(&model, &mut opt, train, &test, &cfg)?;
            if let Some(dir) = path.parent() {
                ensure_dir(dir)?;
            }
            checkpoint::save(&model, path)?;
            println!("classifier: saved {}", path.display());
        }
        model.eval();
        Ok(DigitClassifier { model })
    }

    /// Class probabilities `[N, 10]` of images with pixels in [0, 1] (`[N, 784]` or
    /// `[N, 1, 28, 28]`), standardised as the classifier was trained.
    pub fn probabilities(&self, images: &Tensor) -> ferrograd::Result<Tensor> {
        let n = images.shape().first().copied().unwrap_or(0);
        let x = images.to_device(Device::Cpu)?.contiguous()?.reshape(&[n, 1, 28, 28])?;
        let x = x.add_scalar(-0.1307)?.mul_scalar(1.0 / 0.3081)?;
        no_grad(|| {
            let chunks = (0..n)
                .step_by(1000)
                .map(|s| self.model.forward(&Var::constant(x.narrow(0, s, 1000.min(n - s))?))?.value().softmax(1))
                .collect::<ferrograd::Result<Vec<_>>>()?;
            Tensor::cat(&chunks.iter().collect::<Vec<_>>(), 0)
        })
    }

    /// The score and class histogram of `images` (pixels in [0, 1]).
    pub fn score(&self, images: &Tensor) -> ferrograd::Result<DigitScore> {
        let p = self.probabilities(images)?;
        Ok(DigitScore { score: inception_score(&p)?, histogram: class_histogram(&p)? })
    }
}

/// Scores the images of a raw file (little-endian f32 pixels in [0, 1], 784 per image) and
/// prints the score as a JSON line: how samples of another implementation are scored by the
/// same classifier.
pub fn score_file(path: &Path, classifier: &DigitClassifier) -> ferrograd::Result<()> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, format!("cannot read: {e}")))?;
    if bytes.is_empty() || bytes.len() % (784 * 4) != 0 {
        return Err(io_error(path, format!("{} bytes is not a whole number of 784-pixel f32 images", bytes.len())));
    }
    let pixels: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let n = pixels.len() / 784;
    let s = classifier.score(&Tensor::from_vec(pixels, &[n, 784])?)?;
    println!(
        "{{\"score_file\":\"{}\",\"images\":{n},\"score\":{:.4},\"class_histogram\":{:?}}}",
        path.display(),
        s.score,
        s.histogram
    );
    Ok(())
}

/// The classifier flag every generative example takes.
pub fn default_classifier_path() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/mnist_cnn_classifier.safetensors"))
}

/// Moves every parameter (and `BatchNorm`'s running statistics) of `modules` to `device`.
pub fn move_to(modules: &[&dyn Module], device: Device) -> ferrograd::Result<()> {
    modules.iter().try_for_each(|m| m.to_device(device))
}

/// The flags the GAN examples share (beside [`common::RunArgs`]).
#[derive(clap::Args, Debug)]
pub struct GanArgs {
    /// Adam's β₁.
    #[arg(long, default_value_t = 0.5)]
    pub beta1: f64,
    /// Keep the learning rate constant (default: decay it linearly to 0 over the second half).
    #[arg(long)]
    pub constant_lr: bool,
    /// Size of the generator's noise input.
    #[arg(long, default_value_t = 64)]
    pub latent: usize,
    /// Dropout in the discriminator.
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// Generator updates per discriminator update (each extra one on fresh noise).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub g_steps: u32,
    /// Folder for the sample grids and the loss plot.
    #[arg(long, default_value = "out")]
    pub out_dir: PathBuf,
    /// Only score the images in this file (raw little-endian f32 pixels in [0, 1], 784 per
    /// image, as `bench/pytorch_dcgan.py --train` writes them) and exit.
    #[arg(long)]
    pub score_file: Option<PathBuf>,
    /// The scoring classifier's weights (trained and saved there if missing).
    #[arg(long, default_value_os_t = default_classifier_path())]
    pub classifier: PathBuf,
}

/// A whole GAN example: loads the classifier and the data, builds the two networks with
/// `build(rng)` (generator, discriminator), trains them, and reports. Images reach the networks
/// in `image_shape` (`[784]` or `[1, 28, 28]`).
pub fn run_gan(
    example: &'static str,
    run: &common::RunArgs,
    gan: &GanArgs,
    image_shape: Vec<usize>,
    build: impl FnOnce(&mut Rng) -> ferrograd::Result<(Sequential, Sequential)>,
) -> ferrograd::Result<()> {
    let device = Device::parse(&run.device)?;
    let classifier = DigitClassifier::load_or_train(&gan.classifier, &run.data_dir)?;
    if let Some(path) = &gan.score_file {
        return score_file(path, &classifier);
    }
    let (train, test) = load_pixels(&run.data_dir)?;
    let (generator, discriminator) = build(&mut Rng::new(run.seed))?;
    move_to(&[&generator, &discriminator], device)?;
    println!(
        "{example}: generator {} parameters, discriminator {} parameters; device {device}",
        generator.num_parameters(),
        discriminator.num_parameters()
    );
    ensure_dir(&gan.out_dir)?;
    let cfg = GanConfig { example, run, gan, device, image_shape };
    let history = train_gan(&generator, &discriminator, train, &cfg, &classifier)?;
    report_gan(&generator, &history, &cfg, &classifier, &test)
}

/// Trains `parameters` with Adam on shuffled batches of `train` for `run.epochs` epochs, with a
/// cosine learning-rate schedule (from `run.lr` down to 0 over the run), a progress bar and the
/// running mean loss: `loss(pixels)` gives each batch's loss, and `after_epoch(epoch, mean train
/// loss, seconds)` reports. Returns the seconds spent training.
pub fn fit(
    run: &common::RunArgs,
    train: TensorDataset,
    parameters: Vec<Var>,
    mut loss: impl FnMut(Tensor) -> ferrograd::Result<Var>,
    mut after_epoch: impl FnMut(usize, f64, f64) -> ferrograd::Result<()>,
) -> ferrograd::Result<f64> {
    let (lr, epochs) = (run.lr, run.epochs);
    let mut opt = Adam::new(parameters, AdamConfig { lr, ..Default::default() })?;
    let mut loader = DataLoader::new(train, run.batch_size, true, false, run.seed)?;
    let total_steps = (epochs * loader.num_batches()).max(1) as f64;
    let (mut step, mut train_seconds) = (0usize, 0.0);
    for epoch in 1..=epochs {
        let bar = progress_bar(loader.num_batches(), format!("epoch {epoch}/{epochs}"));
        let start = Instant::now();
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        for batch in loader.epoch() {
            let (pixels, _) = batch?;
            opt.set_lr(lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total_steps).cos()));
            step += 1;
            let l = loss(pixels)?;
            opt.zero_grad();
            l.backward()?;
            opt.step()?;
            loss_sum += l.value().item()?;
            batches += 1;
            if batches.is_multiple_of(50) {
                bar.set_message(format!("loss {:.4}", loss_sum / batches as f64));
            }
            bar.inc(1);
        }
        let secs = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        train_seconds += secs;
        after_epoch(epoch, loss_sum / batches.max(1) as f64, secs)?;
    }
    Ok(train_seconds)
}

/// What a GAN run needs beyond its two networks: its flags, and what was derived from them.
pub struct GanConfig<'a> {
    /// The example's name, for file names and the JSON line.
    pub example: &'static str,
    /// Epochs, batch size, learning rate (both networks' Adam), seed.
    pub run: &'a common::RunArgs,
    /// Adam's β₁ (DCGAN: 0.5; the default 0.9 makes GAN training oscillate), the learning-rate
    /// schedule (constant, or decayed linearly to 0 over the second half, as CycleGAN does, so
    /// that the last steps settle instead of oscillating), latent size, output folder.
    pub gan: &'a GanArgs,
    /// Where the networks run (parsed from `run.device`).
    pub device: Device,
    /// The shape of one image as the networks take it (`[784]` or `[1, 28, 28]`).
    pub image_shape: Vec<usize>,
}

/// What a GAN run measured.
pub struct GanHistory {
    /// The generator's loss at every step.
    pub generator: Vec<f64>,
    /// The discriminator's loss (real + fake) at every step.
    pub discriminator: Vec<f64>,
    /// Wall-clock seconds of each epoch's training steps.
    pub epoch_seconds: Vec<f64>,
}

/// `batch` samples of the generator from `noise` `[batch, latent]`, in evaluation mode
/// (BatchNorm's running statistics) and without a graph, as pixels in [0, 1].
pub fn generate(generator: &dyn Module, noise: &Tensor) -> ferrograd::Result<Tensor> {
    generator.eval();
    let images = no_grad(|| generator.forward(&Var::constant(noise.clone())))?.value();
    generator.train();
    images.add_scalar(1.0)?.mul_scalar(0.5)
}

/// `n` samples of the generator, in batches of 500, as pixels in [0, 1] on the CPU.
pub fn sample_many(generator: &dyn Module, n: usize, cfg: &GanConfig, rng: &mut Rng) -> ferrograd::Result<Tensor> {
    let batches = (0..n)
        .step_by(500)
        .map(|s| {
            let noise =
                rng.normal_tensor(&[500.min(n - s), cfg.gan.latent], 0.0, 1.0, DType::F32)?.to_device(cfg.device)?;
            generate(generator, &noise)?.to_device(Device::Cpu)
        })
        .collect::<ferrograd::Result<Vec<_>>>()?;
    Tensor::cat(&batches.iter().collect::<Vec<_>>(), 0)
}

/// Trains a GAN with [`gan_train_step`] (the non-saturating loss; `--g-steps` > 1 adds
/// [`generator_step`]s on fresh noise) and Adam for both networks, the learning rate constant
/// for the first half of the steps and then decayed linearly to 0 (unless `cfg.gan.constant_lr`).
/// Real pixels are scaled to [−1, 1] to match the generator's tanh. After every epoch, writes
/// `<example>_epoch<N>.png`: 64 samples from fixed noise, so successive grids show the same
/// latent points improving.
pub fn train_gan(
    generator: &dyn Module,
    discriminator: &dyn Module,
    train: TensorDataset,
    cfg: &GanConfig,
    classifier: &DigitClassifier,
) -> ferrograd::Result<GanHistory> {
    let adam = AdamConfig { lr: cfg.run.lr, betas: (cfg.gan.beta1, 0.999), ..Default::default() };
    let mut opt_g = Adam::new(generator.parameters(), adam)?;
    let mut opt_d = Adam::new(discriminator.parameters(), adam)?;
    let mut loader = DataLoader::new(train, cfg.run.batch_size, true, true, cfg.run.seed)?;
    let mut rng = Rng::new(cfg.run.seed ^ 0x6A4);
    let fixed_noise = rng.normal_tensor(&[64, cfg.gan.latent], 0.0, 1.0, DType::F32)?.to_device(cfg.device)?;
    let total_steps = (cfg.run.epochs * loader.num_batches()).max(1) as f64;
    let mut step = 0usize;
    let mut history = GanHistory { generator: Vec::new(), discriminator: Vec::new(), epoch_seconds: Vec::new() };
    for epoch in 1..=cfg.run.epochs {
        generator.train();
        discriminator.train();
        let bar = progress_bar(loader.num_batches(), format!("epoch {epoch}/{}", cfg.run.epochs));
        let start = Instant::now();
        for batch in loader.epoch() {
            let (pixels, _) = batch?;
            let b = pixels.shape()[0];
            let mut shape = vec![b];
            shape.extend(&cfg.image_shape);
            let real = Var::constant(pixels.mul_scalar(2.0)?.add_scalar(-1.0)?.reshape(&shape)?.to_device(cfg.device)?);
            let noise =
                Var::constant(rng.normal_tensor(&[b, cfg.gan.latent], 0.0, 1.0, DType::F32)?.to_device(cfg.device)?);
            if !cfg.gan.constant_lr {
                let lr = cfg.run.lr * (2.0 * (1.0 - step as f64 / total_steps)).min(1.0);
                opt_g.set_lr(lr);
                opt_d.set_lr(lr);
            }
            step += 1;
            let losses = gan_train_step(generator, discriminator, &mut opt_g, &mut opt_d, &real, &noise)?;
            for _ in 1..cfg.gan.g_steps {
                let noise = rng.normal_tensor(&[b, cfg.gan.latent], 0.0, 1.0, DType::F32)?.to_device(cfg.device)?;
                generator_step(generator, discriminator, &mut opt_g, &Var::constant(noise))?;
            }
            history.discriminator.push(losses.discriminator);
            history.generator.push(losses.generator);
            if history.generator.len().is_multiple_of(20) {
                let recent = |v: &[f64]| v[v.len().saturating_sub(100)..].iter().sum::<f64>() / v.len().min(100) as f64;
                bar.set_message(format!(
                    "D {:.3}  G {:.3}",
                    recent(&history.discriminator),
                    recent(&history.generator)
                ));
            }
            bar.inc(1);
        }
        let seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        history.epoch_seconds.push(seconds);
        let grid = cfg.gan.out_dir.join(format!("{}_epoch{epoch}.png", cfg.example));
        write_grid(&grid, &generate(generator, &fixed_noise)?, 8, 2)?;
        let steps = loader.num_batches();
        let mean = |v: &[f64]| v[v.len() - steps..].iter().sum::<f64>() / steps as f64;
        // A quick score of 2,000 samples shows the trend (the final one uses 10,000).
        let score = classifier.score(&sample_many(generator, 2000, cfg, &mut Rng::new(epoch as u64))?)?.score;
        println!(
            "epoch {epoch}: D loss {:.4}  G loss {:.4}  score {score:.2}  {seconds:.1}s ({:.0} images/s)  samples: {}",
            mean(&history.discriminator),
            mean(&history.generator),
            (steps * cfg.run.batch_size) as f64 / seconds,
            grid.display()
        );
    }
    Ok(history)
}

/// Scores 10,000 samples of a trained generator, plots its loss curves, prints the class
/// histogram, and prints the final JSON line (`score`, and the real test digits' score for
/// calibration).
pub fn report_gan(
    generator: &dyn Module,
    history: &GanHistory,
    cfg: &GanConfig,
    classifier: &DigitClassifier,
    test: &TensorDataset,
) -> ferrograd::Result<()> {
    let plot = cfg.gan.out_dir.join(format!("{}_losses.png", cfg.example));
    if !history.generator.is_empty() {
        let series: [(&str, &[f64]); 2] =
            [("discriminator", &history.discriminator), ("generator", &history.generator)];
        plot_losses(&plot, &format!("{}: losses", cfg.example), &series, 50)?;
        println!("loss curves: {}", plot.display());
    }
    let samples = sample_many(generator, 10_000, cfg, &mut Rng::new(cfg.run.seed ^ 0x5C0))?;
    let fake = classifier.score(&samples)?;
    let real = classifier.score(&test.inputs)?;
    println!("score of 10,000 samples: {:.3} (real test digits: {:.3})", fake.score, real.score);
    println!("samples per class (0-9): {:?}", fake.histogram);
    let last = |v: &[f64]| {
        let k = v.len().min(100);
        if k == 0 {
            "null".to_string()
        } else {
            format!("{:.4}", v[v.len() - k..].iter().sum::<f64>() / k as f64)
        }
    };
    let secs = &history.epoch_seconds;
    let per_epoch =
        if secs.is_empty() { "null".into() } else { format!("{:.2}", secs.iter().sum::<f64>() / secs.len() as f64) };
    println!(
        "{{\"example\":\"{}\",\"device\":\"{}\",\"epochs\":{},\"batch_size\":{},\"lr\":{},\"seed\":{},\"score\":{:.4},\"real_score\":{:.4},\"class_histogram\":{:?},\"d_loss\":{},\"g_loss\":{},\"seconds_per_epoch\":{per_epoch}}}",
        cfg.example,
        cfg.device,
        cfg.run.epochs,
        cfg.run.batch_size,
        cfg.run.lr,
        cfg.run.seed,
        fake.score,
        real.score,
        fake.histogram,
        last(&history.discriminator),
        last(&history.generator),
    );
    Ok(())
}
