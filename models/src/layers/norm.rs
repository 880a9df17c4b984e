//! Normalisation layers: batch normalisation (with running statistics) and layer normalisation.

use crate::Module;
use ferrograd_autograd::{DType, Error, Result, Tensor, Var};
use std::cell::{Cell, RefCell};

/// Batch normalisation over the channel dim 1 of `[N, C]` (1d) or `[N, C, H, W]` (2d) inputs, as
/// `torch.nn.BatchNorm1d/2d`: in training mode each channel is standardised with the batch's
/// mean and (population) variance, and the running statistics are updated as
/// `r ← (1 − m)·r + m·batch` (the variance term unbiased, `n/(n−1)`); in evaluation mode the
/// running statistics are used. A learnable per-channel scale and shift follow.
pub struct BatchNorm {
    /// Per-channel scale γ, `[C]`, initialised to 1.
    pub weight: Var,
    /// Per-channel shift β, `[C]`, initialised to 0.
    pub bias: Var,
    running_mean: RefCell<Tensor>,
    running_var: RefCell<Tensor>,
    momentum: f64,
    eps: f64,
    training: Cell<bool>,
}

impl BatchNorm {
    /// A layer for `channels` channels, with PyTorch's defaults (momentum 0.1, eps 1e-5).
    pub fn new(channels: usize, dtype: DType) -> BatchNorm {
        BatchNorm {
            weight: Var::parameter(Tensor::ones(&[channels], dtype)),
            bias: Var::parameter(Tensor::zeros(&[channels], dtype)),
            running_mean: RefCell::new(Tensor::zeros(&[channels], dtype)),
            running_var: RefCell::new(Tensor::ones(&[channels], dtype)),
            momentum: 0.1,
            eps: 1e-5,
            training: Cell::new(true),
        }
    }

    /// The running mean, `[C]`.
    pub fn running_mean(&self) -> Tensor {
        self.running_mean.borrow().clone()
    }

    /// The running (unbiased) variance, `[C]`.
    pub fn running_var(&self) -> Tensor {
        self.running_var.borrow().clone()
    }
}

impl Module for BatchNorm {
    fn forward(&self, x: &Var) -> Result<Var> {
        let s = x.shape();
        let c = self.weight.shape()[0];
        if !(s.len() == 2 || s.len() == 4) || s[1] != c {
            return Err(Error::shape("BatchNorm", &[&s], format!("expected [N, {c}] or [N, {c}, H, W]")));
        }
        let dims: Vec<usize> = (0..s.len()).filter(|&d| d != 1).collect();
        let mut stat_shape = vec![1; s.len()];
        stat_shape[1] = c;
        if self.training.get() {
            let count: usize = dims.iter().map(|&d| s[d]).product();
            if count < 2 {
                return Err(Error::shape("BatchNorm", &[&s], "training needs more than one value per channel"));
            }
            // One fused op; its batch statistics also update the running ones (the variance
            // made unbiased, n/(n − 1), as PyTorch keeps it).
            let (y, mean, var) = x.batch_norm_train(&self.weight, &self.bias, self.eps)?;
            let m = self.momentum;
            let unbiased = count as f64 / (count - 1) as f64;
            let mut rm = self.running_mean.borrow_mut();
            *rm = rm.mul_scalar(1.0 - m)?.add(&mean.mul_scalar(m)?)?;
            let mut rv = self.running_var.borrow_mut();
            *rv = rv.mul_scalar(1.0 - m)?.add(&var.mul_scalar(m * unbiased)?)?;
            return Ok(y);
        }
        let mean = Var::constant(self.running_mean.borrow().reshape(&stat_shape)?);
        let std = Var::constant(self.running_var.borrow().add_scalar(self.eps)?.sqrt()?.reshape(&stat_shape)?);
        x.sub(&mean)?.div(&std)?.mul(&self.weight.reshape(&stat_shape)?)?.add(&self.bias.reshape(&stat_shape)?)
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        vec![("weight".into(), self.weight.clone()), ("bias".into(), self.bias.clone())]
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
    }

    /// Moves the parameters and the running statistics.
    fn to_device(&self, device: ferrograd_autograd::Device) -> Result<()> {
        for p in self.parameters() {
            p.zero_grad();
            p.set_value(p.value().to_device(device)?)?;
        }
        for stat in [&self.running_mean, &self.running_var] {
            let moved = stat.borrow().to_device(device)?;
            *stat.borrow_mut() = moved;
        }
        Ok(())
    }
}

/// Layer normalisation over the trailing `normalized` dims, with a learnable elementwise scale
/// and shift (as `torch.nn.LayerNorm`, eps 1e-5).
pub struct LayerNorm {
    /// Scale, of the normalized shape, initialised to 1.
    pub weight: Var,
    /// Shift, of the normalized shape, initialised to 0.
    pub bias: Var,
    normalized: Vec<usize>,
    eps: f64,
}

impl LayerNorm {
    /// A layer normalising over trailing dims of sizes `normalized`.
    pub fn new(normalized: &[usize], dtype: DType) -> LayerNorm {
        LayerNorm {
            weight: Var::parameter(Tensor::ones(normalized, dtype)),
            bias: Var::parameter(Tensor::zeros(normalized, dtype)),
            normalized: normalized.to_vec(),
            eps: 1e-5,
        }
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Var) -> Result<Var> {
        x.layer_norm(&self.normalized, Some(&self.weight), Some(&self.bias), self.eps)
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        vec![("weight".into(), self.weight.clone()), ("bias".into(), self.bias.clone())]
    }
}
