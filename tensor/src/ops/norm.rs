//! Batch normalisation in training mode and layer normalisation, fused: the statistics, the
//! normalised output and the hand-derived gradients in a few passes (see
//! `ferrograd_kernels::norm`).

use crate::pool::written_by;
use crate::tensor::with_float;
use crate::{Error, Result, Tensor};
use ferrograd_kernels::norm::{
    batch_norm_backward, batch_norm_forward, layer_norm_backward, layer_norm_forward, ChannelLayout,
};

/// The values a training-mode batch norm produces: the output and the batch's per-channel
/// statistics (which the backward pass and the running averages need).
#[derive(Clone, Debug)]
pub struct BatchNormOutput {
    /// `γ·(x − μ)/√(σ² + ε) + β`, the input's shape.
    pub y: Tensor,
    /// The per-channel mean `μ`, `[C]`.
    pub mean: Tensor,
    /// The per-channel population variance `σ²`, `[C]`.
    pub var: Tensor,
}

/// The gradients of a training-mode batch norm.
#[derive(Clone, Debug)]
pub struct BatchNormGrads {
    /// `∂x`, the input's shape.
    pub input: Tensor,
    /// `∂γ`, `[C]`.
    pub weight: Tensor,
    /// `∂β`, `[C]`.
    pub bias: Tensor,
}

/// The values a layer norm produces.
#[derive(Clone, Debug)]
pub struct LayerNormOutput {
    /// `γ·(x − μ)·r + β`, the input's shape.
    pub y: Tensor,
    /// Each row's mean `μ`, the input's shape without the normalised dims.
    pub mean: Tensor,
    /// Each row's `r = 1/√(σ² + ε)`, shaped as `mean`.
    pub rstd: Tensor,
}

/// The gradients of a layer norm.
#[derive(Clone, Debug)]
pub struct LayerNormGrads {
    /// `∂x`, the input's shape.
    pub input: Tensor,
    /// `∂γ`, the normalised shape.
    pub weight: Tensor,
    /// `∂β`, the normalised shape.
    pub bias: Tensor,
}

impl Tensor {
    /// The `[N, C, S]` layout of a `[N, C, ...]` input, after checking that the per-channel
    /// tensors are `[C]`.
    fn channel_layout(&self, op: &'static str, per_channel: &[&Tensor]) -> Result<ChannelLayout> {
        let s = self.shape();
        if s.len() < 2 {
            return Err(Error::shape(op, &[s], "expected an input [N, C, ...]"));
        }
        for t in per_channel {
            self.same_kind(t, op)?;
            if t.shape() != [s[1]] {
                return Err(Error::shape(op, &[s, t.shape()], format!("per-channel tensors must be [{}]", s[1])));
            }
        }
        Ok(ChannelLayout { n: s[0], c: s[1], s: s[2..].iter().product() })
    }

    /// Training-mode batch normalisation of `[N, C, ...]` over every dim but the channels
    /// (dim 1), as `torch.nn.functional.batch_norm(training=True)`: `y = γ·(x − μ)/√(σ² + ε) + β`
    /// with the batch's per-channel mean `μ` and population variance `σ²`, returned beside `y`.
    pub fn batch_norm_train(&self, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<BatchNormOutput> {
        let op = "batch_norm";
        let lay = self.channel_layout(op, &[weight, bias])?;
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let (x, w, b) = (self.gpu_exact(op)?, weight.gpu_exact(op)?, bias.gpu_exact(op)?);
            return with_float!(self, op, |T| {
                let (y, mean, var) = ferrograd_kernels::norm::cuda::batch_norm_forward(
                    x.gpu_buffer::<T>(op)?,
                    lay,
                    w.gpu_buffer::<T>(op)?,
                    b.gpu_buffer::<T>(op)?,
                    eps,
                )
                .map_err(crate::cuda::gpu_err(op))?;
                Ok(BatchNormOutput {
                    y: Tensor::from_gpu(y, self.shape().to_vec()),
                    mean: Tensor::from_gpu(mean, vec![lay.c]),
                    var: Tensor::from_gpu(var, vec![lay.c]),
                })
            });
        }
        with_float!(self, op, |T| {
            let x = self.dense_data::<T>(op)?;
            let (gamma, beta) = (weight.dense_data::<T>(op)?, bias.dense_data::<T>(op)?);
            let (mut mean, mut var) = (vec![0 as T; lay.c], vec![0 as T; lay.c]);
            let y = written_by(lay.len(), |y| batch_norm_forward(&x, lay, &gamma, &beta, eps, y, &mut mean, &mut var));
            Ok(BatchNormOutput {
                y: Tensor::dense(y, self.shape().to_vec()),
                mean: Tensor::dense(mean, vec![lay.c]),
                var: Tensor::dense(var, vec![lay.c]),
            })
        })
    }

    /// The gradients of [`Tensor::batch_norm_train`] at input `self`, given the output gradient
    /// `grad` and the saved batch `mean` and `var`: `∂β = Σ g`, `∂γ = Σ g·x̂`,
    /// `∂x = γ/√(σ² + ε)·(g − ∂β/M − x̂·∂γ/M)` with `x̂` the normalised input and `M` the
    /// number of values per channel.
    pub fn batch_norm_backward(
        &self,
        grad: &Tensor,
        weight: &Tensor,
        mean: &Tensor,
        var: &Tensor,
        eps: f64,
    ) -> Result<BatchNormGrads> {
        let op = "batch_norm_backward";
        let lay = self.channel_layout(op, &[weight, mean, var])?;
        self.same_kind(grad, op)?;
        if grad.shape() != self.shape() {
            return Err(Error::shape(op, &[self.shape(), grad.shape()], "the gradient must have the input's shape"));
        }
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let (x, g) = (self.gpu_exact(op)?, grad.gpu_exact(op)?);
            let (w, m, v) = (weight.gpu_exact(op)?, mean.gpu_exact(op)?, var.gpu_exact(op)?);
            return with_float!(self, op, |T| {
                let (gx, gw, gb) = ferrograd_kernels::norm::cuda::batch_norm_backward(
                    x.gpu_buffer::<T>(op)?,
                    g.gpu_buffer::<T>(op)?,
                    lay,
                    w.gpu_buffer::<T>(op)?,
                    m.gpu_buffer::<T>(op)?,
                    v.gpu_buffer::<T>(op)?,
                    eps,
                )
                .map_err(crate::cuda::gpu_err(op))?;
                Ok(BatchNormGrads {
                    input: Tensor::from_gpu(gx, self.shape().to_vec()),
                    weight: Tensor::from_gpu(gw, vec![lay.c]),
                    bias: Tensor::from_gpu(gb, vec![lay.c]),
                })
            });
        }
        with_float!(self, op, |T| {
            let (x, g) = (self.dense_data::<T>(op)?, grad.dense_data::<T>(op)?);
            let stats = [weight.dense_data::<T>(op)?, mean.dense_data::<T>(op)?, var.dense_data::<T>(op)?];
            let (mut gw, mut gb) = (vec![0 as T; lay.c], vec![0 as T; lay.c]);
            let gx = written_by(lay.len(), |gx| {
                batch_norm_backward(&x, &g, lay, [&stats[0], &stats[1], &stats[2]], eps, gx, &mut gw, &mut gb)
            });
            Ok(BatchNormGrads {
                input: Tensor::dense(gx, self.shape().to_vec()),
                weight: Tensor::dense(gw, vec![lay.c]),
                bias: Tensor::dense(gb, vec![lay.c]),
            })
        })
    }
}

/// Checks a layer norm's shapes: the input's trailing dims equal `normalized` (non-empty), and
/// each parameter (weight, bias) has the normalised shape. Shared by the fused op and the
/// composed form (`Var::layer_norm_composed`), so both reject the same inputs the same way.
pub fn check_layer_norm_shapes(
    op: &'static str,
    input: &[usize],
    normalized: &[usize],
    params: &[&[usize]],
) -> Result<()> {
    if normalized.is_empty() || normalized.len() > input.len() || input[input.len() - normalized.len()..] != *normalized
    {
        return Err(Error::shape(op, &[input, normalized], "the trailing dims must equal the normalized shape"));
    }
    if let Some(bad) = params.iter().find(|p| **p != normalized) {
        return Err(Error::shape(op, &[bad, normalized], "weight and bias must have the normalized shape"));
    }
    Ok(())
}

impl Tensor {
    /// Checks the shapes ([`check_layer_norm_shapes`]) and that the parameters are of this
    /// tensor's kind; returns the row length `n` (positive).
    fn layer_norm_row(&self, normalized: &[usize], params: &[&Tensor], op: &'static str) -> Result<usize> {
        let shapes: Vec<&[usize]> = params.iter().map(|p| p.shape()).collect();
        check_layer_norm_shapes(op, self.shape(), normalized, &shapes)?;
        for p in params {
            self.same_kind(p, op)?;
        }
        let n: usize = normalized.iter().product();
        if n == 0 {
            return Err(Error::shape(op, &[self.shape(), normalized], "the normalized shape has no elements"));
        }
        Ok(n)
    }

    /// Layer normalisation over the trailing dims `normalized`, as
    /// `torch.nn.functional.layer_norm`: each row `x` of those dims becomes
    /// `γ·(x − μ)/√(σ² + ε) + β` with its own mean `μ` and population variance `σ²`; `weight`
    /// (γ) and `bias` (β) have the normalised shape. Returns the row statistics beside `y`.
    pub fn layer_norm(
        &self,
        normalized: &[usize],
        weight: &Tensor,
        bias: &Tensor,
        eps: f64,
    ) -> Result<LayerNormOutput> {
        let op = "layer_norm";
        let n = self.layer_norm_row(normalized, &[weight, bias], op)?;
        let stat_shape = self.shape()[..self.rank() - normalized.len()].to_vec();
        let rows = self.numel() / n;
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let (x, w, b) = (self.gpu_exact(op)?, weight.gpu_exact(op)?, bias.gpu_exact(op)?);
            return with_float!(self, op, |T| {
                let (y, mean, rstd) = ferrograd_kernels::norm::cuda::layer_norm_forward(
                    x.gpu_buffer::<T>(op)?,
                    n,
                    w.gpu_buffer::<T>(op)?,
                    b.gpu_buffer::<T>(op)?,
                    eps,
                )
                .map_err(crate::cuda::gpu_err(op))?;
                debug_assert_eq!(rows, mean.len());
                Ok(LayerNormOutput {
                    y: Tensor::from_gpu(y, self.shape().to_vec()),
                    mean: Tensor::from_gpu(mean, stat_shape.clone()),
                    rstd: Tensor::from_gpu(rstd, stat_shape),
                })
            });
        }
        with_float!(self, op, |T| {
            let x = self.dense_data::<T>(op)?;
            let (w, b) = (weight.dense_data::<T>(op)?, bias.dense_data::<T>(op)?);
            let (mut mean, mut rstd) = (vec![0 as T; rows], vec![0 as T; rows]);
            let y = written_by(x.len(), |y| layer_norm_forward(&x, n, [&w, &b], eps, y, &mut mean, &mut rstd));
            Ok(LayerNormOutput {
                y: Tensor::dense(y, self.shape().to_vec()),
                mean: Tensor::dense(mean, stat_shape.clone()),
                rstd: Tensor::dense(rstd, stat_shape),
            })
        })
    }

    /// The gradients of [`Tensor::layer_norm`] at input `self`, given the output gradient `grad`
    /// and the saved row `mean` and `rstd`: with `x̂ = (x − μ)·r` and `ĝ = γ·g`,
    /// `∂x = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))` per row, `∂γ = Σ g·x̂`, `∂β = Σ g` over rows.
    pub fn layer_norm_backward(
        &self,
        grad: &Tensor,
        normalized: &[usize],
        weight: &Tensor,
        mean: &Tensor,
        rstd: &Tensor,
    ) -> Result<LayerNormGrads> {
        let op = "layer_norm_backward";
        let n = self.layer_norm_row(normalized, &[weight], op)?;
        let stat_shape = &self.shape()[..self.rank() - normalized.len()];
        for t in [grad, mean, rstd] {
            self.same_kind(t, op)?;
        }
        if grad.shape() != self.shape() || mean.shape() != stat_shape || rstd.shape() != stat_shape {
            return Err(Error::shape(
                op,
                &[self.shape(), grad.shape(), mean.shape(), rstd.shape()],
                "expected the gradient in the input's shape and the statistics in its leading shape",
            ));
        }
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let (x, g, w) = (self.gpu_exact(op)?, grad.gpu_exact(op)?, weight.gpu_exact(op)?);
            let (m, r) = (mean.gpu_exact(op)?, rstd.gpu_exact(op)?);
            return with_float!(self, op, |T| {
                let (gx, gw, gb) = ferrograd_kernels::norm::cuda::layer_norm_backward(
                    x.gpu_buffer::<T>(op)?,
                    g.gpu_buffer::<T>(op)?,
                    n,
                    w.gpu_buffer::<T>(op)?,
                    m.gpu_buffer::<T>(op)?,
                    r.gpu_buffer::<T>(op)?,
                )
                .map_err(crate::cuda::gpu_err(op))?;
                Ok(LayerNormGrads {
                    input: Tensor::from_gpu(gx, self.shape().to_vec()),
                    weight: Tensor::from_gpu(gw, normalized.to_vec()),
                    bias: Tensor::from_gpu(gb, normalized.to_vec()),
                })
            });
        }
        with_float!(self, op, |T| {
            let (x, g) = (self.dense_data::<T>(op)?, grad.dense_data::<T>(op)?);
            let (w, m, r) = (weight.dense_data::<T>(op)?, mean.dense_data::<T>(op)?, rstd.dense_data::<T>(op)?);
            let (mut gw, mut gb) = (vec![0 as T; n], vec![0 as T; n]);
            let gx = written_by(x.len(), |gx| layer_norm_backward(&x, &g, n, [&w, &m, &r], gx, &mut gw, &mut gb));
            Ok(LayerNormGrads {
                input: Tensor::dense(gx, self.shape().to_vec()),
                weight: Tensor::dense(gw, normalized.to_vec()),
                bias: Tensor::dense(gb, normalized.to_vec()),
            })
        })
    }
}
