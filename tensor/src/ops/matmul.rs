//! Matrix products: 2-D, and batched N-D with broadcast batch dimensions (as `torch.matmul`).

use crate::pool::written_by;
use crate::tensor::with_float;
use crate::{broadcast_shapes, Error, Result, Tensor};
use ferrograd_kernels::matmul::{matmul, matmul_sum, MatrixLayout};

impl Tensor {
    /// `self @ rhs`. Both operands need at least 2 dimensions: the last two are the matrices
    /// (`[.., m, k] @ [.., k, n] → [.., m, n]`) and the leading ones broadcast. Transposed or
    /// sliced operands are read in place through their strides; nothing is copied unless a
    /// batch dimension cannot be expressed as one stride (then that operand is made contiguous).
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.same_kind(rhs, "matmul")?;
        let (a, b) = (&self.shape, &rhs.shape);
        if a.len() < 2 || b.len() < 2 {
            return Err(Error::shape("matmul", &[a, b], "both operands need at least 2 dimensions"));
        }
        let (m, k) = (a[a.len() - 2], a[a.len() - 1]);
        let (k2, n) = (b[b.len() - 2], b[b.len() - 1]);
        if k != k2 {
            return Err(Error::shape("matmul", &[a, b], format!("inner dims {k} != {k2}")));
        }
        let batch_shape = broadcast_shapes("matmul", &a[..a.len() - 2], &b[..b.len() - 2])
            .map_err(|_| Error::shape("matmul", &[a, b], "batch dimensions do not broadcast"))?;
        let mut out_shape = batch_shape.clone();
        out_shape.extend([m, n]);
        let lhs = self.expand(&[batch_shape.as_slice(), &[m, k]].concat())?;
        let rhs = rhs.expand(&[batch_shape.as_slice(), &[k, n]].concat())?;
        with_float!(self, "matmul", |T| {
            let (la, lb) = (layout(&lhs, &batch_shape), layout(&rhs, &batch_shape));
            let (ba, bb) = (lhs.buffer::<T>("matmul")?, rhs.buffer::<T>("matmul")?);
            let out = written_by(out_shape.iter().product(), |out| matmul(m, k, n, ba, &la, bb, &lb, out));
            Ok(Tensor::dense(out, out_shape))
        })
    }
}

impl Tensor {
    /// `self @ rhs` summed over leading batch dimensions down to the batch shape `batch`: the
    /// result is `batch ++ [m, n]`, equal to `(self @ rhs).sum_to_shape(...)` but without storing
    /// the per-entry products. `batch`, without its leading 1s, must be the trailing part of the
    /// product's broadcast batch shape (the dims summed over are the leading ones). This is the
    /// gradient of a matmul operand that was broadcast over those dims.
    pub fn matmul_summed_to(&self, rhs: &Tensor, batch: &[usize]) -> Result<Tensor> {
        let op = "matmul_summed_to";
        self.same_kind(rhs, op)?;
        let (a, b) = (&self.shape, &rhs.shape);
        if a.len() < 2 || b.len() < 2 || a[a.len() - 1] != b[b.len() - 2] {
            return Err(Error::shape(op, &[a, b], "expected [.., m, k] and [.., k, n]"));
        }
        let (m, k, n) = (a[a.len() - 2], a[a.len() - 1], b[b.len() - 1]);
        let batch_shape = broadcast_shapes(op, &a[..a.len() - 2], &b[..b.len() - 2])
            .map_err(|_| Error::shape(op, &[a, b], "batch dimensions do not broadcast"))?;
        let kept = &batch[batch.iter().take_while(|&&d| d == 1).count()..];
        if !batch_shape.ends_with(kept) {
            return Err(Error::shape(
                op,
                &[a, b, batch],
                format!("the batch {batch:?} is not a trailing part of the product's batch {batch_shape:?}"),
            ));
        }
        let lhs = self.expand(&[batch_shape.as_slice(), &[m, k]].concat())?;
        let rhs = rhs.expand(&[batch_shape.as_slice(), &[k, n]].concat())?;
        let out_shape = [batch, &[m, n]].concat();
        with_float!(self, op, |T| {
            let (la, lb) = (layout(&lhs, &batch_shape), layout(&rhs, &batch_shape));
            let (ba, bb) = (lhs.buffer::<T>(op)?, rhs.buffer::<T>(op)?);
            let mut out = crate::pool::filled(out_shape.iter().product(), 0 as T);
            matmul_sum(m, k, n, ba, &la, bb, &lb, &mut out);
            Ok(Tensor::dense(out, out_shape))
        })
    }
}

/// Each batch entry's offset, and the row/column strides of the last two dims.
fn layout(t: &Tensor, batch_shape: &[usize]) -> MatrixLayout {
    let r = t.rank();
    let mut offsets = vec![t.offset];
    for (d, &size) in batch_shape.iter().enumerate() {
        let stride = t.strides[d];
        offsets = offsets.iter().flat_map(|&o| (0..size).map(move |i| o + i * stride)).collect();
    }
    MatrixLayout { offsets, row_stride: t.strides[r - 2], col_stride: t.strides[r - 1] }
}
