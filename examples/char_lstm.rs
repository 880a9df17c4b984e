//! A character-level language model: embedding → 2-layer LSTM (640 units) → linear, trained on eight
//! Shakespeare plays with truncated backpropagation through time, then sampled.
//!
//! ```text
//! cargo run --release --example char_lstm                 # ~13.5 min; val ≈ 1.655 nats/char (goal 1.60)
//! cargo run --release --example char_lstm -- --epochs 1 --hidden 128
//! ```
//!
//! The training text is cut into `batch_size` contiguous streams; each step reads the next
//! `steps` characters of every stream and starts from the state the previous step ended in
//! (detached, so gradients stop at the window's start). Validation streams the held-out last 10%
//! the same way, each stream starting from the state reached on the characters before it, so
//! its loss is the model's true per-character cross-entropy in nats (`val_loss_cold`: with every
//! stream starting from zeros, the figure reported before). It also says how much of that loss the
//! capitalised lines cost (the speakers' names: the validation play's are new, and written
//! without the full stop the training plays put after them).
//!
//! Regularisation beyond dropout: `--weight-drop` (DropConnect on the recurrent weights,
//! AWD-LSTM's; 0.2 by default), `--ema` (validate and keep an exponential moving average of the
//! weights; 0.998 by default), and, off by default, `--variational` (one dropout mask per stream
//! for a whole window), `--input-dropout` and `--weight-decay`. The last line is a JSON object with `val_loss`.

use clap::Parser;
use ferrograd::models::layers::{Dropout, Embedding, Linear, Recurrent, RecurrentConfig, RecurrentState};
use ferrograd::models::loss::{cross_entropy, cross_entropy_with, Reduction};
use ferrograd::models::optim::{clip_grad_norm, AdamConfig, ExponentialMovingAverage, Optimizer, WarmupCosine};
use ferrograd::models::{checkpoint, prefixed_parameters};
use ferrograd::{no_grad, DType, Device, MatmulPrecision, Module, Rng, Tensor, Var};
use std::path::PathBuf;
use std::time::Instant;
use text::{progress_bar, sample, Corpus, LossTally, Streams};

#[path = "common/text.rs"]
mod text;

/// Train a character-level LSTM language model on Shakespeare.
#[derive(Parser, Debug)]
#[command(version, about = "Train a 2-layer character-level LSTM on Shakespeare (ferrograd example)")]
struct Args {
    /// Passes over the training text (7 fit in 14 minutes on the 2-core dev machine with
    /// medium precision).
    #[arg(long, default_value_t = 7)]
    epochs: usize,
    /// Parallel streams (sequences per step).
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Characters per step (the truncation length of backpropagation through time).
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Peak Adam learning rate (warm-up, then cosine decay to a tenth of it).
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Hidden size of each LSTM layer.
    #[arg(long, default_value_t = 640)]
    hidden: usize,
    /// Size of the character embeddings.
    #[arg(long, default_value_t = 64)]
    embed: usize,
    /// LSTM layers.
    #[arg(long, default_value_t = 2)]
    layers: usize,
    /// Dropout between the LSTM layers and before the head.
    #[arg(long, default_value_t = 0.3)]
    dropout: f64,
    /// DropConnect on the LSTM's recurrent weights `W_hh` (AWD-LSTM's weight drop).
    #[arg(long, default_value_t = 0.2)]
    weight_drop: f64,
    /// Dropout on the character embeddings, before the first LSTM layer.
    #[arg(long, default_value_t = 0.0)]
    input_dropout: f64,
    /// Variational dropout: each stream drops the same units at every step of a window.
    #[arg(long)]
    variational: bool,
    /// Decay of an exponential moving average of the weights, which is what gets validated,
    /// sampled and saved at the end (0: the trained weights themselves).
    #[arg(long, default_value_t = 0.998)]
    ema: f64,
    /// Clip the gradients' global norm to this.
    #[arg(long, default_value_t = 1.0)]
    clip: f64,
    /// Stop training after this many minutes (the schedule still assumes all epochs).
    #[arg(long, default_value_t = 14.0)]
    max_minutes: f64,
    /// Seed for initialisation, dropout and sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The optimizer: `adam` for every parameter, or `muon` (orthogonalised momentum) for the
    /// LSTM's weight matrices and AdamW for the embedding, head and biases.
    #[arg(long, default_value = "adam", value_parser = ["adam", "muon"])]
    optimizer: String,
    /// Decoupled weight decay (AdamW's, and Muon's); 0 is plain Adam.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Precision of the f32 matrix products on the CPU: `highest` (f32) or `medium` (inputs
    /// rounded to bfloat16, sums in f32, for the large products and the LSTM's step products:
    /// 1.5× the f32 training speed on CPUs with AVX512-BF16; PyTorch's
    /// `torch.set_float32_matmul_precision`).
    #[arg(long, default_value = "medium", value_parser = ["highest", "medium"])]
    matmul_precision: String,
    /// Device to train on (the recurrent kernels are CPU-only for now).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Folder with `plays.txt`.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/shakespeare"))]
    data_dir: PathBuf,
    /// Where to save the weights (safetensors): the trained ones after each epoch, then the
    /// final model (with `--ema`, the averaged weights).
    #[arg(long, default_value = "char_lstm.safetensors")]
    checkpoint: PathBuf,
    /// Start from these weights (safetensors); with `--epochs 0`, only evaluate and sample.
    #[arg(long)]
    load: Option<PathBuf>,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Characters to sample at the end.
    #[arg(long, default_value_t = 400)]
    sample_len: usize,
}

/// Embedding → dropout → LSTM → dropout → linear head over the vocabulary.
struct CharLstm {
    embed: Embedding,
    input_dropout: Dropout,
    lstm: Recurrent,
    dropout: Dropout,
    head: Linear,
    /// Dropout masks shared across the time steps of each stream.
    variational: bool,
}

impl CharLstm {
    /// Logits `[B·T, V]` for ids `[B, T]`, and the state after the last step.
    fn run(&self, ids: &Tensor, state: Option<&RecurrentState>) -> ferrograd::Result<(Var, RecurrentState)> {
        let drop = |d: &Dropout, x: &Var| if self.variational { d.forward_shared(x, 1) } else { d.forward(x) };
        let x = drop(&self.input_dropout, &self.embed.lookup(ids)?)?;
        let (out, state) = self.lstm.forward_with_state(&x, state)?;
        let [b, t, h] = [out.shape()[0], out.shape()[1], out.shape()[2]];
        let out = drop(&self.dropout, &out)?.reshape(&[b * t, h])?;
        Ok((self.head.forward(&out)?, state))
    }
}

impl Module for CharLstm {
    fn forward(&self, ids: &Var) -> ferrograd::Result<Var> {
        Ok(self.run(&ids.value(), None)?.0)
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        let parts: [(&str, &dyn Module); 3] = [("embed", &self.embed), ("lstm", &self.lstm), ("head", &self.head)];
        prefixed_parameters(parts)
    }

    fn set_training(&self, training: bool) {
        self.lstm.set_training(training);
        self.input_dropout.set_training(training);
        self.dropout.set_training(training);
    }
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Cross-entropy (nats/char) over the streams of the validation text, state carried, no graph.
///
/// With `warm`, each stream starts from the state the model reaches on the `steps` characters
/// before it (the end of the training text for the first stream, the end of the previous stream
/// for the others), which are read but not scored: every scored character is then predicted
/// with at least that much context, as it would be if the text were read as one stream. Without
/// it, each of the `batch` streams starts cold, from zeros, and its first characters cost more.
fn evaluate(model: &CharLstm, corpus: &Corpus, batch: usize, steps: usize, warm: bool) -> ferrograd::Result<LossTally> {
    model.eval();
    let streams = Streams::new(&corpus.val, batch, steps);
    let (mut tally, mut state) = (LossTally::new(&corpus.val, &corpus.vocab), None);
    no_grad(|| {
        // As much context as the training text has before the first stream, up to `steps`.
        let width = steps.min(corpus.train.len());
        if warm && width > 0 {
            let text: Vec<i64> = corpus.train.iter().chain(&corpus.val).copied().collect();
            let mut context = Vec::with_capacity(batch * width);
            for b in 0..batch {
                let start = corpus.train.len() + streams.position(0, b, 0);
                context.extend_from_slice(&text[start - width..start]);
            }
            state = Some(model.run(&Tensor::from_vec(context, &[batch, width])?, None)?.1);
        }
        for w in 0..streams.windows() {
            let (x, y) = streams.window(w)?;
            let (logits, next) = model.run(&x, state.as_ref())?;
            let losses = cross_entropy_with(&logits, &y, Reduction::None)?.value().to_vec::<f32>()?;
            for (i, l) in losses.into_iter().enumerate() {
                // Row i is stream i / steps at step i % steps, predicting the character after it.
                tally.add(streams.position(w, i / steps, i % steps) + 1, l);
            }
            state = Some(next);
        }
        Ok(tally)
    })
}

/// `len` characters sampled one at a time, starting from a newline.
fn generate(
    model: &CharLstm,
    corpus: &Corpus,
    len: usize,
    temperature: f64,
    rng: &mut Rng,
) -> ferrograd::Result<String> {
    model.eval();
    let (mut text, mut state, mut id) = (String::new(), None, corpus.id('\n'));
    no_grad(|| {
        for _ in 0..len {
            let (logits, next) = model.run(&Tensor::from_vec(vec![id], &[1, 1])?, state.as_ref())?;
            id = sample(&logits.value().to_vec::<f32>()?, temperature, None, rng) as i64;
            text.push(corpus.vocab[id as usize]);
            state = Some(next);
        }
        Ok(text)
    })
}

fn run(args: &Args) -> ferrograd::Result<()> {
    let device = Device::parse(&args.device)?;
    ferrograd::set_matmul_precision(MatmulPrecision::from_name(&args.matmul_precision).unwrap_or_default());
    let corpus = Corpus::load(&args.data_dir)?;
    let mut rng = Rng::new(args.seed);
    let v = corpus.vocab.len();
    let cfg = RecurrentConfig {
        num_layers: args.layers,
        dropout: args.dropout,
        variational: args.variational,
        weight_drop: args.weight_drop,
        seed: args.seed,
        ..RecurrentConfig::new(args.embed, args.hidden)
    };
    let model = CharLstm {
        embed: Embedding::new(v, args.embed, None, DType::F32, &mut rng)?,
        input_dropout: Dropout::new(args.input_dropout, args.seed + 2)?,
        lstm: Recurrent::lstm(cfg, DType::F32, &mut rng)?,
        dropout: Dropout::new(args.dropout, args.seed + 1)?,
        head: Linear::new(args.hidden, v, true, DType::F32, &mut rng)?,
        variational: args.variational,
    };
    println!(
        "model: embed {} → LSTM {}×{} → {v}, {} parameters",
        args.embed,
        args.layers,
        args.hidden,
        model.num_parameters()
    );
    if let Some(path) = &args.load {
        checkpoint::load(&model, path)?;
        println!("loaded weights from {}", path.display());
    }
    model.to_device(device)?;
    println!("device {device}");
    let adam = AdamConfig { lr: args.lr, weight_decay: args.weight_decay, ..AdamConfig::adamw() };
    let hidden = |name: &str| name.starts_with("lstm.");
    let mut opt = text::optimizers(model.named_parameters(), adam, args.optimizer == "muon", hidden, true)?;
    let mut ema = (args.ema > 0.0).then(|| ExponentialMovingAverage::new(model.parameters(), args.ema)).transpose()?;
    // The validation loss of the averaged weights when there are some, else of the trained ones.
    let validate = |ema: &Option<ExponentialMovingAverage>| match ema {
        Some(ema) => ema.with_averages(|| evaluate(&model, &corpus, args.batch_size, args.steps, true)),
        None => evaluate(&model, &corpus, args.batch_size, args.steps, true),
    };
    let streams = Streams::new(&corpus.train, args.batch_size, args.steps);
    let total = args.epochs * streams.windows();
    let schedule = WarmupCosine { peak: args.lr, min_lr: args.lr / 10.0, warmup: 100.min(total / 10), total };
    let (start, mut step, mut train_loss, mut epochs_run) = (Instant::now(), 0, f64::NAN, 0);
    let mut val = None::<LossTally>;
    'epochs: for epoch in 1..=args.epochs {
        model.train();
        let bar = progress_bar(streams.windows(), format!("epoch {epoch}/{}", args.epochs));
        let (mut state, mut loss_sum, mut n) = (None::<RecurrentState>, 0.0, 0);
        for w in 0..streams.windows() {
            if start.elapsed().as_secs_f64() > args.max_minutes * 60.0 {
                bar.finish_and_clear();
                println!("time limit of {} minutes reached in epoch {epoch}", args.max_minutes);
                break 'epochs;
            }
            let (x, y) = streams.window(w)?;
            let (logits, next) = model.run(&x, state.as_ref())?;
            let loss = cross_entropy(&logits, &y)?;
            opt.zero_grad();
            loss.backward()?;
            clip_grad_norm(opt.params(), args.clip)?;
            opt.set_lr(schedule.lr(step));
            opt.step()?;
            if let Some(ema) = &mut ema {
                ema.update()?;
            }
            state = Some(next.detach());
            step += 1;
            loss_sum += loss.value().item()?;
            n += 1;
            if n % 20 == 0 {
                bar.set_message(format!("loss {:.3}", loss_sum / n as f64));
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        train_loss = loss_sum / n.max(1) as f64;
        let val_loss = val.insert(validate(&ema)?).mean();
        epochs_run = epoch;
        checkpoint::save(&model, &args.checkpoint)?;
        println!(
            "epoch {epoch}: train loss {train_loss:.4}  val loss {val_loss:.4} nats/char  {:.0} chars/s  {:.0}s",
            (step * args.batch_size * args.steps) as f64 / start.elapsed().as_secs_f64(),
            start.elapsed().as_secs_f64()
        );
    }
    let secs = start.elapsed().as_secs_f64();
    if let Some(ema) = ema.as_ref().filter(|_| step > 0) {
        // From here on the model is the averaged one: it is what the final checkpoint holds
        // (the per-epoch ones hold the trained weights).
        ema.copy_to_params()?;
    }
    if epochs_run < args.epochs || val.is_none() {
        // Stopped by the time limit, or nothing trained (`--epochs 0`).
        let val_loss = val.insert(evaluate(&model, &corpus, args.batch_size, args.steps, true)?).mean();
        println!("after {step} steps: val loss {val_loss:.4} nats/char");
    }
    if step > 0 {
        checkpoint::save(&model, &args.checkpoint)?;
    }
    let val = val.expect("evaluated above");
    let val_loss = val.mean();
    let val_loss_cold = evaluate(&model, &corpus, args.batch_size, args.steps, false)?.mean();
    println!("val loss {val_loss:.4} nats/char ({val_loss_cold:.4} with every stream starting cold)");
    println!("of which: {}", val.summary());
    let text = generate(&model, &corpus, args.sample_len, args.temperature, &mut rng)?;
    println!("--- sample (temperature {}) ---\n{text}\n---", args.temperature);
    let train = if train_loss.is_finite() { format!("{train_loss:.4}") } else { "null".into() };
    println!(
        "{{\"example\":\"char_lstm\",\"device\":\"{device}\",\"epochs\":{epochs_run},\"steps\":{step},\"batch_size\":{},\"seq_len\":{},\"hidden\":{},\"matmul_precision\":\"{}\",\"weight_drop\":{},\"ema\":{},\"lr\":{},\"seed\":{},\"train_loss\":{train},\"val_loss\":{val_loss:.4},\"val_loss_cold\":{val_loss_cold:.4},\"chars_per_sec\":{:.0},\"train_seconds\":{secs:.1}}}",
        args.batch_size,
        args.steps,
        args.hidden,
        args.matmul_precision,
        args.weight_drop,
        args.ema,
        args.lr,
        args.seed,
        (step * args.batch_size * args.steps) as f64 / secs
    );
    Ok(())
}
