//! Softmax and log-softmax and their derivatives.

use crate::{OpInfo, Saved, Var};
use ferrograd_tensor::{Dim, Result};

impl Var {
    /// `y = softmax(x)` along `dim` — `∂x = y · (g − Σ_dim g·y)` (the Jacobian `diag(y) − y yᵀ`
    /// applied to `g`).
    #[track_caller]
    pub fn softmax<D: Dim>(&self, dim: D) -> Result<Var> {
        if self.shape().is_empty() {
            dim.resolve(1, "softmax")?;
            return self.reshape(&[1])?.softmax(0)?.reshape(&[]);
        }
        let d = dim.resolve(self.shape().len(), "softmax")?;
        let y = self.value().softmax(d)?;
        Var::from_op(
            &OpInfo { name: "softmax", rule: "∂x = y · (g − Σ_dim g·y)", saves: &[Saved::Output] },
            y,
            &[self],
            move |_, y, g| {
                let dot = g.mul(y)?.sum([d], true)?;
                Ok(vec![Some(y.mul(&g.sub(&dot)?)?)])
            },
        )
    }

    /// `y = log_softmax(x)` along `dim` — `∂x = g − exp(y) · Σ_dim g`.
    #[track_caller]
    pub fn log_softmax<D: Dim>(&self, dim: D) -> Result<Var> {
        if self.shape().is_empty() {
            dim.resolve(1, "log_softmax")?;
            return self.reshape(&[1])?.log_softmax(0)?.reshape(&[]);
        }
        let d = dim.resolve(self.shape().len(), "log_softmax")?;
        let y = self.value().log_softmax(d)?;
        Var::from_op(
            &OpInfo { name: "log_softmax", rule: "∂x = g − exp(y) · Σ_dim g", saves: &[Saved::Output] },
            y,
            &[self],
            move |_, y, g| {
                let total = g.sum([d], true)?;
                Ok(vec![Some(g.sub(&y.exp()?.mul(&total)?)?)])
            },
        )
    }
}
