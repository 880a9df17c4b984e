//! Matrix products: 2-D, and batched N-D with broadcast batch dimensions (as `torch.matmul`).

use crate::pool::written_by;
use crate::tensor::with_float;
use crate::{broadcast_shapes, Error, Result, Tensor};
use ferrograd_kernels::matmul::{matmul, matmul_bias, matmul_sum, MatrixLayout};

/// The operands of a batched product, checked and broadcast to one batch shape.
struct Operands {
    m: usize,
    k: usize,
    n: usize,
    batch: Vec<usize>,
    lhs: Tensor,
    rhs: Tensor,
}

impl Operands {
    /// Checks `[.., m, k] @ [.., k, n]` and broadcasts both batch shapes to one.
    fn new(a: &Tensor, b: &Tensor, op: &'static str) -> Result<Operands> {
        a.same_kind(b, op)?;
        let (sa, sb) = (&a.shape, &b.shape);
        if sa.len() < 2 || sb.len() < 2 {
            return Err(Error::shape(op, &[sa, sb], "both operands need at least 2 dimensions"));
        }
        let (m, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
        let (k2, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
        if k != k2 {
            return Err(Error::shape(op, &[sa, sb], format!("inner dims {k} != {k2}")));
        }
        let batch = broadcast_shapes(op, &sa[..sa.len() - 2], &sb[..sb.len() - 2])
            .map_err(|_| Error::shape(op, &[sa, sb], "batch dimensions do not broadcast"))?;
        let lhs = a.expand(&[batch.as_slice(), &[m, k]].concat())?;
        let rhs = b.expand(&[batch.as_slice(), &[k, n]].concat())?;
        Ok(Operands { m, k, n, batch, lhs, rhs })
    }
}

impl Tensor {
    /// `self @ rhs`. Both operands need at least 2 dimensions: the last two are the matrices
    /// (`[.., m, k] @ [.., k, n] → [.., m, n]`) and the leading ones broadcast. Transposed or
    /// sliced operands are read in place through their strides; nothing is copied unless a
    /// batch dimension cannot be expressed as one stride (then that operand is made contiguous).
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        let Operands { m, k, n, batch, lhs, rhs } = Operands::new(self, rhs, "matmul")?;
        let out_shape = [batch.as_slice(), &[m, n]].concat();
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            return gpu_matmul("matmul", (m, k, n), &batch, &lhs, &rhs, None)?.reshape(&out_shape);
        }
        with_float!(self, "matmul", |T| {
            let (la, lb) = (layout(&lhs, &batch), layout(&rhs, &batch));
            let (ba, bb) = (lhs.buffer::<T>("matmul")?, rhs.buffer::<T>("matmul")?);
            let out = written_by(out_shape.iter().product(), |out| matmul(m, k, n, ba, &la, bb, &lb, out));
            Ok(Tensor::dense(out, out_shape))
        })
    }

    /// `self @ rhs + bias`, with `bias` `[n]` added to every row of every product: a linear
    /// layer's `x · Wᵀ + b` (PyTorch's `addmm`). The same values as `self.matmul(rhs)?.add(bias)`,
    /// but the bias goes into each block of the output while the product still has it in cache,
    /// and no second `[.., m, n]` tensor is made.
    pub fn matmul_bias(&self, rhs: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let op = "matmul_bias";
        let Operands { m, k, n, batch, lhs, rhs } = Operands::new(self, rhs, op)?;
        self.same_kind(bias, op)?;
        if bias.shape != [n] {
            return Err(Error::shape(
                op,
                &[&self.shape, &rhs.shape[batch.len()..], &bias.shape],
                format!("the bias must be [{n}], one value per column of the product"),
            ));
        }
        let out_shape = [batch.as_slice(), &[m, n]].concat();
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            return gpu_matmul(op, (m, k, n), &batch, &lhs, &rhs, Some(bias))?.reshape(&out_shape);
        }
        with_float!(self, op, |T| {
            let (la, lb) = (layout(&lhs, &batch), layout(&rhs, &batch));
            let (ba, bb, bias) = (lhs.buffer::<T>(op)?, rhs.buffer::<T>(op)?, bias.dense_data::<T>(op)?);
            let out =
                written_by(out_shape.iter().product(), |out| matmul_bias(m, k, n, ba, &la, bb, &lb, Some(&bias), out));
            Ok(Tensor::dense(out, out_shape))
        })
    }

    /// `self @ rhs` summed over leading batch dimensions down to the batch shape `batch`: the
    /// result is `batch ++ [m, n]`, equal to `(self @ rhs).sum_to_shape(...)` but without storing
    /// the per-entry products. `batch`, without its leading 1s, must be the trailing part of the
    /// product's broadcast batch shape (the dims summed over are the leading ones). This is the
    /// gradient of a matmul operand that was broadcast over those dims.
    pub fn matmul_summed_to(&self, rhs: &Tensor, batch: &[usize]) -> Result<Tensor> {
        let op = "matmul_summed_to";
        let Operands { m, k, n, batch: product_batch, lhs, rhs: rhs_b } = Operands::new(self, rhs, op)?;
        let kept = &batch[batch.iter().take_while(|&&d| d == 1).count()..];
        if !product_batch.ends_with(kept) {
            return Err(Error::shape(
                op,
                &[&self.shape, &rhs.shape, batch],
                format!("the batch {batch:?} is not a trailing part of the product's batch {product_batch:?}"),
            ));
        }
        let out_shape = [batch, &[m, n]].concat();
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            // The whole product, then the sum over the leading batch dims that `batch` drops.
            let product = gpu_matmul(op, (m, k, n), &product_batch, &lhs, &rhs_b, None)?;
            let lead: usize = product_batch[..product_batch.len() - kept.len()].iter().product();
            return product.reshape(&[&[lead], kept, &[m, n]].concat())?.sum(vec![0usize], false)?.reshape(&out_shape);
        }
        with_float!(self, op, |T| {
            let (la, lb) = (layout(&lhs, &product_batch), layout(&rhs_b, &product_batch));
            let (ba, bb) = (lhs.buffer::<T>(op)?, rhs_b.buffer::<T>(op)?);
            let mut out = crate::pool::filled(out_shape.iter().product(), 0 as T);
            matmul_sum(m, k, n, ba, &la, bb, &lb, &mut out);
            Ok(Tensor::dense(out, out_shape))
        })
    }
}

/// Each batch entry's offset, and the row/column strides of the last two dims.
pub(crate) fn layout(t: &Tensor, batch_shape: &[usize]) -> MatrixLayout {
    let r = t.rank();
    let mut offsets = vec![t.offset];
    for (d, &size) in batch_shape.iter().enumerate() {
        let stride = t.strides[d];
        offsets = offsets.iter().flat_map(|&o| (0..size).map(move |i| o + i * stride)).collect();
    }
    MatrixLayout { offsets, row_stride: t.strides[r - 2], col_stride: t.strides[r - 1] }
}

// ------------------------------------------------------------------------------ CUDA

/// How a `[batch.., rows, cols]` operand is read by the GPU kernels: matrix `b` starts at
/// `offset + b · batch_stride`, rows (or, when transposed, columns) `ld` apart. `None` when the
/// strides do not fit that form (the operand is then made contiguous).
#[cfg(feature = "cuda")]
fn gemm_form(t: &Tensor, batch: &[usize]) -> Option<(usize, usize, bool)> {
    let r = t.rank();
    let (rows, cols) = (t.shape[r - 2], t.shape[r - 1]);
    let (rs, cs) = (t.strides[r - 2], t.strides[r - 1]);
    let (ld, transposed) = if (cs == 1 || cols == 1) && (rs >= cols || rows == 1) {
        (rs.max(cols), false)
    } else if (rs == 1 || rows == 1) && (cs >= rows || cols == 1) {
        (cs.max(rows), true)
    } else {
        return None;
    };
    // The batch dims must walk the buffer with one stride (or all be broadcast).
    let mut batch_stride = None;
    let mut span = 0;
    for d in (0..batch.len()).rev() {
        if batch[d] == 1 {
            continue;
        }
        match batch_stride {
            None => {
                batch_stride = Some(t.strides[d]);
                span = t.strides[d] * batch[d];
            }
            Some(_) if t.strides[d] == span => span *= batch[d],
            Some(_) => return None,
        }
    }
    Some((ld, batch_stride.unwrap_or(0), transposed))
}

/// `lhs @ rhs (+ bias)` on the GPU for operands already broadcast to `batch ++ [m, k]` and
/// `batch ++ [k, n]`; the result is dense `[batch_count, m, n]`.
#[cfg(feature = "cuda")]
fn gpu_matmul(
    op: &'static str,
    (m, k, n): (usize, usize, usize),
    batch: &[usize],
    lhs: &Tensor,
    rhs: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    use ferrograd_kernels::matmul::cuda::{gemm, GemmOperand};
    let count: usize = batch.iter().product();
    // Operands whose strides the kernels cannot follow are gathered into dense copies.
    let fit = |t: &Tensor| -> Result<(Tensor, (usize, usize, bool))> {
        if let Some(form) = gemm_form(t, batch) {
            return Ok((t.clone(), form));
        }
        let dense = t.gpu_contiguous(true)?;
        let r = dense.rank();
        let form = (dense.shape[r - 1], dense.shape[r - 2] * dense.shape[r - 1], false);
        Ok((dense, form))
    };
    let ((a, fa), (b, fb)) = (fit(lhs)?, fit(rhs)?);
    let bias = bias.map(|t| t.gpu_contiguous(false)).transpose()?;
    with_float!(lhs, op, |T| {
        fn operand<'t, T: crate::Element + ferrograd_kernels::cuda::GpuElement>(
            op: &'static str,
            t: &'t Tensor,
            (ld, batch_stride, transposed): (usize, usize, bool),
        ) -> Result<GemmOperand<'t, T>> {
            Ok(GemmOperand { buffer: t.gpu_buffer::<T>(op)?, offset: t.offset, ld, batch_stride, transposed })
        }
        let bias_buf = match &bias {
            Some(t) => Some(t.gpu_buffer::<T>(op)?),
            None => None,
        };
        let out = gemm(m, k, n, count, operand::<T>(op, &a, fa)?, operand::<T>(op, &b, fb)?, bias_buf, None)
            .map_err(crate::cuda::gpu_err(op))?;
        Ok(Tensor::from_gpu(out, vec![count, m, n]))
    })
}
