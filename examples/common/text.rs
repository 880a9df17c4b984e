//! What the character-level examples share: the corpus (vocabulary, ids, train/validation
//! split), batches of contiguous streams for truncated backpropagation through time, sampling a
//! character from logits, the optimizers (AdamW, or Muon for the hidden weight matrices), and
//! the progress bar. Each example uses part of it.

#![allow(dead_code)]

#[path = "bar.rs"]
mod bar;
pub use bar::progress_bar;

use ferrograd::models::optim::{Adam, AdamConfig, AdjustLr, Muon, MuonConfig, Optimizer};
use ferrograd::{Error, Rng, Tensor, Var};
use std::path::Path;

/// A text as character ids, split into training (first 90%) and validation (last 10%) parts.
pub struct Corpus {
    /// The distinct characters, sorted; a character's id is its index.
    pub vocab: Vec<char>,
    /// Training ids.
    pub train: Vec<i64>,
    /// Validation ids.
    pub val: Vec<i64>,
}

impl Corpus {
    /// Reads `dir/plays.txt`.
    pub fn load(dir: &Path) -> ferrograd::Result<Corpus> {
        let path = dir.join("plays.txt");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::invalid("Corpus::load", format!("cannot read {}: {e}", path.display())))?;
        let mut vocab: Vec<char> = text.chars().collect();
        vocab.sort_unstable();
        vocab.dedup();
        let ids: Vec<i64> = text.chars().map(|c| vocab.binary_search(&c).expect("in the vocabulary") as i64).collect();
        let split = ids.len() * 9 / 10;
        println!(
            "corpus: {} characters ({} train, {} validation), vocabulary {}",
            ids.len(),
            split,
            ids.len() - split,
            vocab.len()
        );
        Ok(Corpus { vocab: vocab.clone(), train: ids[..split].to_vec(), val: ids[split..].to_vec() })
    }

    /// The id of a character (0 if it is not in the vocabulary).
    pub fn id(&self, c: char) -> i64 {
        self.vocab.binary_search(&c).unwrap_or(0) as i64
    }
}

/// `batch` contiguous streams over `ids`, cut into windows of `steps` characters: window `w` of
/// stream `b` starts at `b · stream_len + w · steps`. Consecutive windows of a stream continue
/// each other, so a recurrent model can carry its state from one to the next (truncated BPTT).
pub struct Streams<'a> {
    ids: &'a [i64],
    batch: usize,
    steps: usize,
    stream_len: usize,
}

impl<'a> Streams<'a> {
    /// Streams over `ids`; the tail that does not fill a whole stream is dropped.
    pub fn new(ids: &'a [i64], batch: usize, steps: usize) -> Streams<'a> {
        Streams { ids, batch, steps, stream_len: ids.len() / batch.max(1) }
    }

    /// Windows per stream (the last one needs one more character, for its last target).
    pub fn windows(&self) -> usize {
        self.stream_len.saturating_sub(1) / self.steps.max(1)
    }

    /// Where in the text step `t` of stream `b` reads in window `w`.
    pub fn position(&self, w: usize, b: usize, t: usize) -> usize {
        b * self.stream_len + w * self.steps + t
    }

    /// Window `w`: inputs `[batch, steps]` and the next characters as targets `[batch · steps]`.
    pub fn window(&self, w: usize) -> ferrograd::Result<(Tensor, Tensor)> {
        let (mut x, mut y) = (Vec::with_capacity(self.batch * self.steps), Vec::with_capacity(self.batch * self.steps));
        for b in 0..self.batch {
            let start = self.position(w, b, 0);
            x.extend_from_slice(&self.ids[start..start + self.steps]);
            y.extend_from_slice(&self.ids[start + 1..start + self.steps + 1]);
        }
        Ok((Tensor::from_vec(x, &[self.batch, self.steps])?, Tensor::from_vec(y, &[self.batch * self.steps])?))
    }
}

/// Samples an index from `softmax(logits / temperature)`, keeping only the `top_k` largest
/// logits when given (temperature 0 takes the most likely one).
pub fn sample(logits: &[f32], temperature: f64, top_k: Option<usize>, rng: &mut Rng) -> usize {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if temperature <= 0.0 {
        return order[0];
    }
    order.truncate(top_k.unwrap_or(logits.len()).max(1));
    let max = logits[order[0]] as f64;
    let weights: Vec<f64> = order.iter().map(|&i| ((logits[i] as f64 - max) / temperature).exp()).collect();
    let mut u = rng.uniform() * weights.iter().sum::<f64>();
    for (&i, w) in order.iter().zip(&weights) {
        u -= w;
        if u <= 0.0 {
            return i;
        }
    }
    order[order.len() - 1]
}

/// Per-character validation losses, with the characters of capitalised lines (the speakers'
/// names, "OBERON" or "PROSPERO.", and the few act headings), each with its newline, kept
/// apart from the rest of the text. The validation play's names are new to a model trained on
/// the other plays, and it writes them without the full stop that every training play puts
/// after a name: a few percent of the characters that cost a tenth of the loss.
pub struct LossTally {
    in_name: Vec<bool>,
    sum: [f64; 2],
    count: [usize; 2],
}

impl LossTally {
    /// A tally over the text `ids` (vocabulary `vocab`), with nothing added yet.
    pub fn new(ids: &[i64], vocab: &[char]) -> LossTally {
        let text: Vec<char> = ids.iter().map(|&i| vocab[i as usize]).collect();
        let mut in_name = vec![false; text.len()];
        let mut start = 0;
        for line in text.split(|&c| c == '\n') {
            let s: String = line.iter().collect();
            let s = s.trim();
            let body = s.strip_suffix('.').unwrap_or(s);
            let capitalised = body.len() >= 2
                && body.starts_with(|c: char| c.is_ascii_uppercase())
                && body.chars().all(|c| c.is_ascii_uppercase() || " '-".contains(c));
            if capitalised {
                let end = (start + line.len() + 1).min(text.len()); // with its newline
                in_name[start..end].iter_mut().for_each(|m| *m = true);
            }
            start += line.len() + 1;
        }
        LossTally { in_name, sum: [0.0; 2], count: [0; 2] }
    }

    /// Adds the loss of predicting the character at `index` of the text.
    pub fn add(&mut self, index: usize, loss: f32) {
        let k = self.in_name[index] as usize;
        self.sum[k] += loss as f64;
        self.count[k] += 1;
    }

    /// The mean loss over every character added, in nats/char.
    pub fn mean(&self) -> f64 {
        (self.sum[0] + self.sum[1]) / (self.count[0] + self.count[1]).max(1) as f64
    }

    /// One line: the loss on name lines and on the rest, and the names' share of the total.
    pub fn summary(&self) -> String {
        let total = (self.count[0] + self.count[1]).max(1) as f64;
        format!(
            "{:.3} nats/char on capitalised (speaker-name) lines, {:.1}% of the characters and {:.1}% of the loss; {:.3} on the rest",
            self.sum[1] / self.count[1].max(1) as f64,
            100.0 * self.count[1] as f64 / total,
            100.0 * self.sum[1] / (self.sum[0] + self.sum[1]).max(f64::MIN_POSITIVE),
            self.sum[0] / self.count[0].max(1) as f64
        )
    }
}

/// Several optimizers stepped as one, each over its own parameters, all at one learning rate
/// (PyTorch's parameter groups).
pub struct Groups {
    groups: Vec<Box<dyn Optimizer>>,
    params: Vec<Var>,
}

impl Optimizer for Groups {
    fn step(&mut self) -> ferrograd::Result<()> {
        self.groups.iter_mut().try_for_each(|g| g.step())
    }

    fn params(&self) -> &[Var] {
        &self.params
    }

    fn lr(&self) -> f64 {
        self.groups[0].lr()
    }

    fn set_lr(&mut self, lr: f64) {
        self.groups.iter_mut().for_each(|g| g.set_lr(lr));
    }
}

/// The optimizer of a character model's `named` parameters: AdamW (`adam`) over all of them, or
/// with `muon`, Muon over the 2-D weight matrices whose names `hidden` accepts and AdamW over
/// the rest (embeddings, head, biases, norms: Muon is for hidden layers). Muon's learning rate
/// is scaled to match AdamW's update size (Moonshot's rule), so both take `adam.lr` and the
/// same schedule, and it takes AdamW's weight decay. With `decay_vectors` false, AdamW's 1-D
/// parameters get no weight decay (PyTorch's parameter groups, as a second optimizer).
pub fn optimizers(
    named: Vec<(String, Var)>,
    adam: AdamConfig,
    muon: bool,
    hidden: impl Fn(&str) -> bool,
    decay_vectors: bool,
) -> ferrograd::Result<Groups> {
    let params = named.iter().map(|(_, p)| p.clone()).collect();
    let mut groups: Vec<Box<dyn Optimizer>> = Vec::new();
    let (matrices, rest): (Vec<_>, Vec<_>) =
        named.into_iter().partition(|(name, p)| muon && hidden(name) && p.shape().len() == 2);
    if !matrices.is_empty() {
        let config = MuonConfig {
            lr: adam.lr,
            weight_decay: adam.weight_decay,
            adjust_lr: AdjustLr::MatchRmsAdamW,
            ..MuonConfig::default()
        };
        groups.push(Box::new(Muon::new(matrices.into_iter().map(|(_, p)| p).collect(), config)?));
    }
    let (decayed, vectors): (Vec<Var>, Vec<Var>) =
        rest.into_iter().map(|(_, p)| p).partition(|p| decay_vectors || p.shape().len() >= 2);
    groups.push(Box::new(Adam::new(decayed, adam)?));
    if !vectors.is_empty() {
        groups.push(Box::new(Adam::new(vectors, AdamConfig { weight_decay: 0.0, ..adam })?));
    }
    Ok(Groups { groups, params })
}
