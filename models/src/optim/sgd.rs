//! Stochastic gradient descent with momentum.

use super::Optimizer;
use ferrograd_autograd::{Error, Result, Tensor, Var};
use ferrograd_tensor::ops::optim::SgdParams;

/// Hyper-parameters of [`Sgd`] (PyTorch's names and defaults, `lr` aside).
#[derive(Clone, Copy, Debug)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor μ (0: plain SGD).
    pub momentum: f64,
    /// Dampening τ of the gradient added to the velocity.
    pub dampening: f64,
    /// L2 penalty λ: the gradient becomes `g + λ·p`.
    pub weight_decay: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { lr: 0.01, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false }
    }
}

/// `v ← μv + (1−τ)(g + λp);  p ← p − lr·(nesterov ? g + μv : v)` (as `torch.optim.SGD`).
pub struct Sgd {
    params: Vec<Var>,
    velocity: Vec<Option<Tensor>>,
    config: SgdConfig,
}

impl Sgd {
    /// An optimizer over `params`. Nesterov needs momentum and no dampening, as in PyTorch.
    pub fn new(params: Vec<Var>, config: SgdConfig) -> Result<Sgd> {
        if config.nesterov && (config.momentum <= 0.0 || config.dampening != 0.0) {
            return Err(Error::invalid("Sgd", "Nesterov momentum requires momentum > 0 and dampening = 0"));
        }
        if config.lr < 0.0 || config.momentum < 0.0 || config.weight_decay < 0.0 {
            return Err(Error::invalid("Sgd", format!("negative hyper-parameter in {config:?}")));
        }
        Ok(Sgd { velocity: vec![None; params.len()], params, config })
    }
}

impl Optimizer for Sgd {
    fn step(&mut self) -> Result<()> {
        for (p, v) in self.params.iter().zip(&mut self.velocity) {
            let Some(g) = p.grad() else { continue };
            let first_step = v.is_none();
            let vel = v.get_or_insert_with(|| g.zeros_like());
            let h = SgdParams {
                lr: self.config.lr,
                momentum: self.config.momentum,
                dampening: self.config.dampening,
                weight_decay: self.config.weight_decay,
                nesterov: self.config.nesterov,
                first_step,
            };
            p.update_value(|t| t.sgd_step_(&g, vel, h))?;
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
