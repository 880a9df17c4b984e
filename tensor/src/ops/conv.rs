//! Sliding windows over images: `im2col` and its adjoint `col2im`, from which convolution and
//! pooling are built (in `ferrograd-autograd`).

use crate::pool::written_by;
use crate::tensor::with_float;
use crate::{Error, Result, Tensor};
use ferrograd_kernels::conv::{col2im, im2col, Window2d};

/// Stride, padding and dilation of a 2-D sliding window, each as `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Step between consecutive windows.
    pub stride: [usize; 2],
    /// Implicit padding added on both sides.
    pub padding: [usize; 2],
    /// Spacing between kernel taps (1 = dense kernel).
    pub dilation: [usize; 2],
}

impl Default for Window {
    /// Stride 1, no padding, no dilation.
    fn default() -> Self {
        Window { stride: [1, 1], padding: [0, 0], dilation: [1, 1] }
    }
}

impl Window {
    /// The same stride on both axes.
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = [s, s];
        self
    }
    /// The same padding on both axes.
    pub fn padding(mut self, p: usize) -> Self {
        self.padding = [p, p];
        self
    }
    /// The same dilation on both axes.
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation = [d, d];
        self
    }

    /// The kernel-level geometry for `[n, c, h, w]` images, checking that the window fits.
    pub fn geometry(&self, op: &'static str, shape: &[usize], kernel: [usize; 2]) -> Result<Window2d> {
        let [n, c, h, w] = shape[..] else {
            return Err(Error::shape(op, &[shape], "expected a 4-D [N, C, H, W] input"));
        };
        let g = Window2d { n, c, h, w, kernel, stride: self.stride, padding: self.padding, dilation: self.dilation };
        if g.output_size().is_none() {
            return Err(Error::shape(
                op,
                &[shape, &kernel],
                format!(
                    "kernel {kernel:?} (dilation {:?}) does not fit the input padded by {:?}, or a stride/kernel/dilation is 0",
                    self.dilation, self.padding
                ),
            ));
        }
        Ok(g)
    }
}

impl Tensor {
    /// Unfolds `[N, C, H, W]` images into columns `[N, C·kh·kw, OH·OW]`: column `(oy, ox)` holds
    /// the receptive field of output position `(oy, ox)`, channel-major, and `pad_value` where
    /// the window reaches into the padding (0 for convolution, −∞ for max pooling).
    pub fn im2col(&self, kernel: [usize; 2], window: Window, pad_value: f64) -> Result<Tensor> {
        let g = window.geometry("im2col", &self.shape, kernel)?;
        let (oh, ow) = g.output_size().unwrap_or((0, 0));
        let shape = vec![g.n, g.col_rows(), oh * ow];
        crate::checked_numel("im2col", &shape)?;
        with_float!(self, "im2col", |T| {
            let x = self.dense_data::<T>("im2col")?;
            let out = written_by(shape.iter().product(), |out| im2col(&x, &g, pad_value as T, out));
            Ok(Tensor::dense(out, shape))
        })
    }

    /// Folds columns `[N, C·kh·kw, OH·OW]` back onto `[N, C, H, W]` images (`size = [H, W]`),
    /// summing where windows overlap: the adjoint of [`Tensor::im2col`] with zero padding.
    pub fn col2im(&self, size: [usize; 2], kernel: [usize; 2], window: Window) -> Result<Tensor> {
        let [n, rows, l] = self.shape[..] else {
            return Err(Error::shape("col2im", &[&self.shape], "expected a 3-D [N, C·kh·kw, L] input"));
        };
        let taps = kernel[0] * kernel[1];
        if taps == 0 || rows % taps != 0 {
            return Err(Error::shape("col2im", &[&self.shape, &kernel], "rows must be a multiple of kh·kw"));
        }
        let g = window.geometry("col2im", &[n, rows / taps, size[0], size[1]], kernel)?;
        let (oh, ow) = g.output_size().unwrap_or((0, 0));
        if oh * ow != l {
            return Err(Error::shape(
                "col2im",
                &[&self.shape, &size],
                format!("{l} columns, but the window gives {oh}×{ow} positions on a {size:?} image"),
            ));
        }
        let shape = vec![g.n, g.c, g.h, g.w];
        with_float!(self, "col2im", |T| {
            let cols = self.dense_data::<T>("col2im")?;
            let mut out = crate::pool::filled(shape.iter().product(), 0.0 as T);
            col2im(&cols, &g, &mut out);
            Ok(Tensor::dense(out, shape))
        })
    }
}
