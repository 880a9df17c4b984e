//! Max pooling as one op each way on the CPU (see `ferrograd_kernels::pool`). There is no
//! pooling kernel on the GPU: `Var::max_pool2d` composes it there from `im2col` and `max`.

use crate::pool::written_by;
use crate::tensor::with_float;
use crate::{Error, Result, Tensor, Window};
use ferrograd_kernels::conv::Window2d;
use ferrograd_kernels::pool::{max_pool2d, max_pool2d_backward};

impl Window {
    /// The geometry of a pooling window over `[N, C, H, W]`, which also requires the padding
    /// to be at most half the kernel (as PyTorch), so that every window holds a pixel.
    pub fn pool_geometry(&self, op: &'static str, shape: &[usize], kernel: [usize; 2]) -> Result<Window2d> {
        if self.padding[0] * 2 > kernel[0] || self.padding[1] * 2 > kernel[1] {
            return Err(Error::shape(
                op,
                &[shape, &kernel],
                format!("padding {:?} must be at most half the kernel", self.padding),
            ));
        }
        self.geometry(op, shape, kernel)
    }
}

impl Tensor {
    /// Max pooling of `[N, C, H, W]` images over `kernel` windows → `[N, C, OH, OW]`: each
    /// output is the largest value of its window (padding never wins; a NaN does). CPU only
    /// (`Error::UnsupportedOnDevice` on a GPU, where `Var::max_pool2d` composes it).
    pub fn max_pool2d(&self, kernel: [usize; 2], window: Window) -> Result<Tensor> {
        let g = window.pool_geometry("max_pool2d", &self.shape, kernel)?;
        let (oh, ow) = g.output_size().unwrap_or((0, 0));
        let shape = vec![g.n, g.c, oh, ow];
        if self.is_cuda() {
            return Err(Error::UnsupportedOnDevice { op: "max_pool2d", device: self.device() });
        }
        with_float!(self, "max_pool2d", |T| {
            let x = self.dense_data::<T>("max_pool2d")?;
            let y = written_by(shape.iter().product(), |y| max_pool2d(&x, &g, y));
            Ok(Tensor::dense(y, shape))
        })
    }

    /// The input gradient of [`Tensor::max_pool2d`] (`self` is its input `x`, `y` its output,
    /// `grad` the gradient of `y`): each window's gradient goes to the entries equal to its
    /// maximum, split evenly between ties, summed where windows overlap —
    /// `∂x = Σ_windows g · [x = y] / #ties`.
    pub fn max_pool2d_backward(&self, y: &Tensor, grad: &Tensor, kernel: [usize; 2], window: Window) -> Result<Tensor> {
        let op = "max_pool2d_backward";
        let g = window.pool_geometry(op, &self.shape, kernel)?;
        let (oh, ow) = g.output_size().unwrap_or((0, 0));
        let out_shape = [g.n, g.c, oh, ow];
        if y.shape() != out_shape || grad.shape() != out_shape {
            return Err(Error::shape(
                op,
                &[&self.shape, y.shape(), grad.shape()],
                format!("the output and its gradient must be {out_shape:?}"),
            ));
        }
        self.same_kind(y, op)?;
        self.same_kind(grad, op)?;
        if self.is_cuda() {
            return Err(Error::UnsupportedOnDevice { op, device: self.device() });
        }
        with_float!(self, op, |T| {
            let (x, y, gy) = (self.dense_data::<T>(op)?, y.dense_data::<T>(op)?, grad.dense_data::<T>(op)?);
            // The kernel zeroes each plane before adding to it: a cached buffer needs no fill.
            let mut gx = crate::pool::overwritten(x.len(), 0.0 as T);
            max_pool2d_backward(&x, &y, &gy, &g, &mut gx);
            Ok(Tensor::dense(gx, self.shape.clone()))
        })
    }
}
