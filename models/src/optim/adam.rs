//! Adam and AdamW.

use super::Optimizer;
use ferrograd_autograd::{Error, Result, Tensor, Var};
use ferrograd_tensor::ops::optim::AdamParams;

/// Hyper-parameters of [`Adam`] (PyTorch's names and defaults).
#[derive(Clone, Copy, Debug)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay rates of the first and second moment estimates.
    pub betas: (f64, f64),
    /// Added to the denominator for stability.
    pub eps: f64,
    /// Weight decay λ.
    pub weight_decay: f64,
    /// `false`: Adam, λ is an L2 term added to the gradient. `true`: AdamW, the weights are
    /// decayed directly, `p ← p·(1 − lr·λ)`, decoupled from the adaptive step.
    pub decoupled_weight_decay: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0, decoupled_weight_decay: false }
    }
}

impl AdamConfig {
    /// AdamW's defaults (`weight_decay = 0.01`, decoupled), as `torch.optim.AdamW`.
    pub fn adamw() -> Self {
        AdamConfig { weight_decay: 0.01, decoupled_weight_decay: true, ..Default::default() }
    }
}

/// Adam (Kingma & Ba) / AdamW:
/// `m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  p ← p − lr·m̂ / (√v̂ + ε)` with bias-corrected
/// `m̂ = m / (1−β₁ᵗ)`, `v̂ = v / (1−β₂ᵗ)`.
pub struct Adam {
    params: Vec<Var>,
    state: Vec<Option<(Tensor, Tensor)>>,
    steps: Vec<u64>,
    config: AdamConfig,
}

impl Adam {
    /// An optimizer over `params`.
    pub fn new(params: Vec<Var>, config: AdamConfig) -> Result<Adam> {
        let (b1, b2) = config.betas;
        if !(0.0..1.0).contains(&b1)
            || !(0.0..1.0).contains(&b2)
            || config.lr < 0.0
            || config.eps < 0.0
            || config.weight_decay < 0.0
        {
            return Err(Error::invalid("Adam", format!("invalid hyper-parameters {config:?}")));
        }
        Ok(Adam { state: vec![None; params.len()], steps: vec![0; params.len()], params, config })
    }
}

impl Optimizer for Adam {
    fn step(&mut self) -> Result<()> {
        for ((p, state), t) in self.params.iter().zip(&mut self.state).zip(&mut self.steps) {
            let Some(g) = p.grad() else { continue };
            let (m, v) = state.get_or_insert_with(|| (g.zeros_like(), g.zeros_like()));
            *t += 1;
            let h = AdamParams {
                lr: self.config.lr,
                beta1: self.config.betas.0,
                beta2: self.config.betas.1,
                eps: self.config.eps,
                weight_decay: self.config.weight_decay,
                decoupled: self.config.decoupled_weight_decay,
                step: *t,
            };
            p.update_value(|x| x.adam_step_(&g, m, v, h))?;
        }
        Ok(())
    }

    fn params(&self) -> &[Var] {
        &self.params
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }
}
