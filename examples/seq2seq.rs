//! An encoder–decoder Transformer that learns to reverse strings of digits (length 5–20),
//! generated in code, and is scored by greedy decoding on held-out strings.
//!
//! ```text
//! cargo run --release --example seq2seq                   # defaults reach ≥ 99% exact
//! cargo run --release --example seq2seq -- --task sort
//! ```
//!
//! The encoder reads the source (right-padded, with a key padding mask); the decoder reads
//! `<bos>` + the target so far with causal self-attention and cross-attention over the encoder's
//! output, and is trained with teacher forcing to predict the next token (the loss skips padded
//! positions). At test time it decodes greedily, one token at a time, until `<eos>`. The last line
//! is a JSON object with `exact_accuracy`: the share of held-out strings whose whole output is
//! right.

use clap::{Parser, ValueEnum};
use ferrograd::autograd::ops::padding_mask;
use ferrograd::models::layers::{
    Embedding, LayerNorm, Linear, SinusoidalPositionalEncoding, TransformerBlock, TransformerConfig,
};
use ferrograd::models::loss::cross_entropy;
use ferrograd::models::optim::{clip_grad_norm, Adam, AdamConfig, Optimizer, WarmupCosine};
use ferrograd::models::{checkpoint, prefixed_parameters};
use ferrograd::{no_grad, DType, Device, Error, Module, Rng, Tensor, Var};
use std::path::PathBuf;
use std::time::Instant;
use text::progress_bar;

#[path = "common/text.rs"]
mod text;

const PAD: i64 = 0;
const BOS: i64 = 1;
const EOS: i64 = 2;
/// Digit `d` is token `d + 3`.
const VOCAB: usize = 13;
const MIN_LEN: usize = 5;
const MAX_LEN: usize = 20;

/// The transduction to learn.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Task {
    /// Reverse the digits.
    Reverse,
    /// Sort the digits.
    Sort,
}

/// Train an encoder–decoder Transformer on a digit-string transduction.
#[derive(Parser, Debug)]
#[command(version, about = "Encoder-decoder Transformer that reverses (or sorts) digit strings (ferrograd example)")]
struct Args {
    /// Epochs of 500 steps (every batch is freshly generated).
    #[arg(long, default_value_t = 6)]
    epochs: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Peak AdamW learning rate (warm-up, then cosine decay).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// What to learn.
    #[arg(long, value_enum, default_value_t = Task::Reverse)]
    task: Task,
    /// Width of the model.
    #[arg(long, default_value_t = 64)]
    d_model: usize,
    /// Blocks in the encoder and in the decoder.
    #[arg(long, default_value_t = 2)]
    layers: usize,
    /// Held-out strings to score.
    #[arg(long, default_value_t = 1000)]
    test_size: usize,
    /// Seed for the data, initialisation and sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Device to train on.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Unused: the data is generated in code (the flag exists so that every example takes it).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Where to save the weights (safetensors).
    #[arg(long, default_value = "seq2seq.safetensors")]
    checkpoint: PathBuf,
}

const STEPS_PER_EPOCH: usize = 500;

/// A random digit string and its transduction, as tokens.
fn example(task: Task, rng: &mut Rng) -> (Vec<i64>, Vec<i64>) {
    let len = MIN_LEN + rng.below((MAX_LEN - MIN_LEN + 1) as u64) as usize;
    let src: Vec<i64> = (0..len).map(|_| 3 + rng.below(10) as i64).collect();
    let mut tgt = src.clone();
    match task {
        Task::Reverse => tgt.reverse(),
        Task::Sort => tgt.sort_unstable(),
    }
    (src, tgt)
}

/// A batch: source `[B, MAX_LEN]` (right-padded) with its lengths, decoder input `<bos> + tgt`
/// and decoder target `tgt + <eos>`, both `[B, MAX_LEN + 1]`.
fn batch(pairs: &[(Vec<i64>, Vec<i64>)]) -> ferrograd::Result<(Tensor, Vec<usize>, Tensor, Tensor)> {
    let (n, t) = (pairs.len(), MAX_LEN + 1);
    let (mut src, mut dec_in, mut dec_out) = (vec![PAD; n * MAX_LEN], vec![PAD; n * t], vec![PAD; n * t]);
    for (i, (s, g)) in pairs.iter().enumerate() {
        src[i * MAX_LEN..][..s.len()].copy_from_slice(s);
        dec_in[i * t] = BOS;
        dec_in[i * t + 1..][..g.len()].copy_from_slice(g);
        dec_out[i * t..][..g.len()].copy_from_slice(g);
        dec_out[i * t + g.len()] = EOS;
    }
    let lengths = pairs.iter().map(|(s, _)| s.len()).collect();
    Ok((
        Tensor::from_vec(src, &[n, MAX_LEN])?,
        lengths,
        Tensor::from_vec(dec_in, &[n, t])?,
        Tensor::from_vec(dec_out, &[n * t])?,
    ))
}

struct Seq2Seq {
    src_embed: Embedding,
    tgt_embed: Embedding,
    positions: SinusoidalPositionalEncoding,
    encoder: Vec<TransformerBlock>,
    decoder: Vec<TransformerBlock>,
    ln_enc: LayerNorm,
    ln_dec: LayerNorm,
    head: Linear,
}

impl Seq2Seq {
    fn new(d: usize, layers: usize, rng: &mut Rng) -> ferrograd::Result<Seq2Seq> {
        let blocks = |cfg: TransformerConfig, rng: &mut Rng| {
            (0..layers)
                .map(|_| TransformerBlock::new(cfg.clone(), DType::F32, rng))
                .collect::<ferrograd::Result<Vec<_>>>()
        };
        Ok(Seq2Seq {
            src_embed: Embedding::new(VOCAB, d, Some(PAD as usize), DType::F32, rng)?,
            tgt_embed: Embedding::new(VOCAB, d, Some(PAD as usize), DType::F32, rng)?,
            positions: SinusoidalPositionalEncoding::new(MAX_LEN + 1, d, DType::F32)?,
            encoder: blocks(TransformerConfig::encoder(d, 4), rng)?,
            decoder: blocks(TransformerConfig::decoder(d, 4), rng)?,
            ln_enc: LayerNorm::new(&[d], DType::F32),
            ln_dec: LayerNorm::new(&[d], DType::F32),
            head: Linear::new(d, VOCAB, true, DType::F32, rng)?,
        })
    }

    /// The encoder's output `[B, S, D]` and the source's key padding mask.
    fn encode(&self, src: &Tensor, lengths: &[usize]) -> ferrograd::Result<(Var, Tensor)> {
        let mask = padding_mask(lengths, src.shape()[1])?;
        let mut x = self.positions.forward(&self.src_embed.lookup(src)?)?;
        for block in &self.encoder {
            x = block.forward_with(&x, Some(&mask), None, None)?;
        }
        Ok((self.ln_enc.forward(&x)?, mask))
    }

    /// Next-token logits `[B·T, V]` for decoder inputs `[B, T]`.
    fn decode(&self, dec_in: &Tensor, memory: &Var, mask: &Tensor) -> ferrograd::Result<Var> {
        let mut y = self.positions.forward(&self.tgt_embed.lookup(dec_in)?)?;
        for block in &self.decoder {
            y = block.forward_with(&y, None, Some(memory), Some(mask))?;
        }
        let [b, t, d] = [y.shape()[0], y.shape()[1], y.shape()[2]];
        self.head.forward(&self.ln_dec.forward(&y)?.reshape(&[b * t, d])?)
    }

    fn modules(&self) -> Vec<(String, &dyn Module)> {
        let mut m: Vec<(String, &dyn Module)> =
            vec![("src_embed".into(), &self.src_embed), ("tgt_embed".into(), &self.tgt_embed)];
        m.extend(self.encoder.iter().enumerate().map(|(i, b)| (format!("encoder.{i}"), b as &dyn Module)));
        m.extend(self.decoder.iter().enumerate().map(|(i, b)| (format!("decoder.{i}"), b as &dyn Module)));
        m.extend([
            ("ln_enc".into(), &self.ln_enc as &dyn Module),
            ("ln_dec".into(), &self.ln_dec),
            ("head".into(), &self.head),
        ]);
        m
    }
}

impl Module for Seq2Seq {
    /// Not used: the model needs both a source and a decoder input (see `encode`/`decode`).
    fn forward(&self, _x: &Var) -> ferrograd::Result<Var> {
        Err(Error::invalid("Seq2Seq", "call encode and decode"))
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        prefixed_parameters(self.modules())
    }
}

/// Greedy decoding of a batch; returns the share of sequences decoded exactly.
fn exact_matches(model: &Seq2Seq, pairs: &[(Vec<i64>, Vec<i64>)]) -> ferrograd::Result<usize> {
    let (src, lengths, _, _) = batch(pairs)?;
    no_grad(|| {
        let (memory, mask) = model.encode(&src, &lengths)?;
        let n = pairs.len();
        let mut seqs: Vec<Vec<i64>> = vec![vec![BOS]; n];
        for step in 1..=MAX_LEN + 1 {
            let input: Vec<i64> = seqs.iter().flatten().copied().collect();
            let logits = model.decode(&Tensor::from_vec(input, &[n, step])?, &memory, &mask)?;
            let next = logits.value().reshape(&[n, step, VOCAB])?.narrow(1, step - 1, 1)?.argmax(2, false)?;
            for (s, t) in seqs.iter_mut().zip(next.to_vec::<i64>()?) {
                s.push(t);
            }
        }
        Ok(seqs
            .iter()
            .zip(pairs)
            .filter(|(s, (_, tgt))| s.len() > tgt.len() + 1 && s[1..=tgt.len()] == tgt[..] && s[tgt.len() + 1] == EOS)
            .count())
    })
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
    let mut rng = Rng::new(args.seed);
    let model = Seq2Seq::new(args.d_model, args.layers, &mut rng)?;
    println!(
        "model: {} + {} blocks, d_model {}, {} parameters",
        args.layers,
        args.layers,
        args.d_model,
        model.num_parameters()
    );
    let mut test_rng = Rng::new(args.seed ^ 0x5eed_7e57);
    let test: Vec<_> = (0..args.test_size).map(|_| example(args.task, &mut test_rng)).collect();
    model.to_device(device)?;
    println!("device {device}");
    let params = model.parameters();
    let mut opt = Adam::new(params.clone(), AdamConfig { lr: args.lr, ..AdamConfig::adamw() })?;
    let total = args.epochs * STEPS_PER_EPOCH;
    let schedule = WarmupCosine { peak: args.lr, min_lr: args.lr / 20.0, warmup: 200.min(total / 10), total };
    let (start, mut step, mut train_loss) = (Instant::now(), 0, f64::NAN);
    let score = |model: &Seq2Seq| -> ferrograd::Result<f64> {
        let mut exact = 0;
        for chunk in test.chunks(250) {
            exact += exact_matches(model, chunk)?;
        }
        Ok(exact as f64 / test.len().max(1) as f64)
    };
    let mut accuracy = 0.0;
    for epoch in 1..=args.epochs {
        let bar = progress_bar(STEPS_PER_EPOCH, format!("epoch {epoch}/{}", args.epochs));
        let mut loss_sum = 0.0;
        for i in 0..STEPS_PER_EPOCH {
            let pairs: Vec<_> = (0..args.batch_size).map(|_| example(args.task, &mut rng)).collect();
            let (src, lengths, dec_in, dec_out) = batch(&pairs)?;
            let (memory, mask) = model.encode(&src, &lengths)?;
            let logits = model.decode(&dec_in, &memory, &mask)?;
            // The loss counts real target tokens only.
            let keep: Vec<i64> =
                dec_out.to_vec::<i64>()?.iter().enumerate().filter(|(_, &t)| t != PAD).map(|(i, _)| i as i64).collect();
            let keep = Tensor::from_vec(keep.clone(), &[keep.len()])?;
            let loss = cross_entropy(&logits.index_select(0, &keep)?, &dec_out.index_select(0, &keep)?)?;
            opt.zero_grad();
            loss.backward()?;
            clip_grad_norm(&params, 1.0)?;
            opt.set_lr(schedule.lr(step));
            opt.step()?;
            step += 1;
            loss_sum += loss.value().item()?;
            if (i + 1) % 20 == 0 {
                bar.set_message(format!("loss {:.4}", loss_sum / (i + 1) as f64));
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        train_loss = loss_sum / STEPS_PER_EPOCH as f64;
        accuracy = score(&model)?;
        println!(
            "epoch {epoch}: loss {train_loss:.4}  held-out exact accuracy {:.2}%  {:.0}s",
            100.0 * accuracy,
            start.elapsed().as_secs_f64()
        );
    }
    checkpoint::save(&model, &args.checkpoint)?;
    let train = if train_loss.is_finite() { format!("{train_loss:.4}") } else { "null".into() };
    println!(
        "{{\"example\":\"seq2seq\",\"device\":\"{device}\",\"task\":\"{:?}\",\"epochs\":{},\"steps\":{step},\"batch_size\":{},\"lr\":{},\"seed\":{},\"train_loss\":{train},\"exact_accuracy\":{accuracy:.4},\"train_seconds\":{:.1}}}",
        args.task,
        args.epochs,
        args.batch_size,
        args.lr,
        args.seed,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
