//! Indexing and assembling, and their derivatives: each op's gradient is its adjoint
//! (`index_select` ↔ `index_add`, `gather` ↔ `scatter_add`, `cat` ↔ `narrow`).

use crate::{OpInfo, Saved, Var};
use ferrograd_tensor::{Dim, Error, Result, Tensor};

impl Var {
    /// `y[.., j, ..] = x[.., idx[j], ..]` — `∂x = index_add(0, dim, idx, g)`: each selected row
    /// sends its gradient back to where it came from (repeats add up).
    #[track_caller]
    pub fn index_select<D: Dim>(&self, dim: D, idx: &Tensor) -> Result<Var> {
        let d = dim.resolve(self.shape().len(), "index_select")?;
        let y = self.value().index_select(d, idx)?;
        let idx = idx.clone();
        Var::from_op(
            &OpInfo { name: "index_select", rule: "∂x = index_add(0, dim, idx, g)", saves: &[Saved::Extra("idx")] },
            y,
            &[self],
            move |x, _, g| {
                let zero = Var::constant(x[0].value().zeros_like());
                Ok(vec![Some(zero.index_add(d, &idx, g)?)])
            },
        )
    }

    /// `y = x` with `src[.., j, ..]` added at `x[.., idx[j], ..]` — `∂x = g`,
    /// `∂src = index_select(g, dim, idx)`.
    #[track_caller]
    pub fn index_add<D: Dim>(&self, dim: D, idx: &Tensor, src: &Var) -> Result<Var> {
        let d = dim.resolve(self.shape().len(), "index_add")?;
        let y = self.value().index_add(d, idx, &src.value())?;
        let idx = idx.clone();
        Var::from_op(
            &OpInfo {
                name: "index_add",
                rule: "∂x = g, ∂src = index_select(g, dim, idx)",
                saves: &[Saved::Extra("idx")],
            },
            y,
            &[self, src],
            move |_, _, g| Ok(vec![Some(g.clone()), Some(g.index_select(d, &idx)?)]),
        )
    }

    /// `y[p] = x[p with coordinate dim := idx[p]]` (as `torch.gather`) —
    /// `∂x = scatter_add(0, dim, idx, g)`.
    #[track_caller]
    pub fn gather<D: Dim>(&self, dim: D, idx: &Tensor) -> Result<Var> {
        let d = dim.resolve(self.shape().len(), "gather")?;
        let y = self.value().gather(d, idx)?;
        let idx = idx.clone();
        Var::from_op(
            &OpInfo { name: "gather", rule: "∂x = scatter_add(0, dim, idx, g)", saves: &[Saved::Extra("idx")] },
            y,
            &[self],
            move |x, _, g| {
                let zero = Var::constant(x[0].value().zeros_like());
                Ok(vec![Some(zero.scatter_add(d, &idx, g)?)])
            },
        )
    }

    /// `y = x` with `src[p]` added at `[p with coordinate dim := idx[p]]` — `∂x = g`,
    /// `∂src = gather(g, dim, idx)`.
    #[track_caller]
    pub fn scatter_add<D: Dim>(&self, dim: D, idx: &Tensor, src: &Var) -> Result<Var> {
        let d = dim.resolve(self.shape().len(), "scatter_add")?;
        let y = self.value().scatter_add(d, idx, &src.value())?;
        let idx = idx.clone();
        Var::from_op(
            &OpInfo {
                name: "scatter_add", rule: "∂x = g, ∂src = gather(g, dim, idx)", saves: &[Saved::Extra("idx")]
            },
            y,
            &[self, src],
            move |_, _, g| Ok(vec![Some(g.clone()), Some(g.gather(d, &idx)?)]),
        )
    }

    /// Concatenation along `dim` — `∂xᵢ = narrow(g, dim, offsetᵢ, lenᵢ)`.
    #[track_caller]
    pub fn cat<D: Dim>(vars: &[&Var], dim: D) -> Result<Var> {
        let first = vars.first().ok_or_else(|| Error::invalid("cat", "no tensors given"))?;
        let d = dim.resolve(first.shape().len(), "cat")?;
        let values: Vec<Tensor> = vars.iter().map(|v| v.value()).collect();
        let y = Tensor::cat(&values.iter().collect::<Vec<_>>(), d)?;
        let lens: Vec<usize> = vars.iter().map(|v| v.shape()[d]).collect();
        Var::from_op(
            &OpInfo { name: "cat", rule: "∂xᵢ = narrow(g, dim, offsetᵢ, lenᵢ)", saves: &[] },
            y,
            vars,
            move |_, _, g| {
                let mut start = 0;
                let mut grads = Vec::with_capacity(lens.len());
                for &len in &lens {
                    grads.push(Some(g.narrow(d, start, len)?));
                    start += len;
                }
                Ok(grads)
            },
        )
    }

    /// Stacks along a new dim (composite: `unsqueeze` then `cat`).
    #[track_caller]
    pub fn stack<D: Dim>(vars: &[&Var], dim: D) -> Result<Var> {
        let first = vars.first().ok_or_else(|| Error::invalid("stack", "no tensors given"))?;
        let d = dim.resolve(first.shape().len() + 1, "stack")?;
        if let Some(bad) = vars.iter().find(|v| v.shape() != first.shape()) {
            return Err(Error::shape("stack", &[&first.shape(), &bad.shape()], "all tensors must have one shape"));
        }
        let expanded = vars.iter().map(|v| v.unsqueeze(d)).collect::<Result<Vec<_>>>()?;
        Var::cat(&expanded.iter().collect::<Vec<_>>(), d)
    }
}

impl Var {
    /// Embedding lookup (`self` = the table `[num, dim]`, `idx` an `i64` tensor of any shape) →
    /// `idx.shape ++ [dim]`: row `idx[p]` of the table at each position `p`. A composite of
    /// `index_select`, so `∂table = index_add(g)`: each row gets the sum of the gradients of the
    /// positions that looked it up (PyTorch's scatter-add of rows). Positions holding
    /// `padding_idx` read their row but send it no gradient, so a padding row stays as it was
    /// initialised (zero, in the models crate's `Embedding` layer).
    #[track_caller]
    pub fn embedding(&self, idx: &Tensor, padding_idx: Option<usize>) -> Result<Var> {
        let table = self.shape();
        if table.len() != 2 {
            return Err(Error::shape("embedding", &[&table, idx.shape()], "the table must be [num, dim]"));
        }
        let n = idx.numel();
        let rows = self.index_select(0, &idx.reshape(&[n])?)?;
        let rows = match padding_idx {
            Some(pad) => {
                let ids = idx.to_vec::<i64>()?;
                let mask: Vec<f32> = ids.iter().map(|&i| if i == pad as i64 { 1.0 } else { 0.0 }).collect();
                // `where(mask, detached rows, rows)`: the same values, but the rule of `where`
                // sends the padded positions' gradient to the detached copy, i.e. nowhere.
                let mask = Tensor::from_vec(mask, &[n, 1])?.to_device(self.value().device())?;
                Var::where_cond(&mask, &rows.detach(), &rows)?
            }
            None => rows,
        };
        let mut shape = idx.shape().to_vec();
        shape.push(table[1]);
        rows.reshape(&shape)
    }
}
