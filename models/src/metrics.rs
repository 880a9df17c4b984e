//! Evaluation metrics.

use ferrograd_autograd::{Error, Result, Tensor};

/// Number of rows of `logits` `[batch, classes]` whose largest entry is at the `targets` index.
pub fn correct_predictions(logits: &Tensor, targets: &Tensor) -> Result<usize> {
    let pred = logits.argmax(1, false)?;
    if pred.shape() != targets.shape() {
        return Err(Error::shape("accuracy", &[logits.shape(), targets.shape()], "expected targets [batch]"));
    }
    let (p, t) = (pred.to_vec::<i64>()?, targets.to_vec::<i64>()?);
    Ok(p.iter().zip(&t).filter(|(a, b)| a == b).count())
}

/// Fraction of rows predicted correctly.
pub fn accuracy(logits: &Tensor, targets: &Tensor) -> Result<f64> {
    let n = targets.numel().max(1);
    Ok(correct_predictions(logits, targets)? as f64 / n as f64)
}

/// The inception score of a set of class distributions `probs` `[N, K]` (rows of `p(y|x)`, each
/// summing to 1), as Salimans et al. (2016) score generated images with a classifier:
///
/// ```text
/// IS = exp( mean_i KL(p(y|x_i) ‖ p(y)) ),   p(y) = mean_i p(y|x_i)
/// ```
///
/// It is high when each sample is classified confidently (low-entropy rows) *and* the classes are
/// used evenly (high-entropy marginal): between 1 and `K`, and `K` only for confident,
/// perfectly balanced samples. A generator that collapses onto a few classes scores at most
/// their number. Terms with `p = 0` count as 0 (the limit of `p·ln p`).
pub fn inception_score(probs: &Tensor) -> Result<f64> {
    let s = probs.shape();
    if s.len() != 2 || s[0] == 0 || s[1] == 0 {
        return Err(Error::shape("inception_score", &[s], "expected probabilities [N > 0, classes > 0]"));
    }
    let (n, k) = (s[0], s[1]);
    let p = probs.to_dtype(ferrograd_autograd::DType::F64)?.to_vec::<f64>()?;
    if let Some(bad) = p.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(Error::invalid("inception_score", format!("{bad} is not a probability")));
    }
    let mut marginal = vec![0.0f64; k];
    for row in p.chunks(k) {
        for (m, &v) in marginal.iter_mut().zip(row) {
            *m += v / n as f64;
        }
    }
    let plogp_over = |v: f64, m: f64| if v > 0.0 { v * (v / m).ln() } else { 0.0 };
    let mean_kl: f64 =
        p.chunks(k).map(|row| row.iter().zip(&marginal).map(|(&v, &m)| plogp_over(v, m)).sum::<f64>()).sum::<f64>()
            / n as f64;
    Ok(mean_kl.exp())
}

/// How many rows of `scores` `[N, K]` (logits or probabilities) have their largest entry in each
/// of the `K` classes: the class histogram that shows a generator's mode collapse.
pub fn class_histogram(scores: &Tensor) -> Result<Vec<usize>> {
    let s = scores.shape();
    if s.len() != 2 {
        return Err(Error::shape("class_histogram", &[s], "expected scores [N, classes]"));
    }
    let mut counts = vec![0usize; s[1]];
    for c in scores.argmax(1, false)?.to_vec::<i64>()? {
        counts[c as usize] += 1;
    }
    Ok(counts)
}
