//! Reductions and their derivatives: the gradient of a reduction is spread back over the
//! elements that were reduced.

use crate::{OpInfo, Saved, Var};
use ferrograd_tensor::{Dim, Dims, Result, Tensor};

impl Var {
    /// The shape of a reduction's output with `keepdim = true`.
    fn keepdim_shape(&self, dims: &[usize]) -> Vec<usize> {
        self.shape().iter().enumerate().map(|(d, &s)| if dims.contains(&d) { 1 } else { s }).collect()
    }

    /// `y = Σ_dims x` — `∂x = expand(g)`: every summed element receives the output's gradient.
    #[track_caller]
    pub fn sum(&self, dims: impl Dims, keepdim: bool) -> Result<Var> {
        let dims = dims.resolve(self.shape().len(), "sum")?;
        let y = self.value().sum(&dims, keepdim)?;
        let (in_shape, kept) = (self.shape(), self.keepdim_shape(&dims));
        Var::from_op(&OpInfo { name: "sum", rule: "∂x = expand(g)", saves: &[] }, y, &[self], move |_, _, g| {
            Ok(vec![Some(g.reshape(&kept)?.expand(&in_shape)?)])
        })
    }

    /// Σ of every element (a 0-dimensional result).
    #[track_caller]
    pub fn sum_all(&self) -> Result<Var> {
        self.sum((0..self.shape().len()).collect::<Vec<_>>(), false)
    }

    /// Mean over `dims`: `Σ x / N` (composite: its gradient is `g / N`, spread).
    #[track_caller]
    pub fn mean(&self, dims: impl Dims, keepdim: bool) -> Result<Var> {
        let dims = dims.resolve(self.shape().len(), "mean")?;
        let n: usize = dims.iter().map(|&d| self.shape()[d]).product();
        self.sum(&dims, keepdim)?.mul_scalar(1.0 / n as f64)
    }

    /// Mean of every element (a 0-dimensional result).
    #[track_caller]
    pub fn mean_all(&self) -> Result<Var> {
        self.mean((0..self.shape().len()).collect::<Vec<_>>(), false)
    }

    /// `y = max_dims x` — `∂x = expand(g) · [x = y] / #ties`: the gradient goes to the maximal
    /// elements, split evenly between ties (as PyTorch's `amax`).
    #[track_caller]
    pub fn max(&self, dims: impl Dims, keepdim: bool) -> Result<Var> {
        self.extremum(dims, keepdim, true)
    }

    /// `y = min_dims x` — as [`Var::max`], for the minimal elements.
    #[track_caller]
    pub fn min(&self, dims: impl Dims, keepdim: bool) -> Result<Var> {
        self.extremum(dims, keepdim, false)
    }

    fn extremum(&self, dims: impl Dims, keepdim: bool, max: bool) -> Result<Var> {
        let name = if max { "max" } else { "min" };
        let dims = dims.resolve(self.shape().len(), name)?;
        let x = self.value();
        let y = if max { x.max(&dims, keepdim)? } else { x.min(&dims, keepdim)? };
        let (in_shape, kept) = (self.shape(), self.keepdim_shape(&dims));
        const MAX: OpInfo =
            OpInfo {
                name: "max", rule: "∂x = expand(g) · [x = y] / #ties", saves: &[Saved::Input(0), Saved::Output]
            };
        const MIN: OpInfo =
            OpInfo {
                name: "min", rule: "∂x = expand(g) · [x = y] / #ties", saves: &[Saved::Input(0), Saved::Output]
            };
        Var::from_op(if max { &MAX } else { &MIN }, y, &[self], move |x, y, g| {
            let hit = x[0].value().eq(&y.value().reshape(&kept)?)?;
            let share = hit.div(&hit.sum(&dims, true)?)?;
            Ok(vec![Some(g.reshape(&kept)?.expand(&in_shape)?.mul(&Var::constant(share))?)])
        })
    }

    /// Variance over `dims` with Bessel's `correction` (1 = unbiased), composite:
    /// `Σ (x − mean)² / (N − correction)`.
    #[track_caller]
    pub fn var(&self, dims: impl Dims, correction: usize, keepdim: bool) -> Result<Var> {
        let dims = dims.resolve(self.shape().len(), "var")?;
        let n: usize = dims.iter().map(|&d| self.shape()[d]).product();
        if n <= correction {
            return Err(ferrograd_tensor::Error::shape(
                "var",
                &[&self.shape()],
                format!("{n} elements with correction {correction}"),
            ));
        }
        let centred = self.sub(&self.mean(&dims, true)?)?;
        centred.mul(&centred)?.sum(&dims, keepdim)?.mul_scalar(1.0 / (n - correction) as f64)
    }

    /// `log Σ exp(x)` over `dims`, composite: `m + log Σ exp(x − m)` with `m = max x` held
    /// constant. `m` cancels out of the value, so treating it as a constant leaves the gradient
    /// exact (`∂x = g · softmax(x)`) while keeping every exponent ≤ 0.
    #[track_caller]
    pub fn logsumexp(&self, dims: impl Dims, keepdim: bool) -> Result<Var> {
        let dims = dims.resolve(self.shape().len(), "logsumexp")?;
        if dims.iter().any(|&d| self.shape()[d] == 0) {
            // Nothing to sum: -inf, and no element to send a gradient to.
            return Ok(Var::constant(self.value().logsumexp(&dims, keepdim)?));
        }
        let m = self.value().max(&dims, true)?;
        let finite = m.abs()?.lt(&m.scalar_like(f64::INFINITY))?;
        let m = Var::constant(Tensor::where_cond(&finite, &m, &m.zeros_like())?);
        let s = self.sub(&m)?.exp()?.sum(&dims, true)?.log()?.add(&m)?;
        if keepdim {
            Ok(s)
        } else {
            let shape: Vec<usize> =
                self.shape().iter().enumerate().filter(|(d, _)| !dims.contains(d)).map(|(_, &s)| s).collect();
            s.reshape(&shape)
        }
    }

    /// Index of the largest value along `dim` (an `i64` constant: not differentiable).
    #[track_caller]
    pub fn argmax(&self, dim: impl Dim, keepdim: bool) -> Result<Tensor> {
        self.value().argmax(dim, keepdim)
    }

    /// Index of the smallest value along `dim` (an `i64` constant: not differentiable).
    #[track_caller]
    pub fn argmin(&self, dim: impl Dim, keepdim: bool) -> Result<Tensor> {
        self.value().argmin(dim, keepdim)
    }
}
