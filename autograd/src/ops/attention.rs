//! Scaled dot-product attention, composed from differentiable ops (so its gradient, and its
//! second derivative, come from the rules of `matmul`, `where` and `softmax`).

use crate::Var;
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
    /// Its gradient is that of its parts: with `A = softmax(S)`, `∂v = Aᵀ g`, `∂A = g vᵀ`,
    /// `∂S = A ⊙ (∂A − rowsum(∂A ⊙ A))`, `∂q = ∂S k / √d`, `∂k = ∂Sᵀ q / √d`.
    #[track_caller]
    pub fn scaled_dot_product_attention(&self, k: &Var, v: &Var, mask: Option<&Tensor>, causal: bool) -> Result<Var> {
        let (qs, ks, vs) = (self.shape(), k.shape(), v.shape());
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
        let (tq, tk, d) = (qs[qs.len() - 2], ks[ks.len() - 2], qs[qs.len() - 1]);
        let mut scores = self.matmul(&k.transpose(-2, -1)?)?.mul_scalar(1.0 / (d as f64).sqrt())?;
        if causal {
            scores = scores.masked_fill(&causal_mask(tq, tk)?, f64::NEG_INFINITY)?;
        }
        if let Some(m) = mask {
            scores = scores.masked_fill(m, f64::NEG_INFINITY)?;
        }
        scores.softmax(-1)?.matmul(v)
    }
}
