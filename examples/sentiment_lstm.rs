//! A sequence classifier in the classic Keras shape — Embedding → LSTM → Dense — on movie-review
//! sentences generated in code, where the label depends on word order: negation flips a
//! clause ("was not good"), and after "but" the second clause decides ("the plot was dull but
//! the acting was great" is positive). A bag of words cannot solve it; a recurrent model can.
//!
//! ```text
//! cargo run --release --example sentiment_lstm
//! ```
//!
//! Sentences are left-padded to a common length (Keras' `pad_sequences` default), so the
//! LSTM's final state comes after the last real word. The last line is a JSON object with
//! `test_accuracy` on a held-out split generated with another seed.

use clap::Parser;
use ferrograd::models::layers::{Embedding, Linear, Recurrent, RecurrentConfig};
use ferrograd::models::loss::cross_entropy;
use ferrograd::models::metrics::correct_predictions;
use ferrograd::models::optim::{clip_grad_norm, Adam, AdamConfig, Optimizer};
use ferrograd::models::{checkpoint, prefixed_parameters};
use ferrograd::{no_grad, DType, Device, Module, Rng, Tensor, Var};
use std::path::PathBuf;
use std::time::Instant;
use text::progress_bar;

#[path = "common/text.rs"]
mod text;

/// Train an Embedding + LSTM + Dense sentiment classifier on generated reviews.
#[derive(Parser, Debug)]
#[command(version, about = "Embedding + LSTM + Dense sentiment classifier on generated reviews (ferrograd example)")]
struct Args {
    /// Passes over the training set.
    #[arg(long, default_value_t = 4)]
    epochs: usize,
    /// Sentences per step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Training sentences.
    #[arg(long, default_value_t = 20_000)]
    train_size: usize,
    /// Held-out test sentences.
    #[arg(long, default_value_t = 4_000)]
    test_size: usize,
    /// LSTM hidden size.
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    /// Seed for the data, initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Device to train on.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Unused: the data is generated in code (the flag exists so that every example takes it).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Where to save the weights (safetensors).
    #[arg(long, default_value = "sentiment_lstm.safetensors")]
    checkpoint: PathBuf,
}

const SUBJECTS: [&str; 8] = ["movie", "film", "plot", "acting", "ending", "script", "music", "cast"];
const VERBS: [&str; 4] = ["was", "is", "seemed", "felt"];
const INTENSIFIERS: [&str; 4] = ["very", "really", "quite", "truly"];
const FILLERS: [&str; 4] = ["honestly", "overall", "frankly", "admittedly"];
const GOOD: [&str; 7] = ["good", "great", "wonderful", "brilliant", "enjoyable", "moving", "clever"];
const BAD: [&str; 7] = ["bad", "awful", "boring", "dull", "terrible", "weak", "clumsy"];

/// The vocabulary: padding first (id 0), then every word the generator uses.
fn vocabulary() -> Vec<&'static str> {
    let mut v = vec!["<pad>", "the", "this", "not", "but", "and"];
    for list in [&SUBJECTS[..], &VERBS, &INTENSIFIERS, &FILLERS, &GOOD, &BAD] {
        v.extend_from_slice(list);
    }
    v
}

/// One clause, `the <subject> <verb> [not] [intensifier] <adjective> [and <adjective>]`, and its
/// polarity (+1 positive, −1 negative).
fn clause(rng: &mut Rng, words: &mut Vec<&'static str>) -> i32 {
    let pick = |rng: &mut Rng, list: &[&'static str]| list[rng.below(list.len() as u64) as usize];
    words.push(if rng.uniform() < 0.5 { "the" } else { "this" });
    words.push(pick(rng, &SUBJECTS));
    words.push(pick(rng, &VERBS));
    let negated = rng.uniform() < 0.4;
    if negated {
        words.push("not");
    }
    if rng.uniform() < 0.4 {
        words.push(pick(rng, &INTENSIFIERS));
    }
    let good = rng.uniform() < 0.5;
    let adjectives = if good { &GOOD } else { &BAD };
    words.push(pick(rng, adjectives));
    if rng.uniform() < 0.3 {
        words.push("and");
        words.push(pick(rng, adjectives));
    }
    if good != negated {
        1
    } else {
        -1
    }
}

/// `n` sentences as ids `[n, max_len]` (left-padded with 0) and labels `[n]` (1 positive).
fn generate(n: usize, seed: u64, max_len: usize) -> ferrograd::Result<(Tensor, Tensor)> {
    let vocab = vocabulary();
    let id = |w: &str| vocab.iter().position(|&v| v == w).expect("a vocabulary word") as i64;
    let mut rng = Rng::new(seed);
    let (mut ids, mut labels) = (Vec::with_capacity(n * max_len), Vec::with_capacity(n));
    for _ in 0..n {
        let mut words = Vec::new();
        if rng.uniform() < 0.3 {
            words.push(FILLERS[rng.below(4) as usize]);
        }
        let mut polarity = clause(&mut rng, &mut words);
        if rng.uniform() < 0.5 {
            words.push("but");
            polarity = clause(&mut rng, &mut words); // after "but", the second clause decides
        }
        ids.extend(std::iter::repeat_n(0, max_len - words.len()));
        ids.extend(words.iter().map(|w| id(w)));
        labels.push(i64::from(polarity > 0));
    }
    Ok((Tensor::from_vec(ids, &[n, max_len])?, Tensor::from_vec(labels, &[n])?))
}

/// Embedding → LSTM → the last step's hidden state → Dense(2).
struct Classifier {
    embed: Embedding,
    lstm: Recurrent,
    dense: Linear,
}

impl Classifier {
    fn logits(&self, ids: &Tensor) -> ferrograd::Result<Var> {
        let (_, state) = self.lstm.forward_with_state(&self.embed.lookup(ids)?, None)?;
        self.dense.forward(&state.h.squeeze(0)?)
    }
}

impl Module for Classifier {
    fn forward(&self, ids: &Var) -> ferrograd::Result<Var> {
        self.logits(&ids.value())
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        let parts: [(&str, &dyn Module); 3] = [("embed", &self.embed), ("lstm", &self.lstm), ("dense", &self.dense)];
        prefixed_parameters(parts)
    }
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn accuracy(model: &Classifier, x: &Tensor, y: &Tensor) -> ferrograd::Result<f64> {
    no_grad(|| {
        let mut correct = 0;
        for start in (0..y.numel()).step_by(1000) {
            let len = 1000.min(y.numel() - start);
            let logits = model.logits(&x.narrow(0, start, len)?)?;
            correct += correct_predictions(&logits.value(), &y.narrow(0, start, len)?)?;
        }
        Ok(correct as f64 / y.numel() as f64)
    })
}

fn run(args: &Args) -> ferrograd::Result<()> {
    let device = Device::parse(&args.device)?;
    // The longest sentence: filler + 2 clauses of 8 words + "but" = 18.
    let max_len = 18;
    let (train_x, train_y) = generate(args.train_size, args.seed, max_len)?;
    let (test_x, test_y) = generate(args.test_size, args.seed + 1_000_003, max_len)?;
    let mut rng = Rng::new(args.seed);
    let vocab = vocabulary().len();
    let model = Classifier {
        embed: Embedding::new(vocab, 32, Some(0), DType::F32, &mut rng)?,
        lstm: Recurrent::lstm(RecurrentConfig::new(32, args.hidden), DType::F32, &mut rng)?,
        dense: Linear::new(args.hidden, 2, true, DType::F32, &mut rng)?,
    };
    println!(
        "data: {} train / {} test sentences, vocabulary {vocab}; model {} parameters",
        args.train_size,
        args.test_size,
        model.num_parameters()
    );
    model.to_device(device)?;
    println!("device {device}");
    let params = model.parameters();
    let mut opt = Adam::new(params.clone(), AdamConfig { lr: args.lr, ..Default::default() })?;
    let start = Instant::now();
    let (mut train_loss, mut test_accuracy) = (f64::NAN, accuracy(&model, &test_x, &test_y)?);
    for epoch in 1..=args.epochs {
        let order = Tensor::from_vec(
            rng.permutation(args.train_size).into_iter().map(|i| i as i64).collect(),
            &[args.train_size],
        )?;
        let batches = args.train_size / args.batch_size;
        let bar = progress_bar(batches, format!("epoch {epoch}/{}", args.epochs));
        let mut loss_sum = 0.0;
        for b in 0..batches {
            let idx = order.narrow(0, b * args.batch_size, args.batch_size)?;
            let (x, y) = (train_x.index_select(0, &idx)?, train_y.index_select(0, &idx)?);
            let loss = cross_entropy(&model.logits(&x)?, &y)?;
            opt.zero_grad();
            loss.backward()?;
            clip_grad_norm(&params, 5.0)?;
            opt.step()?;
            loss_sum += loss.value().item()?;
            if (b + 1) % 20 == 0 {
                bar.set_message(format!("loss {:.4}", loss_sum / (b + 1) as f64));
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        train_loss = loss_sum / batches.max(1) as f64;
        test_accuracy = accuracy(&model, &test_x, &test_y)?;
        println!("epoch {epoch}: loss {train_loss:.4}  test accuracy {:.2}%", 100.0 * test_accuracy);
    }
    checkpoint::save(&model, &args.checkpoint)?;
    let train = if train_loss.is_finite() { format!("{train_loss:.4}") } else { "null".into() };
    println!(
        "{{\"example\":\"sentiment_lstm\",\"device\":\"{device}\",\"epochs\":{},\"batch_size\":{},\"lr\":{},\"seed\":{},\"train_loss\":{train},\"test_accuracy\":{test_accuracy:.4},\"train_seconds\":{:.1}}}",
        args.epochs,
        args.batch_size,
        args.lr,
        args.seed,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
