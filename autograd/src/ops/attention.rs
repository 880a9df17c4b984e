//! Scaled dot-product attention: one fused op with a hand-derived rule, and the same function
//! composed from differentiable ops (whose gradient, and second derivative, come from the rules
//! of `matmul`, `masked_fill` and `softmax`). The two are gradchecked against each other.

use crate::{grad, is_grad_enabled, OpInfo, Saved, Var};
use ferrograd_tensor::{Error, Result, Tensor};

/// `[q, k]` with a 1 where key `j` lies in the future of query `i` (`j > i`): what a causal
/// (autoregressive) model may not attend to. With `q < k` the queries are the *last* `q`
/// positions (as when decoding with a cache of earlier keys).
pub fn causal_mask(q: usize, k: usize) -> Result<Tensor> {
    let shift = k.saturating_sub(q);
    let data: Vec<f32> = (0..q * k).map(|p| if p % k > p / k + shift { 1.0 } else { 0.0 }).collect();
    Tensor::from_vec(data, &[q, k])
}

/// `[B, 1, 1, T]` with a 1 at the padded positions `t ≥ lengths[b]` of each sequence: a key
/// padding mask that broadcasts over heads and queries.
pub fn padding_mask(lengths: &[usize], steps: usize) -> Result<Tensor> {
    let data: Vec<f32> =
        lengths.iter().flat_map(|&len| (0..steps).map(move |t| if t >= len { 1.0 } else { 0.0 })).collect();
    Tensor::from_vec(data, &[lengths.len(), 1, 1, steps])
}

impl Var {
    /// `softmax(q · kᵀ / √d) · v` over the last two dims (`self` = `q [.., Tq, d]`, `k [.., Tk, d]`,
    /// `v [.., Tk, dv]` → `[.., Tq, dv]`; leading dims broadcast, as in `matmul`).
    ///
    /// `mask` (broadcastable to `[.., Tq, Tk]`) is nonzero where a query may *not* attend to a
    /// key — the convention of `masked_fill` and of PyTorch's `key_padding_mask` (PyTorch's
    /// boolean `attn_mask` is the opposite); `causal` adds [`causal_mask`]. Blocked scores become
    /// −∞ before the softmax, so they get weight exactly 0 and no gradient. A query that may attend
    /// to nothing gets NaN, as in PyTorch.
    ///
    /// With `A = softmax(S)` and `S = q·kᵀ/√d`, the rule is `∂v = Aᵀ g`, `∂A = g vᵀ`,
    /// `∂S = A ⊙ (∂A − rowsum(∂A ⊙ A))`, `∂q = ∂S k / √d`, `∂k = ∂Sᵀ q / √d`.
    ///
    /// Without a `mask`, with equal leading dims and all operands on one device, this is one fused op
    /// (`Tensor::attention`) that applies that rule directly and keeps only `A` for the backward
    /// pass. Otherwise — and for a second derivative — it is
    /// [`Var::scaled_dot_product_attention_composed`].
    #[track_caller]
    pub fn scaled_dot_product_attention(&self, k: &Var, v: &Var, mask: Option<&Tensor>, causal: bool) -> Result<Var> {
        let (qs, ks, vs) = check_shapes(self, k, v)?;
        let r = qs.len();
        let fusable = mask.is_none()
            && ks.len() == r
            && vs.len() == r
            && qs[..r - 2] == ks[..r - 2]
            && qs[..r - 2] == vs[..r - 2]
            && !qs.contains(&0)
            && !ks.contains(&0)
            && !vs.contains(&0)
            && [k, v].iter().all(|t| t.value().device() == self.value().device());
        if !fusable {
            return self.scaled_dot_product_attention_composed(k, v, mask, causal);
        }
        let scale = 1.0 / (qs[r - 1] as f64).sqrt();
        let fused = self.value().attention(&k.value(), &v.value(), scale, causal)?;
        let probs = fused.probs;
        Var::from_op(
            &OpInfo {
                name: "attention",
                rule: "∂v = Aᵀg, ∂S = A ⊙ (g·vᵀ − rowsum(g·vᵀ ⊙ A)), ∂q = ∂S·k/√d, ∂k = ∂Sᵀ·q/√d",
                saves: &[Saved::Input(0), Saved::Input(1), Saved::Input(2), Saved::Extra("attention weights A")],
            },
            fused.out,
            &[self, k, v],
            move |x, _, g| {
                if is_grad_enabled() {
                    // A graph of the gradient is wanted (double backward): differentiate the
                    // composed form, whose gradient is made of differentiable ops.
                    let y = x[0].scaled_dot_product_attention_composed(&x[1], &x[2], None, causal)?;
                    return grad(&[&y], &[&x[0], &x[1], &x[2]], &[g], true);
                }
                let grads =
                    x[0].value().attention_backward(&x[1].value(), &x[2].value(), &probs, &g.value(), scale, causal)?;
                Ok(vec![Some(Var::constant(grads.q)), Some(Var::constant(grads.k)), Some(Var::constant(grads.v))])
            },
        )
    }

    /// [`Var::scaled_dot_product_attention`] written with elementary ops, as a textbook does:
    /// scores, scale, masked fill, softmax, product. Any mask, broadcast leading dims.
    #[track_caller]
    pub fn scaled_dot_product_attention_composed(
        &self,
        k: &Var,
        v: &Var,
        mask: Option<&Tensor>,
        causal: bool,
    ) -> Result<Var> {
        let (qs, ks, _) = check_shapes(self, k, v)?;
        let (tq, tk, d) = (qs[qs.len() - 2], ks[ks.len() - 2], qs[qs.len() - 1]);
        let mut scores = self.matmul(&k.transpose(-2, -1)?)?.mul_scalar(1.0 / (d as f64).sqrt())?;
        // Masks are constants made on the host; they go to the scores' device.
        let device = scores.value().device();
        if causal {
            scores = scores.masked_fill(&causal_mask(tq, tk)?.to_device(device)?, f64::NEG_INFINITY)?;
        }
        if let Some(m) = mask {
            scores = scores.masked_fill(&m.to_device(device)?, f64::NEG_INFINITY)?;
        }
        scores.softmax(-1)?.matmul(v)
    }
}

/// Checks `q [.., Tq, d]`, `k [.., Tk, d]`, `v [.., Tk, dv]`; returns the three shapes.
fn check_shapes(q: &Var, k: &Var, v: &Var) -> Result<(Vec<usize>, Vec<usize>, Vec<usize>)> {
    let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
    let ok = qs.len() >= 2
        && ks.len() >= 2
        && vs.len() >= 2
        && qs[qs.len() - 1] == ks[ks.len() - 1]
        && ks[ks.len() - 2] == vs[vs.len() - 2];
    if !ok {
        return Err(Error::shape(
            "scaled_dot_product_attention",
            &[&qs, &ks, &vs],
            "expected q [.., Tq, d], k [.., Tk, d], v [.., Tk, dv]",
        ));
    }
    Ok((qs, ks, vs))
}
