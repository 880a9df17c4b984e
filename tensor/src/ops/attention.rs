//! Scaled dot-product attention as one fused op per head (see `ferrograd_kernels::attention`):
//! the forward pass returns the attention weights beside the output, and the backward pass
//! takes them back.

use super::matmul::layout;
use crate::pool::written_by;
use crate::tensor::with_float;
use crate::{Element, Error, Result, Tensor};
use ferrograd_kernels::attention::{attention_backward, attention_forward, AttentionInputs, AttentionSizes};
use ferrograd_kernels::matmul::MatrixLayout;

/// The values a fused attention produces.
#[derive(Clone, Debug)]
pub struct AttentionOutput {
    /// `softmax(c·q·kᵀ)·v`, `[.., tq, dv]`.
    pub out: Tensor,
    /// The attention weights `P = softmax(c·q·kᵀ)`, `[.., tq, tk]` (0 at hidden keys).
    pub probs: Tensor,
}

/// The gradients of a fused attention, each of its input's shape.
#[derive(Clone, Debug)]
pub struct AttentionGrads {
    /// `∂q`.
    pub q: Tensor,
    /// `∂k`.
    pub k: Tensor,
    /// `∂v`.
    pub v: Tensor,
}

impl Tensor {
    /// Checks `q = self [.., tq, d]`, `k [.., tk, d]`, `v [.., tk, dv]` with equal leading dims
    /// and positive sizes, and a positive finite `scale`; returns the leading dims and sizes.
    fn attention_sizes(
        &self,
        k: &Tensor,
        v: &Tensor,
        scale: f64,
        causal: bool,
        op: &'static str,
    ) -> Result<(Vec<usize>, AttentionSizes)> {
        self.same_kind(k, op)?;
        self.same_kind(v, op)?;
        let (qs, ks, vs) = (self.shape(), k.shape(), v.shape());
        let r = qs.len();
        let ok = r >= 2
            && ks.len() == r
            && vs.len() == r
            && qs[..r - 2] == ks[..r - 2]
            && qs[..r - 2] == vs[..r - 2]
            && qs[r - 1] == ks[r - 1]
            && ks[r - 2] == vs[r - 2];
        if !ok {
            return Err(Error::shape(
                op,
                &[qs, ks, vs],
                "expected q [.., tq, d], k [.., tk, d], v [.., tk, dv] with the same leading dims",
            ));
        }
        if qs.contains(&0) || ks.contains(&0) || vs.contains(&0) {
            return Err(Error::shape(op, &[qs, ks, vs], "every size must be positive"));
        }
        if !(scale > 0.0 && scale.is_finite()) {
            return Err(Error::invalid(op, format!("the scale {scale} must be positive and finite")));
        }
        let lead = qs[..r - 2].to_vec();
        let sizes = AttentionSizes {
            batch: lead.iter().product(),
            tq: qs[r - 2],
            tk: ks[r - 2],
            d: qs[r - 1],
            dv: vs[r - 1],
            scale,
            causal,
        };
        Ok((lead, sizes))
    }

    /// Scaled dot-product attention of the queries `self [.., tq, d]` to `k [.., tk, d]` and
    /// `v [.., tk, dv]` (equal leading dims, e.g. `[batch, heads]`): `P = softmax(scale·q·kᵀ)`
    /// over the keys, then `P·v`. With `causal`, query `i` sees only keys `j ≤ i + tk − tq`.
    /// Operands are read through their strides (heads split from `[B, T, H, d]` need no copy).
    pub fn attention(&self, k: &Tensor, v: &Tensor, scale: f64, causal: bool) -> Result<AttentionOutput> {
        let op = "attention";
        let (lead, s) = self.attention_sizes(k, v, scale, causal, op)?;
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            return gpu_attention(self, k, v, &lead, &s);
        }
        with_float!(self, op, |T| {
            let layouts = [self, k, v].map(|t| layout(t, &lead));
            let inputs = attention_inputs::<T>([self, k, v], &layouts, op)?;
            let mut probs = None;
            let out = written_by(s.batch * s.tq * s.dv, |out| {
                probs = Some(written_by(s.batch * s.tq * s.tk, |p| attention_forward(&s, &inputs, out, p)));
            });
            let probs = probs.expect("written_by runs its writer");
            Ok(AttentionOutput {
                out: Tensor::dense(out, [lead.as_slice(), &[s.tq, s.dv]].concat()),
                probs: Tensor::dense(probs, [lead.as_slice(), &[s.tq, s.tk]].concat()),
            })
        })
    }

    /// The gradients of [`Tensor::attention`] at `q = self`, `k`, `v`, given its weights
    /// `probs` and the output gradient `grad`: `∂v = Pᵀ·g`, `∂S = P ⊙ (g·vᵀ − rowsum(g·vᵀ ⊙ P))`,
    /// `∂q = scale·∂S·k`, `∂k = scale·∂Sᵀ·q`.
    pub fn attention_backward(
        &self,
        k: &Tensor,
        v: &Tensor,
        probs: &Tensor,
        grad: &Tensor,
        scale: f64,
        causal: bool,
    ) -> Result<AttentionGrads> {
        let op = "attention_backward";
        let (lead, s) = self.attention_sizes(k, v, scale, causal, op)?;
        self.same_kind(probs, op)?;
        self.same_kind(grad, op)?;
        let (p_shape, g_shape) = ([lead.as_slice(), &[s.tq, s.tk]].concat(), [lead.as_slice(), &[s.tq, s.dv]].concat());
        if probs.shape() != p_shape || grad.shape() != g_shape {
            return Err(Error::shape(
                op,
                &[probs.shape(), grad.shape(), &p_shape, &g_shape],
                "the weights and the output gradient must have the forward pass's shapes",
            ));
        }
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            return gpu_attention_backward([self, k, v], probs, grad, &s);
        }
        with_float!(self, op, |T| {
            let layouts = [self, k, v].map(|t| layout(t, &lead));
            let inputs = attention_inputs::<T>([self, k, v], &layouts, op)?;
            let (p, g) = (probs.dense_data::<T>(op)?, grad.dense_data::<T>(op)?);
            let (mut gk, mut gv) = (None, None);
            let gq = written_by(s.batch * s.tq * s.d, |gq| {
                gk = Some(written_by(s.batch * s.tk * s.d, |gk| {
                    gv = Some(written_by(s.batch * s.tk * s.dv, |gv| {
                        attention_backward(&s, &inputs, &p, &g, gq, gk, gv)
                    }));
                }));
            });
            let missing = "written_by runs its writer";
            Ok(AttentionGrads {
                q: Tensor::dense(gq, self.shape().to_vec()),
                k: Tensor::dense(gk.expect(missing), k.shape().to_vec()),
                v: Tensor::dense(gv.expect(missing), v.shape().to_vec()),
            })
        })
    }
}

/// The kernels' view of `q, k, v`: each buffer beside its heads' layout.
fn attention_inputs<'a, T: Element>(
    [q, k, v]: [&'a Tensor; 3],
    [ql, kl, vl]: &'a [MatrixLayout; 3],
    op: &'static str,
) -> Result<AttentionInputs<'a, T>> {
    Ok(AttentionInputs { q: (q.buffer::<T>(op)?, ql), k: (k.buffer::<T>(op)?, kl), v: (v.buffer::<T>(op)?, vl) })
}

// ------------------------------------------------------------------------------ CUDA

/// [`Tensor::attention`] on a GPU: the fused forward kernel on dense copies of the operands,
/// or, when a row of scores does not fit in a block's shared memory, the same values from GEMM
/// and softmax kernels (scores, causal mask, softmax, mixing).
#[cfg(feature = "cuda")]
fn gpu_attention(q: &Tensor, k: &Tensor, v: &Tensor, lead: &[usize], s: &AttentionSizes) -> Result<AttentionOutput> {
    use ferrograd_kernels::attention::cuda;
    let op = "attention";
    let (out_shape, p_shape) = ([lead, &[s.tq, s.dv]].concat(), [lead, &[s.tq, s.tk]].concat());
    let fits = with_float!(q, op, |T| Ok(cuda::fits::<T>(s)))?;
    if !fits {
        let [q3, k3, v3] =
            [(q, s.tq, s.d), (k, s.tk, s.d), (v, s.tk, s.dv)].map(|(t, rows, cols)| t.reshape(&[s.batch, rows, cols]));
        let scores = q3?.matmul(&k3?.transpose(1, 2)?)?.mul_scalar(s.scale)?;
        let scores = if s.causal {
            // Query i sees keys j ≤ i + max(tk − tq, 0).
            let hidden: Vec<f32> =
                (0..s.tq * s.tk).map(|e| f32::from(e % s.tk > e / s.tk + s.tk.saturating_sub(s.tq))).collect();
            let mask = Tensor::from_vec(hidden, &[s.tq, s.tk])?.to_device(q.device())?;
            scores.masked_fill(&mask, f64::NEG_INFINITY)?
        } else {
            scores
        };
        let probs = scores.softmax(-1)?;
        let out = probs.matmul(&v3?)?;
        return Ok(AttentionOutput { out: out.reshape(&out_shape)?, probs: probs.reshape(&p_shape)? });
    }
    let (qd, kd, vd) = (q.gpu_contiguous(false)?, k.gpu_contiguous(false)?, v.gpu_contiguous(false)?);
    with_float!(q, op, |T| {
        let (out, probs) =
            cuda::attention_forward(s, qd.gpu_buffer::<T>(op)?, kd.gpu_buffer::<T>(op)?, vd.gpu_buffer::<T>(op)?)
                .map_err(crate::cuda::gpu_err(op))?;
        Ok(AttentionOutput { out: Tensor::from_gpu(out, out_shape), probs: Tensor::from_gpu(probs, p_shape) })
    })
}

/// [`Tensor::attention_backward`] on a GPU, from GEMM, elementwise and reduction kernels:
/// `∂v = Pᵀ·g`, `∂S = P ⊙ (g·vᵀ − rowsum(g·vᵀ ⊙ P))`, `∂q = scale·∂S·k`, `∂k = scale·∂Sᵀ·q`.
#[cfg(feature = "cuda")]
fn gpu_attention_backward(
    [q, k, v]: [&Tensor; 3],
    probs: &Tensor,
    grad: &Tensor,
    s: &AttentionSizes,
) -> Result<AttentionGrads> {
    let three = |t: &Tensor, rows: usize, cols: usize| t.reshape(&[s.batch, rows, cols]);
    let (q3, k3, v3) = (three(q, s.tq, s.d)?, three(k, s.tk, s.d)?, three(v, s.tk, s.dv)?);
    let (p, g) = (three(probs, s.tq, s.tk)?, three(grad, s.tq, s.dv)?);
    let gv = p.transpose(1, 2)?.matmul(&g)?;
    let gp = g.matmul(&v3.transpose(1, 2)?)?;
    let row = gp.mul(&p)?.sum(vec![2usize], true)?;
    let ds = p.mul(&gp.sub(&row)?)?;
    let gq = ds.matmul(&k3)?.mul_scalar(s.scale)?;
    let gk = ds.transpose(1, 2)?.matmul(&q3)?.mul_scalar(s.scale)?;
    Ok(AttentionGrads { q: gq.reshape(q.shape())?, k: gk.reshape(k.shape())?, v: gv.reshape(v.shape())? })
}
