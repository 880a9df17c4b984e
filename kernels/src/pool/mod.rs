//! Max pooling computed straight from the image, forward and backward.
//!
//! Pooling can be written as `im2col` (one column per window) followed by a reduction over each
//! column, and that is how `ferrograd-autograd` composes it for second derivatives and on the
//! GPU. On the CPU these kernels skip the columns: they are `kh·kw` times larger than the
//! output, and the composed backward makes five passes over them (the `x = max` mask, its
//! count, the share, the product with the gradient, `col2im`). Here the forward pass is one
//! pass over the image and the backward pass two (count the ties, then hand out the shares).
//!
//! The results are those of the composed form, bit for bit where it matters to a user:
//! - padding reads −∞, so it never wins (a window of padding alone gives −∞);
//! - a NaN anywhere in a window makes its maximum NaN;
//! - the gradient of a window goes to the entries equal to its maximum, split evenly on a tie
//!   (`∂x = g · [x = y] / #ties`), summed where windows overlap.

#[cfg(target_arch = "x86_64")]
mod avx512;
mod cpu;

pub use cpu::{max_pool2d, max_pool2d_backward};
