//! Sliding windows over images: `im2col` and its adjoint `col2im` (from which pooling is built
//! in `ferrograd-autograd`), and the convolution with its two gradients.

use crate::pool::written_by;
use crate::tensor::with_float;
use crate::{Error, Result, Tensor};
use ferrograd_kernels::conv::{
    col2im, conv2d_backward, conv2d_bias, conv2d_input_grad, conv2d_weight_grad, im2col, Conv2dGeometry, Window2d,
};

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
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let x = self.gpu_exact("im2col")?;
            return with_float!(self, "im2col", |T| {
                let out = ferrograd_kernels::conv::cuda::im2col(x.gpu_buffer::<T>("im2col")?, &g, pad_value as T)
                    .map_err(crate::cuda::gpu_err("im2col"))?;
                Ok(Tensor::from_gpu(out, shape))
            });
        }
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
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let cols = self.gpu_exact("col2im")?;
            return with_float!(self, "col2im", |T| {
                let out = ferrograd_kernels::conv::cuda::col2im(cols.gpu_buffer::<T>("col2im")?, &g)
                    .map_err(crate::cuda::gpu_err("col2im"))?;
                Ok(Tensor::from_gpu(out, shape))
            });
        }
        with_float!(self, "col2im", |T| {
            let cols = self.dense_data::<T>("col2im")?;
            let mut out = crate::pool::filled(shape.iter().product(), 0.0 as T);
            col2im(&cols, &g, &mut out);
            Ok(Tensor::dense(out, shape))
        })
    }
}

impl Window {
    /// The output shape `[N, O, OH, OW]` of a convolution of `input [N, C, H, W]` by `weight
    /// [O, C/groups, kh, kw]`, or the error `conv2d` would give for these shapes.
    pub fn conv2d_output_shape(&self, input: &[usize], weight: &[usize], groups: usize) -> Result<[usize; 4]> {
        let geo = self.conv_geometry("conv2d", input, weight, groups, &[input, weight])?;
        let (oh, ow) = geo.window.output_size().unwrap_or((0, 0));
        Ok([geo.window.n, geo.out_channels, oh, ow])
    }

    /// Whether the CPU kernels compute this convolution with Winograd's F(2×2, 3×3) (a 3×3,
    /// stride-1, ungrouped convolution of 16+ input and output channels; see
    /// `ferrograd_kernels::conv::winograd::applies`), `false` for shapes that do not fit.
    pub fn conv2d_uses_winograd(&self, input: &[usize], weight: &[usize], groups: usize) -> bool {
        self.conv_geometry("conv2d", input, weight, groups, &[input, weight])
            .is_ok_and(|geo| ferrograd_kernels::conv::winograd::applies(&geo))
    }

    /// Whether the CPU kernels compute this convolution's weight gradient as dot products over a
    /// narrow receptive field (at most 32 values per group; see
    /// `ferrograd_kernels::conv::narrow::applies`), `false` for shapes that do not fit.
    pub fn conv2d_uses_narrow_kernel(&self, input: &[usize], weight: &[usize], groups: usize) -> bool {
        self.conv_geometry("conv2d", input, weight, groups, &[input, weight])
            .is_ok_and(|geo| ferrograd_kernels::conv::narrow::applies(&geo))
    }

    /// The geometry of a grouped convolution of `[N, C, H, W]` images (`input`) by a weight of
    /// shape `[O, C/groups, kh, kw]` (`weight`), checking that channels, groups and the window
    /// fit. `shapes` are the operands to name in an error.
    fn conv_geometry(
        &self,
        op: &'static str,
        input: &[usize],
        weight: &[usize],
        groups: usize,
        shapes: &[&[usize]],
    ) -> Result<Conv2dGeometry> {
        let bad = |reason: String| Error::shape(op, shapes, reason);
        let [_, c, _, _] = input[..] else { return Err(bad("input must be [N, C, H, W]".into())) };
        let [o, cg, kh, kw] = weight[..] else { return Err(bad("weight must be [O, C/groups, kh, kw]".into())) };
        if groups == 0 || c % groups != 0 || o % groups != 0 || cg * groups != c {
            return Err(bad(format!(
                "{c} input and {o} output channels with {groups} groups need a weight [{o}, {}, kh, kw]",
                c / groups.max(1)
            )));
        }
        let window = self.geometry(op, input, [kh, kw])?;
        Ok(Conv2dGeometry { window, out_channels: o, groups })
    }
}

impl Tensor {
    /// 2-D convolution (cross-correlation, as PyTorch's `conv2d`, no bias): `self` is
    /// `[N, C, H, W]`, `weight` is `[O, C/groups, kh, kw]`, the result `[N, O, OH, OW]`.
    pub fn conv2d(&self, weight: &Tensor, window: Window, groups: usize) -> Result<Tensor> {
        self.conv2d_impl(weight, None, window, groups)
    }

    /// [`Tensor::conv2d`] plus a bias `[O]`, `b[o]` added to every output of channel `o`. On the
    /// CPU the kernels add it as they write each image's outputs (see
    /// `ferrograd_kernels::conv::conv2d_bias`), saving a pass over the output.
    pub fn conv2d_bias(&self, weight: &Tensor, bias: &Tensor, window: Window, groups: usize) -> Result<Tensor> {
        self.conv2d_impl(weight, Some(bias), window, groups)
    }

    fn conv2d_impl(&self, weight: &Tensor, bias: Option<&Tensor>, window: Window, groups: usize) -> Result<Tensor> {
        self.same_kind(weight, "conv2d")?;
        let geo = window.conv_geometry("conv2d", &self.shape, &weight.shape, groups, &[&self.shape, &weight.shape])?;
        if let Some(b) = bias {
            self.same_kind(b, "conv2d")?;
            if b.shape() != [geo.out_channels] {
                return Err(Error::shape(
                    "conv2d",
                    &[&self.shape, &weight.shape, b.shape()],
                    format!("bias must be [{}]", geo.out_channels),
                ));
            }
        }
        let (oh, ow) = geo.window.output_size().unwrap_or((0, 0));
        let shape = vec![geo.window.n, geo.out_channels, oh, ow];
        crate::checked_numel("conv2d", &shape)?;
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let op = "conv2d";
            let (x, w) = (self.gpu_exact(op)?, weight.gpu_exact(op)?);
            return with_float!(self, op, |T| {
                let out = ferrograd_kernels::conv::cuda::conv2d(x.gpu_buffer::<T>(op)?, w.gpu_buffer::<T>(op)?, &geo)
                    .map_err(crate::cuda::gpu_err(op))?;
                let y = Tensor::from_gpu(out, shape);
                match bias {
                    Some(b) => y.add(&b.reshape(&[1, geo.out_channels, 1, 1])?),
                    None => Ok(y),
                }
            });
        }
        with_float!(self, "conv2d", |T| {
            let (x, w) = (self.dense_data::<T>("conv2d")?, weight.dense_data::<T>("conv2d")?);
            let b = bias.map(|b| b.dense_data::<T>("conv2d")).transpose()?;
            let out = written_by(shape.iter().product(), |out| conv2d_bias(&x, &w, b.as_deref(), &geo, out));
            Ok(Tensor::dense(out, shape))
        })
    }

    /// The gradient of `conv2d` with respect to its input, `self` being the output gradient
    /// `[N, O, OH, OW]` and `input_size` the input's `[H, W]`: `[N, C, H, W]`. It is also the
    /// transposed convolution of `self` by `weight`.
    pub fn conv2d_input_grad(
        &self,
        weight: &Tensor,
        input_size: [usize; 2],
        window: Window,
        groups: usize,
    ) -> Result<Tensor> {
        let op = "conv2d_input_grad";
        self.same_kind(weight, op)?;
        let shapes: [&[usize]; 2] = [&self.shape, &weight.shape];
        let (&[n, o, oh, ow], &[wo, cg, _, _]) = (&self.shape[..], &weight.shape[..]) else {
            return Err(Error::shape(
                op,
                &shapes,
                "expected a gradient [N, O, OH, OW] and a weight [O, C/groups, kh, kw]",
            ));
        };
        if o != wo {
            return Err(Error::shape(op, &shapes, format!("the gradient has {o} channels, the weight {wo} filters")));
        }
        let input = [n, cg * groups, input_size[0], input_size[1]];
        let geo = window.conv_geometry(op, &input, &weight.shape, groups, &shapes)?;
        if geo.window.output_size() != Some((oh, ow)) {
            return Err(Error::shape(
                op,
                &shapes,
                format!("a {input_size:?} input gives a {:?} output, not [{oh}, {ow}]", geo.window.output_size()),
            ));
        }
        crate::checked_numel(op, &input)?;
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let (gy, w) = (self.gpu_exact(op)?, weight.gpu_exact(op)?);
            return with_float!(self, op, |T| {
                let out = ferrograd_kernels::conv::cuda::conv2d_input_grad(
                    gy.gpu_buffer::<T>(op)?,
                    w.gpu_buffer::<T>(op)?,
                    &geo,
                )
                .map_err(crate::cuda::gpu_err(op))?;
                Ok(Tensor::from_gpu(out, input.to_vec()))
            });
        }
        with_float!(self, op, |T| {
            let (gy, w) = (self.dense_data::<T>(op)?, weight.dense_data::<T>(op)?);
            let mut out = crate::pool::filled(input.iter().product(), 0.0 as T);
            conv2d_input_grad(&gy, &w, &geo, &mut out);
            Ok(Tensor::dense(out, input.to_vec()))
        })
    }

    /// The gradient of `conv2d` with respect to its weight, `self` being the input `[N, C, H, W]`
    /// and `grad_output` the output gradient `[N, O, OH, OW]`: `[O, C/groups, kh, kw]`.
    pub fn conv2d_weight_grad(
        &self,
        grad_output: &Tensor,
        kernel: [usize; 2],
        window: Window,
        groups: usize,
    ) -> Result<Tensor> {
        let op = "conv2d_weight_grad";
        self.same_kind(grad_output, op)?;
        let shapes: [&[usize]; 2] = [&self.shape, &grad_output.shape];
        let (&[n, c, _, _], &[gn, o, oh, ow]) = (&self.shape[..], &grad_output.shape[..]) else {
            return Err(Error::shape(op, &shapes, "expected an input [N, C, H, W] and a gradient [N, O, OH, OW]"));
        };
        let weight = [o, c / groups.max(1), kernel[0], kernel[1]];
        let geo = window.conv_geometry(op, &self.shape, &weight, groups, &shapes)?;
        if gn != n || geo.window.output_size() != Some((oh, ow)) {
            return Err(Error::shape(
                op,
                &shapes,
                format!("the input gives a [{n}, {o}, {:?}] output, not the gradient's", geo.window.output_size()),
            ));
        }
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let (x, gy) = (self.gpu_exact(op)?, grad_output.gpu_exact(op)?);
            return with_float!(self, op, |T| {
                let out = ferrograd_kernels::conv::cuda::conv2d_weight_grad(
                    x.gpu_buffer::<T>(op)?,
                    gy.gpu_buffer::<T>(op)?,
                    &geo,
                )
                .map_err(crate::cuda::gpu_err(op))?;
                Ok(Tensor::from_gpu(out, weight.to_vec()))
            });
        }
        with_float!(self, op, |T| {
            let (x, gy) = (self.dense_data::<T>(op)?, grad_output.dense_data::<T>(op)?);
            let mut out = crate::pool::filled(weight.iter().product(), 0.0 as T);
            conv2d_weight_grad(&x, &gy, &geo, &mut out);
            Ok(Tensor::dense(out, weight.to_vec()))
        })
    }

    /// Both gradients of `conv2d(self, weight)` given the output gradient `grad_output`:
    /// `(∂x, ∂w)`, the results of [`Tensor::conv2d_input_grad`] and
    /// [`Tensor::conv2d_weight_grad`]. On the CPU the kernels may share work between the two
    /// (Winograd transforms the output gradient once for both; see
    /// `ferrograd_kernels::conv::conv2d_backward`).
    pub fn conv2d_backward(
        &self,
        weight: &Tensor,
        grad_output: &Tensor,
        window: Window,
        groups: usize,
    ) -> Result<(Tensor, Tensor)> {
        let op = "conv2d_backward";
        self.same_kind(weight, op)?;
        self.same_kind(grad_output, op)?;
        let shapes: [&[usize]; 3] = [&self.shape, &weight.shape, &grad_output.shape];
        let geo = window.conv_geometry(op, &self.shape, &weight.shape, groups, &shapes)?;
        let (oh, ow) = geo.window.output_size().unwrap_or((0, 0));
        let out_shape = [geo.window.n, geo.out_channels, oh, ow];
        if grad_output.shape != out_shape {
            return Err(Error::shape(op, &shapes, format!("the output gradient must be {out_shape:?}")));
        }
        if self.is_cuda() {
            let kernel = [weight.shape[2], weight.shape[3]];
            let size = [self.shape[2], self.shape[3]];
            return Ok((
                grad_output.conv2d_input_grad(weight, size, window, groups)?,
                self.conv2d_weight_grad(grad_output, kernel, window, groups)?,
            ));
        }
        with_float!(self, op, |T| {
            let (x, w, gy) = (self.dense_data::<T>(op)?, weight.dense_data::<T>(op)?, grad_output.dense_data::<T>(op)?);
            // The kernels overwrite both gradients: cached buffers need no fill.
            let mut gx = crate::pool::overwritten(x.len(), 0.0 as T);
            let mut gw = crate::pool::overwritten(w.len(), 0.0 as T);
            conv2d_backward(&x, &gy, &w, &geo, &mut gx, &mut gw);
            Ok((Tensor::dense(gx, self.shape.clone()), Tensor::dense(gw, weight.shape.clone())))
        })
    }
}
