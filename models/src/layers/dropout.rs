//! Dropout.

use crate::Module;
use ferrograd_autograd::{Error, Result, Rng, Tensor, Var};
use std::cell::{Cell, RefCell};

/// In training mode, zeroes each element with probability `p` and scales the rest by `1/(1−p)`
/// (so the expected value is unchanged); in evaluation mode, the identity. The masks come from
/// the layer's own seeded generator, so a run is reproducible.
pub struct Dropout {
    p: f64,
    training: Cell<bool>,
    rng: RefCell<Rng>,
}

impl Dropout {
    /// A dropout layer with drop probability `p ∈ [0, 1)`, in training mode.
    pub fn new(p: f64, seed: u64) -> Result<Dropout> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::invalid("Dropout", format!("probability {p} not in [0, 1)")));
        }
        Ok(Dropout { p, training: Cell::new(true), rng: RefCell::new(Rng::new(seed)) })
    }
}

impl Dropout {
    /// Variational ("locked") dropout: one mask per sequence, shared by every position along
    /// `axis` — for `[B, T, H]` activations and `axis = 1`, each sequence drops the same units at
    /// every time step (Gal & Ghahramani 2016; AWD-LSTM's `LockedDropout`). A unit that is on
    /// stays on, so the network cannot average the noise away over time.
    pub fn forward_shared(&self, x: &Var, axis: usize) -> Result<Var> {
        let mut shape = x.shape();
        if axis >= shape.len() {
            return Err(Error::shape("Dropout", &[&shape], format!("no axis {axis} to share the mask along")));
        }
        shape[axis] = 1;
        self.apply(x, &shape)
    }

    /// `x · mask`, the mask of shape `mask_shape` (broadcast against `x`'s) drawn afresh.
    fn apply(&self, x: &Var, mask_shape: &[usize]) -> Result<Var> {
        if !self.training.get() || self.p == 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.p;
        // Drawn on the host from the layer's generator (the same masks on every device), then
        // moved to the input's device.
        let u = self.rng.borrow_mut().uniform_tensor(mask_shape, 0.0, 1.0, x.dtype())?.to_device(x.value().device())?;
        // mask = [u < keep] / keep: a constant, so ∂x = g · mask.
        let mask: Tensor = u.lt(&u.scalar_like(keep))?.mul_scalar(1.0 / keep)?;
        x.mul(&Var::constant(mask))
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Var) -> Result<Var> {
        self.apply(x, &x.shape())
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        Vec::new()
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
    }
}
