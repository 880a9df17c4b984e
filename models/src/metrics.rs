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
