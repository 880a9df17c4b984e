//! Fused, numerically stable softmax and log-softmax along one dimension.

use crate::pool::written_by;
use crate::tensor::with_float;
use crate::{Dim, Result, Tensor};
use ferrograd_kernels::softmax::softmax_rows;

impl Tensor {
    /// `exp(x_i) / Σ_j exp(x_j)` along `dim`.
    pub fn softmax<D: Dim>(&self, dim: D) -> Result<Tensor> {
        self.softmax_impl(dim, false, "softmax")
    }

    /// `x_i − log Σ_j exp(x_j)` along `dim`.
    pub fn log_softmax<D: Dim>(&self, dim: D) -> Result<Tensor> {
        self.softmax_impl(dim, true, "log_softmax")
    }

    fn softmax_impl<D: Dim>(&self, dim: D, log: bool, op: &'static str) -> Result<Tensor> {
        if self.rank() == 0 {
            // A scalar is treated as a one-element row; only dims 0 and -1 name it.
            dim.resolve(1, op)?;
            return self.reshape(&[1])?.softmax_impl(0, log, op)?.reshape(&[]);
        }
        let d = dim.resolve(self.rank(), op)?;
        let last = self.rank() - 1;
        // Bring `dim` last so that each softmax is over one contiguous row, then move it back.
        let moved = self.transpose(d, last)?;
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let x = moved.contiguous()?;
            let cols = x.shape[last];
            let rows = x.numel().checked_div(cols).unwrap_or(0);
            return with_float!(self, op, |T| {
                let out =
                    ferrograd_kernels::softmax::cuda::softmax_rows(x.gpu_buffer::<T>(op)?, x.offset, rows, cols, log)
                        .map_err(crate::cuda::gpu_err(op))?;
                Tensor::from_gpu(out, x.shape.clone()).transpose(d, last)
            });
        }
        with_float!(self, op, |T| {
            let x = moved.dense_data::<T>(op)?;
            let cols = moved.shape[last];
            let out = written_by(x.len(), |out| softmax_rows(&x, cols, log, out));
            Tensor::dense(out, moved.shape.clone()).transpose(d, last)
        })
    }
}
