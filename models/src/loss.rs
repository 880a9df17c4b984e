//! Loss functions, each the mean over the batch (PyTorch's default `reduction='mean'`).
//!
//! They are compositions of differentiable ops, so their gradients (and second derivatives)
//! come from those ops' rules.

use ferrograd_autograd::{DType, Error, Result, Tensor, Var};

/// Mean squared error `mean((pred − target)²)`; shapes must match.
pub fn mse_loss(pred: &Var, target: &Var) -> Result<Var> {
    if pred.shape() != target.shape() {
        return Err(Error::shape("mse_loss", &[&pred.shape(), &target.shape()], "shapes must match"));
    }
    let d = pred.sub(target)?;
    d.mul(&d)?.mean_all()
}

/// Cross-entropy from unnormalised `logits` `[batch, classes]` and class indices `targets`
/// (`i64`, `[batch]`): `mean_i(−log_softmax(logits)_i[targets_i])`. `log_softmax` is fused and
/// stable, so large logits do not overflow.
pub fn cross_entropy(logits: &Var, targets: &Tensor) -> Result<Var> {
    let s = logits.shape();
    if s.len() != 2 || targets.shape() != [s[0]] {
        return Err(Error::shape(
            "cross_entropy",
            &[&s, targets.shape()],
            "expected logits [batch, classes] and targets [batch]",
        ));
    }
    if targets.dtype() != DType::I64 {
        return Err(Error::UnsupportedDType {
            op: "cross_entropy (targets must be i64 class indices)",
            dtype: targets.dtype(),
        });
    }
    let classes = s[1];
    if let Some(&bad) = targets.to_vec::<i64>()?.iter().find(|&&t| t < 0 || t as usize >= classes) {
        return Err(Error::IndexOutOfRange { op: "cross_entropy", index: bad, size: classes });
    }
    let picked = logits.log_softmax(1)?.gather(1, &targets.unsqueeze(1)?)?;
    picked.mean_all()?.neg()
}

/// Binary cross-entropy on logits `x` against targets `y ∈ [0, 1]` of the same shape:
/// `mean(softplus(x) − x·y)`, which equals `−y·ln σ(x) − (1 − y)·ln(1 − σ(x))`. The softplus
/// kernel is overflow-safe, and its derivative σ(x) gives the textbook gradient `σ(x) − y`
/// everywhere (a `max(x,0) + ln(1+e^−|x|)` formulation gets it wrong at exactly `x = 0`, where
/// the kinks of `relu` and `abs` meet).
pub fn binary_cross_entropy_with_logits(logits: &Var, targets: &Var) -> Result<Var> {
    if logits.shape() != targets.shape() {
        return Err(Error::shape(
            "binary_cross_entropy_with_logits",
            &[&logits.shape(), &targets.shape()],
            "shapes must match",
        ));
    }
    logits.softplus()?.sub(&logits.mul(targets)?)?.mean_all()
}
