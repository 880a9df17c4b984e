//! Loss functions. `mse_loss` and `cross_entropy` are means over the batch (PyTorch's default
//! `reduction='mean'`); the binary cross-entropies and KL divergences take a [`Reduction`].
//!
//! They are compositions of differentiable ops, so their gradients (and second derivatives)
//! come from those ops' rules.

use ferrograd_autograd::{DType, Error, Result, Rng, Tensor, Var};

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
    cross_entropy_with(logits, targets, Reduction::Mean)
}

/// [`cross_entropy`] with a choice of [`Reduction`]: `Reduction::None` gives each example's
/// loss `−log_softmax(logits)_i[targets_i]` as a `[batch]` vector (PyTorch's
/// `reduction='none'`), for instance to see which characters of a text a model finds hard.
pub fn cross_entropy_with(logits: &Var, targets: &Tensor, reduction: Reduction) -> Result<Var> {
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
    reduction.apply(picked.reshape(&[s[0]])?.neg()?)
}

/// How a loss turns its per-element values into the value returned (PyTorch's `reduction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// The mean over every element (PyTorch's default).
    Mean,
    /// The sum over every element. Divide by the batch size for a per-example total, such as a
    /// VAE's nats per image.
    Sum,
    /// No reduction: the per-element losses, in the inputs' shape.
    None,
}

impl Reduction {
    /// Applies the reduction to per-element losses.
    pub fn apply(self, losses: Var) -> Result<Var> {
        match self {
            Reduction::Mean => losses.mean_all(),
            Reduction::Sum => losses.sum_all(),
            Reduction::None => Ok(losses),
        }
    }
}

fn check_same_shape(op: &'static str, a: &Var, b: &Var) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::shape(op, &[&a.shape(), &b.shape()], "shapes must match"));
    }
    Ok(())
}

/// Binary cross-entropy on logits `x` against targets `y ∈ [0, 1]` of the same shape:
/// `softplus(x) − x·y` per element, which equals `−y·ln σ(x) − (1 − y)·ln(1 − σ(x))`. The softplus
/// kernel is overflow-safe, and its derivative σ(x) gives the textbook gradient `σ(x) − y`
/// everywhere (a `max(x,0) + ln(1+e^−|x|)` formulation gets it wrong at exactly `x = 0`, where
/// the kinks of `relu` and `abs` meet). Prefer it to [`binary_cross_entropy`] on `sigmoid(x)`:
/// it never takes the log of a probability that rounded to 0 or 1.
pub fn binary_cross_entropy_with_logits(logits: &Var, targets: &Var, reduction: Reduction) -> Result<Var> {
    check_same_shape("binary_cross_entropy_with_logits", logits, targets)?;
    reduction.apply(logits.softplus()?.sub(&logits.mul(targets)?)?)
}

/// Binary cross-entropy on probabilities `p ∈ [0, 1]` against targets `y ∈ [0, 1]` of the same
/// shape: `−y·ln p − (1 − y)·ln(1 − p)` per element. As in PyTorch, each log is floored at −100,
/// so a probability of exactly 0 or 1 gives a large finite loss instead of `inf`, and a finite
/// gradient. Gradient: `∂/∂p = (p − y) / (p·(1 − p))`.
pub fn binary_cross_entropy(probs: &Var, targets: &Var, reduction: Reduction) -> Result<Var> {
    check_same_shape("binary_cross_entropy", probs, targets)?;
    let log_p = log_floored(probs)?;
    let log_not_p = log_floored(&probs.neg()?.add_scalar(1.0)?)?;
    let not_y = targets.neg()?.add_scalar(1.0)?;
    reduction.apply(targets.mul(&log_p)?.add(&not_y.mul(&log_not_p)?)?.neg()?)
}

/// `max(ln v, −100)`, with no gradient where the floor applies. Below the dtype's smallest normal
/// number (f32: 1.2e-38, where `ln` is still −87) the log is not even evaluated: its derivative
/// `1/v` would overflow to ∞ there, and `0·∞` is NaN even where the floor zeroes the gradient.
/// Replacing those `v` by 1 before the log and the result by −100 after it (the "safe where")
/// keeps every gradient finite.
fn log_floored(v: &Var) -> Result<Var> {
    let value = v.value();
    let smallest_normal = if value.dtype() == DType::F32 { f32::MIN_POSITIVE as f64 } else { f64::MIN_POSITIVE };
    let floor = value.lt(&value.scalar_like(smallest_normal.max((-100f64).exp())))?;
    // At or above the threshold (≥ e^−100), ln v ≥ −100 already: no clamp is needed.
    v.masked_fill(&floor, 1.0)?.log()?.masked_fill(&floor, -100.0)
}

/// KL divergence of a diagonal Gaussian `q = N(μ, diag(σ²))`, given as `μ` and `log σ²`, from the
/// standard normal prior `N(0, I)`: per dimension
/// `KL = ½·(σ² + μ² − 1 − log σ²)`, the closed form of `E_q[log q(z) − log p(z)]`.
/// It is the regulariser of a VAE's ELBO. Gradients: `∂/∂μ = μ`, `∂/∂log σ² = ½·(σ² − 1)`.
pub fn gaussian_kl_divergence(mean: &Var, log_var: &Var, reduction: Reduction) -> Result<Var> {
    check_same_shape("gaussian_kl_divergence", mean, log_var)?;
    let terms = log_var.exp()?.add(&mean.mul(mean)?)?.sub(log_var)?.add_scalar(-1.0)?;
    reduction.apply(terms.mul_scalar(0.5)?)
}

/// KL divergence `KL(q ‖ p)` between two diagonal Gaussians, each given as mean and log-variance
/// (all four of one shape): per dimension
/// `½·(log σ_p² − log σ_q² + (σ_q² + (μ_q − μ_p)²) / σ_p² − 1)`. With `μ_p = 0, log σ_p² = 0` it
/// is [`gaussian_kl_divergence`].
pub fn gaussian_kl_divergence_between(
    (q_mean, q_log_var): (&Var, &Var),
    (p_mean, p_log_var): (&Var, &Var),
    reduction: Reduction,
) -> Result<Var> {
    for other in [q_log_var, p_mean, p_log_var] {
        check_same_shape("gaussian_kl_divergence_between", q_mean, other)?;
    }
    let d = q_mean.sub(p_mean)?;
    let ratio = q_log_var.exp()?.add(&d.mul(&d)?)?.div(&p_log_var.exp()?)?;
    let terms = p_log_var.sub(q_log_var)?.add(&ratio)?.add_scalar(-1.0)?;
    reduction.apply(terms.mul_scalar(0.5)?)
}

/// The reparameterisation trick: a sample `z = μ + σ·ε` of `N(μ, diag(σ²))`, `σ = exp(½·log σ²)`,
/// with the noise `ε ~ N(0, I)` drawn from `rng` by [`Tensor::randn_like`]. Because `ε` is a
/// constant of the graph, `z` is differentiable in `μ` and `log σ²`
/// (`∂z/∂μ = 1`, `∂z/∂log σ² = ½·σ·ε`), which is what lets a VAE's encoder learn through a
/// random sample.
pub fn reparameterize(mean: &Var, log_var: &Var, rng: &mut Rng) -> Result<Var> {
    check_same_shape("reparameterize", mean, log_var)?;
    let eps = Var::constant(mean.value().randn_like(rng)?);
    mean.add(&log_var.mul_scalar(0.5)?.exp()?.mul(&eps)?)
}
