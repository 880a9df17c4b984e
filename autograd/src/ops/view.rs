//! Views and their derivatives: the gradient is the inverse view of `g`.

use crate::Var;
use ferrograd_tensor::{Dim, Result};

impl Var {
    /// `reshape` — `∂x = reshape(g, x.shape)`.
    pub fn reshape(&self, shape: &[usize]) -> Result<Var> {
        let in_shape = self.shape();
        Ok(Var::from_op("reshape", self.value().reshape(shape)?, &[self], move |_, _, g| {
            Ok(vec![Some(g.reshape(&in_shape)?)])
        }))
    }

    /// Flattens dims `start..=end` into one (composite: a reshape).
    pub fn flatten<D: Dim>(&self, start: D, end: D) -> Result<Var> {
        let shape = self.value().flatten(start, end)?.shape().to_vec();
        self.reshape(&shape)
    }

    /// `permute(dims)` — `∂x = permute(g, dims⁻¹)`.
    pub fn permute(&self, dims: &[usize]) -> Result<Var> {
        let y = self.value().permute(dims)?;
        let mut inverse = vec![0; dims.len()];
        for (i, &d) in dims.iter().enumerate() {
            inverse[d] = i;
        }
        Ok(Var::from_op("permute", y, &[self], move |_, _, g| Ok(vec![Some(g.permute(&inverse)?)])))
    }

    /// Swaps two dims — `∂x = transpose(g)` (the same swap).
    pub fn transpose<D: Dim>(&self, d0: D, d1: D) -> Result<Var> {
        let rank = self.shape().len();
        let (a, b) = (d0.resolve(rank, "transpose")?, d1.resolve(rank, "transpose")?);
        let mut perm: Vec<usize> = (0..rank).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Matrix transpose (last two dims).
    pub fn t(&self) -> Result<Var> {
        if self.shape().len() < 2 {
            return Err(ferrograd_tensor::Error::shape("t", &[&self.shape()], "needs at least 2 dimensions"));
        }
        self.transpose(-2, -1)
    }

    /// `narrow(dim, start, len)` — `∂x = pad(g, dim, start, n − start − len)`: the gradient is
    /// zero outside the slice.
    pub fn narrow<D: Dim>(&self, dim: D, start: usize, len: usize) -> Result<Var> {
        let d = dim.resolve(self.shape().len(), "narrow")?;
        let n = self.shape()[d];
        Ok(Var::from_op("narrow", self.value().narrow(d, start, len)?, &[self], move |_, _, g| {
            Ok(vec![Some(g.pad(d, start, n - start - len)?)])
        }))
    }

    /// Zero padding along `dim` — `∂x = narrow(g, dim, before, n)`.
    pub fn pad<D: Dim>(&self, dim: D, before: usize, after: usize) -> Result<Var> {
        let d = dim.resolve(self.shape().len(), "pad")?;
        let n = self.shape()[d];
        Ok(Var::from_op("pad", self.value().pad(d, before, after)?, &[self], move |_, _, g| {
            Ok(vec![Some(g.narrow(d, before, n)?)])
        }))
    }

    /// Removes a size-1 dim — `∂x = unsqueeze(g, dim)`.
    pub fn squeeze<D: Dim>(&self, dim: D) -> Result<Var> {
        let d = dim.resolve(self.shape().len(), "squeeze")?;
        Ok(Var::from_op("squeeze", self.value().squeeze(d)?, &[self], move |_, _, g| Ok(vec![Some(g.unsqueeze(d)?)])))
    }

    /// Inserts a size-1 dim — `∂x = squeeze(g, dim)`.
    pub fn unsqueeze<D: Dim>(&self, dim: D) -> Result<Var> {
        let d = dim.resolve(self.shape().len() + 1, "unsqueeze")?;
        Ok(Var::from_op("unsqueeze", self.value().unsqueeze(d)?, &[self], move |_, _, g| Ok(vec![Some(g.squeeze(d)?)])))
    }

    /// Broadcasts to `shape` — `∂x = g`, summed back over the broadcast dims by the engine.
    pub fn expand(&self, shape: &[usize]) -> Result<Var> {
        Ok(Var::from_op("expand", self.value().expand(shape)?, &[self], |_, _, g| Ok(vec![Some(g.clone())])))
    }

    /// A dense copy — `∂x = g`.
    pub fn contiguous(&self) -> Result<Var> {
        Ok(Var::from_op("contiguous", self.value().contiguous()?, &[self], |_, _, g| Ok(vec![Some(g.clone())])))
    }
}
