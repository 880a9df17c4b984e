//! Normalisation. Layer norm and batch norm in training mode are each one fused op with a
//! hand-derived rule ([`Var::layer_norm`], [`Var::batch_norm_train`]), and each also exists
//! composed from differentiable reductions ([`Var::layer_norm_composed`],
//! [`Var::batch_norm_composed`]: gradients and second derivatives from the rules of `mean`,
//! `sub`, `mul`, `sqrt` …). The fused rules differentiate the composed forms only when a graph
//! of the gradient is asked for.

use crate::{grad, is_grad_enabled, OpInfo, Saved, Var};
use ferrograd_tensor::{check_layer_norm_shapes, Error, Result, Tensor};

impl Var {
    /// `(x − mean) / √(var + eps)` over the last `normalized.len()` dims, whose sizes must equal
    /// `normalized` (population variance, as `torch.nn.functional.layer_norm`), then the optional
    /// elementwise affine `· weight + bias` (both of shape `normalized`).
    ///
    /// With both `weight` (γ) and `bias` (β), on the CPU, this is one fused op (the `LayerNorm`
    /// layer's case) whose rule, per row of `n` values with `x̂ = (x − μ)·r`, `r = 1/√(σ² + ε)`
    /// and `ĝ = γ·g`, is
    /// ```text
    /// ∂x = r·(ĝ − Σĝ/n − x̂·Σ(ĝ·x̂)/n)      ∂γ = Σ_rows g·x̂      ∂β = Σ_rows g
    /// ```
    /// (batch norm's rule with rows and channels exchanged). Otherwise, and for a second
    /// derivative, it is [`Var::layer_norm_composed`].
    #[track_caller]
    pub fn layer_norm(&self, normalized: &[usize], weight: Option<&Var>, bias: Option<&Var>, eps: f64) -> Result<Var> {
        let (Some(weight), Some(bias)) = (weight, bias) else {
            return self.layer_norm_composed(normalized, weight, bias, eps);
        };
        // The fused kernels (CPU and CUDA) need rows of at least one value, and operands on one
        // device (the composed form reports a mismatch).
        let device = self.value().device();
        if self.value().numel() == 0 || [weight, bias].iter().any(|t| t.value().device() != device) {
            return self.layer_norm_composed(normalized, Some(weight), Some(bias), eps);
        }
        let out = self.value().layer_norm(normalized, &weight.value(), &bias.value(), eps)?;
        let (mean, rstd, normalized) = (out.mean, out.rstd, normalized.to_vec());
        Var::from_op(
            &OpInfo {
                name: "layer_norm",
                rule: "∂x = r·(ĝ − Σĝ/n − x̂·Σĝx̂/n) with ĝ = γ·g, ∂γ = Σ g·x̂, ∂β = Σ g",
                saves: &[Saved::Input(0), Saved::Input(1), Saved::Extra("row mean, 1/std")],
            },
            out.y,
            &[self, weight, bias],
            move |v, _, g| {
                if is_grad_enabled() {
                    // Double backward: differentiate the composed form.
                    let y = v[0].layer_norm_composed(&normalized, Some(&v[1]), Some(&v[2]), eps)?;
                    return grad(&[&y], &[&v[0], &v[1], &v[2]], &[g], true);
                }
                let grads = v[0].value().layer_norm_backward(&g.value(), &normalized, &v[1].value(), &mean, &rstd)?;
                Ok(vec![
                    Some(Var::constant(grads.input)),
                    Some(Var::constant(grads.weight)),
                    Some(Var::constant(grads.bias)),
                ])
            },
        )
    }

    /// [`Var::layer_norm`] written with elementary ops, as a textbook derives it: `standardize`
    /// over the trailing dims, then `· weight + bias`.
    #[track_caller]
    pub fn layer_norm_composed(
        &self,
        normalized: &[usize],
        weight: Option<&Var>,
        bias: Option<&Var>,
        eps: f64,
    ) -> Result<Var> {
        let s = self.shape();
        let params: Vec<Vec<usize>> = [weight, bias].into_iter().flatten().map(|p| p.shape()).collect();
        check_layer_norm_shapes("layer_norm", &s, normalized, &params.iter().map(Vec::as_slice).collect::<Vec<_>>())?;
        let dims: Vec<usize> = (s.len() - normalized.len()..s.len()).collect();
        let mut y = self.standardize(&dims, eps)?;
        if let Some(w) = weight {
            y = y.mul(w)?;
        }
        if let Some(b) = bias {
            y = y.add(b)?;
        }
        Ok(y)
    }

    /// `(x − mean) / √(var + eps)` with mean and population variance over `dims` (kept).
    #[track_caller]
    pub fn standardize(&self, dims: &[usize], eps: f64) -> Result<Var> {
        let centred = self.sub(&self.mean(dims, true)?)?;
        let var = centred.mul(&centred)?.mean(dims, true)?;
        centred.div(&var.add_scalar(eps)?.sqrt()?)
    }
}

impl Var {
    /// Training-mode batch normalisation of `[N, C, ...]` over every dim but the channels, as
    /// one op: `y = γ·x̂ + β` with `x̂ = (x − μ)/√(σ² + ε)`, the batch's per-channel mean `μ` and
    /// population variance `σ²` (returned beside `y`, for the running statistics). `weight`
    /// (γ) and `bias` (β) are `[C]`.
    ///
    /// Rule, with `g = ∂L/∂y`, `M` values per channel and `r = 1/√(σ² + ε)`:
    /// ```text
    /// ∂β = Σ g        ∂γ = Σ g·x̂        ∂x = γ·r·(g − ∂β/M − x̂·∂γ/M)
    /// ```
    /// `∂x` has three terms because `x` reaches `y` three ways: directly (`r·g`), through the
    /// mean (each value moves `μ` by `1/M`) and through the variance (by `2(x − μ)/M`).
    /// [`Var::batch_norm_composed`] is the same function written with elementary ops; the two
    /// are gradchecked against each other, and with `create_graph` the rule differentiates it.
    #[track_caller]
    pub fn batch_norm_train(&self, weight: &Var, bias: &Var, eps: f64) -> Result<(Var, Tensor, Tensor)> {
        let out = self.value().batch_norm_train(&weight.value(), &bias.value(), eps)?;
        let (mean, var) = (out.mean.clone(), out.var.clone());
        let y = Var::from_op(
            &OpInfo {
                name: "batch_norm",
                rule: "∂β = Σg, ∂γ = Σg·x̂, ∂x = γ·r·(g − ∂β/M − x̂·∂γ/M)",
                saves: &[Saved::Input(0), Saved::Input(1), Saved::Extra("mean, var")],
            },
            out.y,
            &[self, weight, bias],
            move |v, _, g| {
                if is_grad_enabled() {
                    // A graph of the gradient is wanted (double backward): differentiate the
                    // composed form, whose gradient is made of differentiable ops.
                    let y = v[0].batch_norm_composed(&v[1], &v[2], eps)?;
                    return grad(&[&y], &[&v[0], &v[1], &v[2]], &[g], true);
                }
                let grads = v[0].value().batch_norm_backward(&g.value(), &v[1].value(), &mean, &var, eps)?;
                Ok(vec![
                    Some(Var::constant(grads.input)),
                    Some(Var::constant(grads.weight)),
                    Some(Var::constant(grads.bias)),
                ])
            },
        )?;
        Ok((y, out.mean, out.var))
    }

    /// [`Var::batch_norm_train`]'s output written with elementary ops, as a textbook derives
    /// it: `standardize` over every dim but 1, then `· γ + β` broadcast over the channels.
    #[track_caller]
    pub fn batch_norm_composed(&self, weight: &Var, bias: &Var, eps: f64) -> Result<Var> {
        let s = self.shape();
        if s.len() < 2 || weight.shape() != [s[1]] || bias.shape() != [s[1]] {
            return Err(Error::shape(
                "batch_norm",
                &[&s, &weight.shape(), &bias.shape()],
                "expected an input [N, C, ...] with weight and bias [C]",
            ));
        }
        let dims: Vec<usize> = (0..s.len()).filter(|&d| d != 1).collect();
        let mut stat_shape = vec![1; s.len()];
        stat_shape[1] = s[1];
        self.standardize(&dims, eps)?.mul(&weight.reshape(&stat_shape)?)?.add(&bias.reshape(&stat_shape)?)
    }
}
