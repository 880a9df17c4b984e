//! Views and their derivatives: the gradient is the inverse view of `g`.

use crate::{OpInfo, Var};
use ferrograd_tensor::{Dim, Result};

impl Var {
    /// `reshape` — `∂x = reshape(g, x.shape)`.
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Result<Var> {
        let in_shape = self.shape();
        Var::from_op(
            &OpInfo { name: "reshape", rule: "∂x = reshape(g, x.shape)", saves: &[] },
            self.value().reshape(shape)?,
            &[self],
            move |_, _, g| Ok(vec![Some(g.reshape(&in_shape)?)]),
        )
    }

    /// Flattens dims `start..=end` into one (composite: a reshape).
    #[track_caller]
    pub fn flatten<D: Dim>(&self, start: D, end: D) -> Result<Var> {
        let shape = self.value().flatten(start, end)?.shape().to_vec();
        self.reshape(&shape)
    }

    /// `permute(dims)` — `∂x = permute(g, dims⁻¹)`.
    #[track_caller]
    pub fn permute(&self, dims: &[usize]) -> Result<Var> {
        let y = self.value().permute(dims)?;
        let mut inverse = vec![0; dims.len()];
        for (i, &d) in dims.iter().enumerate() {
            inverse[d] = i;
        }
        Var::from_op(
            &OpInfo { name: "permute", rule: "∂x = permute(g, dims⁻¹)", saves: &[] },
            y,
            &[self],
            move |_, _, g| Ok(vec![Some(g.permute(&inverse)?)]),
        )
    }

    /// Swaps two dims — `∂x = transpose(g)` (the same swap).
    #[track_caller]
    pub fn transpose<D: Dim>(&self, d0: D, d1: D) -> Result<Var> {
        let rank = self.shape().len();
        let (a, b) = (d0.resolve(rank, "transpose")?, d1.resolve(rank, "transpose")?);
        let mut perm: Vec<usize> = (0..rank).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Matrix transpose (last two dims).
    #[track_caller]
    pub fn t(&self) -> Result<Var> {
        if self.shape().len() < 2 {
            return Err(ferrograd_tensor::Error::shape("t", &[&self.shape()], "needs at least 2 dimensions"));
        }
        self.transpose(-2, -1)
    }

    /// `narrow(dim, start, len)` — `∂x = pad(g, dim, start, n − start − len)`: the gradient is
    /// zero outside the slice.
    #[track_caller]
    pub fn narrow<D: Dim>(&self, dim: D, start: usize, len: usize) -> Result<Var> {
        let d = dim.resolve(self.shape().len(), "narrow")?;
        let n = self.shape()[d];
        Var::from_op(
            &OpInfo { name: "narrow", rule: "∂x = pad(g, dim, start, n − start − len)", saves: &[] },
            self.value().narrow(d, start, len)?,
            &[self],
            move |_, _, g| Ok(vec![Some(g.pad(d, start, n - start - len)?)]),
        )
    }

    /// Zero padding along `dim` — `∂x = narrow(g, dim, before, n)`.
    #[track_caller]
    pub fn pad<D: Dim>(&self, dim: D, before: usize, after: usize) -> Result<Var> {
        let d = dim.resolve(self.shape().len(), "pad")?;
        let n = self.shape()[d];
        Var::from_op(
            &OpInfo { name: "pad", rule: "∂x = narrow(g, dim, before, n)", saves: &[] },
            self.value().pad(d, before, after)?,
            &[self],
            move |_, _, g| Ok(vec![Some(g.narrow(d, before, n)?)]),
        )
    }

    /// Removes a size-1 dim — `∂x = unsqueeze(g, dim)`.
    #[track_caller]
    pub fn squeeze<D: Dim>(&self, dim: D) -> Result<Var> {
        let d = dim.resolve(self.shape().len(), "squeeze")?;
        Var::from_op(
            &OpInfo { name: "squeeze", rule: "∂x = unsqueeze(g, dim)", saves: &[] },
            self.value().squeeze(d)?,
            &[self],
            move |_, _, g| Ok(vec![Some(g.unsqueeze(d)?)]),
        )
    }

    /// Inserts a size-1 dim — `∂x = squeeze(g, dim)`.
    #[track_caller]
    pub fn unsqueeze<D: Dim>(&self, dim: D) -> Result<Var> {
        let d = dim.resolve(self.shape().len() + 1, "unsqueeze")?;
        Var::from_op(
            &OpInfo { name: "unsqueeze", rule: "∂x = squeeze(g, dim)", saves: &[] },
            self.value().unsqueeze(d)?,
            &[self],
            move |_, _, g| Ok(vec![Some(g.squeeze(d)?)]),
        )
    }

    /// Broadcasts to `shape` — `∂x = g`, summed back over the broadcast dims by the engine.
    #[track_caller]
    pub fn expand(&self, shape: &[usize]) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "expand", rule: "∂x = g, summed over the broadcast dims", saves: &[] },
            self.value().expand(shape)?,
            &[self],
            |_, _, g| Ok(vec![Some(g.clone())]),
        )
    }

    /// A dense copy — `∂x = g`.
    #[track_caller]
    pub fn contiguous(&self) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "contiguous", rule: "∂x = g", saves: &[] },
            self.value().contiguous()?,
            &[self],
            |_, _, g| Ok(vec![Some(g.clone())]),
        )
    }
}
