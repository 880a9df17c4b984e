//! Convolution: `im2col` (unfold), its adjoint `col2im` (fold), and the convolution kernels
//! built on them (`conv2d` and its two gradients, as blocked GEMMs), with two special cases
//! that need no columns: a window covering the whole image (`dense`: one product over the
//! batch) and one output channel per group (`direct`).
//!
//! `im2col` lays every receptive field of a batch of images out as a column, so that a
//! convolution becomes one matrix product (`weights · columns`) and a pooling becomes a reduction
//! over the column axis. `col2im` scatters columns back onto the image, summing where windows
//! overlap: it is the transpose of `im2col`, hence the backward pass of one is the other.

mod conv2d;
pub(crate) mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod dense;
mod direct;
pub mod narrow;
pub mod winograd;

pub use conv2d::{
    conv2d, conv2d_backward, conv2d_bias, conv2d_gemm, conv2d_input_grad, conv2d_input_grad_gemm, conv2d_weight_grad,
    conv2d_weight_grad_gemm, Conv2dGeometry,
};
pub use cpu::{col2im, im2col};

/// The shape arithmetic of a 2-D sliding window over `[N, C, H, W]` images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window2d {
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Input height and width.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Step between windows, per axis.
    pub stride: [usize; 2],
    /// Implicit padding on each side, per axis.
    pub padding: [usize; 2],
    /// Spacing between kernel taps, per axis (1 = dense).
    pub dilation: [usize; 2],
}

impl Window2d {
    /// Output size along one axis: `⌊(in + 2·pad − dil·(k − 1) − 1) / stride⌋ + 1`, or `None`
    /// when the dilated kernel does not fit in the padded input (or a parameter is 0).
    fn out_len(input: usize, k: usize, stride: usize, pad: usize, dil: usize) -> Option<usize> {
        if k == 0 || stride == 0 || dil == 0 {
            return None;
        }
        let span = dil.checked_mul(k - 1)?.checked_add(1)?;
        let padded = input.checked_add(pad.checked_mul(2)?)?;
        padded.checked_sub(span).map(|r| r / stride + 1)
    }

    /// `(OH, OW)`, or `None` if the window does not fit.
    pub fn output_size(&self) -> Option<(usize, usize)> {
        Some((
            Self::out_len(self.h, self.kernel[0], self.stride[0], self.padding[0], self.dilation[0])?,
            Self::out_len(self.w, self.kernel[1], self.stride[1], self.padding[1], self.dilation[1])?,
        ))
    }

    /// Rows of the column matrix per image: `C · kh · kw`.
    pub fn col_rows(&self) -> usize {
        self.c * self.kernel[0] * self.kernel[1]
    }
}
