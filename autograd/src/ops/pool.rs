//! Pooling, built from `im2col` and a reduction over each window.
//!
//! Each channel is treated as its own one-channel image, unfolded so that every column is one
//! window; max pooling is then `max` over the column axis (padding reads −∞, so it never wins)
//! and average pooling is `mean` (padding reads 0 and counts, PyTorch's `count_include_pad`).
//! The gradients are those of `max`/`mean` followed by `col2im`, which sums the contributions of
//! overlapping windows: any kernel, stride, padding and dilation, overlapping or not, has an
//! exact backward (and a double backward).
//!
//! Max pooling, the CNNs' workhorse, is also one op each way ([`Var::max_pool2d`]) that does the
//! same per plane without materialising the batch's columns; the composed form
//! ([`Var::max_pool2d_composed`]) remains for second derivatives, and the two are tested against
//! each other.

use crate::{grad, is_grad_enabled, OpInfo, Saved, Var};
use ferrograd_tensor::{Error, Result, Window};

impl Var {
    /// Columns of one-channel windows: `[N·C, kh·kw, OH·OW]`, and `(N, C, OH, OW)`.
    fn pool_columns(
        &self,
        op: &'static str,
        kernel: [usize; 2],
        window: Window,
        pad: f64,
    ) -> Result<(Var, [usize; 4])> {
        let s = self.shape();
        let [n, c, h, w] = s[..] else {
            return Err(Error::shape(op, &[&s], "expected a 4-D [N, C, H, W] input"));
        };
        let g = window.pool_geometry(op, &s, kernel)?;
        let (oh, ow) = g.output_size().unwrap_or((0, 0));
        let cols = self.reshape(&[n * c, 1, h, w])?.im2col(kernel, window, pad)?;
        Ok((cols, [n, c, oh, ow]))
    }

    /// Max pooling over `kernel` windows — `∂x` goes to each window's maximum (split evenly on a
    /// tie, as our `max`), summed where windows overlap:
    /// ```text
    /// ∂x = Σ_windows g · [x = y] / #ties
    /// ```
    /// On the CPU, one op each way (`Tensor::max_pool2d`, `Tensor::max_pool2d_backward`), which
    /// never builds the columns. [`Var::max_pool2d_composed`] is the same function made of
    /// `im2col` and `max`; the two are gradchecked against each other, and a second derivative
    /// (and a GPU, which has no pooling kernel) uses it.
    #[track_caller]
    pub fn max_pool2d(&self, kernel: [usize; 2], window: Window) -> Result<Var> {
        if self.value().is_cuda() {
            // No pooling kernel on the GPU: its im2col and reduction kernels do the work.
            return self.max_pool2d_composed(kernel, window);
        }
        let y = self.value().max_pool2d(kernel, window)?;
        Var::from_op(
            &OpInfo {
                name: "max_pool2d",
                rule: "∂x = Σ_windows g · [x = y] / #ties",
                saves: &[Saved::Input(0), Saved::Output],
            },
            y,
            &[self],
            move |x, y, g| {
                if is_grad_enabled() {
                    // Double backward: differentiate the composed form.
                    let y = x[0].max_pool2d_composed(kernel, window)?;
                    return grad(&[&y], &[&x[0]], &[g], true);
                }
                let gx = x[0].value().max_pool2d_backward(&y.value(), &g.value(), kernel, window)?;
                Ok(vec![Some(Var::constant(gx))])
            },
        )
    }

    /// [`Var::max_pool2d`] built from other ops: `im2col` with −∞ padding, then `max` over each
    /// column. Its gradient is the rule of `max` (`g · [x = y] / #ties`) followed by `col2im`.
    #[track_caller]
    pub fn max_pool2d_composed(&self, kernel: [usize; 2], window: Window) -> Result<Var> {
        let (cols, [n, c, oh, ow]) = self.pool_columns("max_pool2d", kernel, window, f64::NEG_INFINITY)?;
        cols.max([1], false)?.reshape(&[n, c, oh, ow])
    }

    /// Average pooling over `kernel` windows, padding counted as zeros (PyTorch's default
    /// `count_include_pad = true`) — `∂x = g / (kh·kw)` spread over each window, summed where
    /// windows overlap.
    #[track_caller]
    pub fn avg_pool2d(&self, kernel: [usize; 2], window: Window) -> Result<Var> {
        let (cols, [n, c, oh, ow]) = self.pool_columns("avg_pool2d", kernel, window, 0.0)?;
        cols.mean([1], false)?.reshape(&[n, c, oh, ow])
    }

    /// Adaptive average pooling to an `[OH, OW]` output: output cell `(i, j)` averages rows
    /// `⌊i·H/OH⌋ .. ⌈(i+1)·H/OH⌉` and the matching columns, as PyTorch. When the sizes divide,
    /// this is one `avg_pool2d`; otherwise each cell is a `narrow` + `mean`.
    #[track_caller]
    pub fn adaptive_avg_pool2d(&self, out: [usize; 2]) -> Result<Var> {
        let s = self.shape();
        let [n, c, h, w] = s[..] else {
            return Err(Error::shape("adaptive_avg_pool2d", &[&s], "expected a 4-D [N, C, H, W] input"));
        };
        let [oh, ow] = out;
        if oh == 0 || ow == 0 || oh > h || ow > w {
            return Err(Error::shape(
                "adaptive_avg_pool2d",
                &[&s, &out],
                "output size must be between 1 and the input size",
            ));
        }
        if h % oh == 0 && w % ow == 0 {
            let k = [h / oh, w / ow];
            return self.avg_pool2d(k, Window { stride: k, ..Window::default() });
        }
        let mut rows = Vec::with_capacity(oh);
        for i in 0..oh {
            let (r0, r1) = (i * h / oh, ((i + 1) * h).div_ceil(oh));
            let mut cells = Vec::with_capacity(ow);
            for j in 0..ow {
                let (c0, c1) = (j * w / ow, ((j + 1) * w).div_ceil(ow));
                cells.push(self.narrow(2, r0, r1 - r0)?.narrow(3, c0, c1 - c0)?.mean([2, 3], false)?);
            }
            rows.push(Var::stack(&cells.iter().collect::<Vec<_>>(), -1)?);
        }
        let y = Var::stack(&rows.iter().collect::<Vec<_>>(), -2)?;
        debug_assert_eq!(y.shape(), [n, c, oh, ow]);
        Ok(y)
    }

    /// Global average pooling: `[N, C, H, W] → [N, C]`.
    #[track_caller]
    pub fn global_avg_pool2d(&self) -> Result<Var> {
        if self.shape().len() != 4 {
            return Err(Error::shape("global_avg_pool2d", &[&self.shape()], "expected a 4-D [N, C, H, W] input"));
        }
        self.mean([2, 3], false)
    }
}
