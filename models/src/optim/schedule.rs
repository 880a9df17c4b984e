//! Gradient clipping and learning-rate schedules.

use ferrograd_autograd::{Result, Var};

/// Scales every gradient by `min(1, max_norm / ‖g‖)`, where `‖g‖` is the L2 norm of all the
/// parameters' gradients taken together (as `torch.nn.utils.clip_grad_norm_`), and returns
/// `‖g‖` before clipping. Keeps exploding gradients (common in RNNs) from throwing the weights
/// far off in one step, while leaving the direction of the update unchanged.
pub fn clip_grad_norm(params: &[Var], max_norm: f64) -> Result<f64> {
    let mut sum_sq = 0.0;
    for g in params.iter().filter_map(Var::grad) {
        sum_sq += g.l2_norm()?.powi(2);
    }
    let norm = sum_sq.sqrt();
    // PyTorch's 1e-6 keeps the factor finite when the norm is 0.
    let factor = max_norm / (norm + 1e-6);
    if factor < 1.0 {
        for p in params {
            if let Some(g) = p.grad() {
                p.set_grad(g.mul_scalar(factor)?)?;
            }
        }
    }
    Ok(norm)
}

/// Linear warm-up from 0 to `peak` over `warmup` steps, then cosine decay to `min_lr` at
/// `total` steps (and `min_lr` after), as used to train GPT-style models: warm-up keeps Adam's
/// first, poorly estimated steps small; the cosine spends most of the run near high rates and
/// ends with fine steps.
#[derive(Clone, Copy, Debug)]
pub struct WarmupCosine {
    /// Largest learning rate, reached at the end of the warm-up.
    pub peak: f64,
    /// Final learning rate.
    pub min_lr: f64,
    /// Steps of linear warm-up.
    pub warmup: usize,
    /// Steps until the end of the decay.
    pub total: usize,
}

impl WarmupCosine {
    /// The learning rate for step `step` (counted from 0).
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        if step >= self.total {
            return self.min_lr;
        }
        let progress = (step - self.warmup) as f64 / (self.total - self.warmup).max(1) as f64;
        self.min_lr + 0.5 * (self.peak - self.min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}
