//! Optimizers: [`Sgd`] (momentum, Nesterov), [`Adam`] and [`AdamW`], with weight decay, and
//! [`Muon`] (orthogonalised momentum for weight matrices);
//! gradient clipping by global norm ([`clip_grad_norm`]) and a warm-up + cosine schedule
//! ([`WarmupCosine`]); an exponential moving average of the weights
//! ([`ExponentialMovingAverage`]).
//!
//! Each step of SGD and Adam runs one fused kernel per parameter that updates the parameter and
//! its state in place (see `ferrograd_kernels::optim`), with PyTorch's formulas; Muon's step is
//! made of tensor ops (matrix products, mostly).

mod adam;
mod average;
mod muon;
mod schedule;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use average::ExponentialMovingAverage;
pub use muon::{newton_schulz, AdjustLr, Muon, MuonConfig};
pub use schedule::{clip_grad_norm, WarmupCosine};
pub use sgd::{Sgd, SgdConfig};

use ferrograd_autograd::{Result, Var};

/// Updates parameters from their accumulated gradients.
pub trait Optimizer {
    /// Applies one update to every parameter that has a gradient.
    fn step(&mut self) -> Result<()>;

    /// The parameters being optimized.
    fn params(&self) -> &[Var];

    /// Clears the gradients of all parameters.
    fn zero_grad(&self) {
        for p in self.params() {
            p.zero_grad();
        }
    }

    /// The current learning rate.
    fn lr(&self) -> f64;

    /// Changes the learning rate (for schedules).
    fn set_lr(&mut self, lr: f64);
}

/// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter).
pub type AdamW = Adam;
