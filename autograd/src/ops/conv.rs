//! Convolution and its two gradients, as three ops that are each other's derivatives.
//!
//! Write `y = conv2d(x, w)`. It is linear in `x` (for a fixed `w`) and linear in `w` (for a
//! fixed `x`), so each gradient is the *adjoint* (transpose) of one of those linear maps:
//! ```text
//! ∂x = conv2d_input_grad(g, w)     the adjoint of x ↦ conv2d(x, w)   (a transposed convolution)
//! ∂w = conv2d_weight_grad(x, g)    the adjoint of w ↦ conv2d(x, w)   (correlates x with g)
//! ```
//! Both are again bilinear, and the adjoint of an adjoint is the map itself, so their own
//! gradients are made of the same three ops (see each op's doc comment). That closes the set:
//! double backward (and any higher order) works with no further code.
//!
//! The kernels compute each of the three as blocked matrix products over `im2col` columns (see
//! `ferrograd_kernels::conv`), without materialising the column matrix.

use crate::{is_grad_enabled, OpInfo, Saved, Var};
use ferrograd_tensor::{Error, Result, Window};

/// The largest column matrix (in bytes) for which [`Var::conv2d`] unfolds the input whole. On
/// the 2-core dev machine (`cargo bench --bench conv`), the unfolded form wins on the MNIST CNN's
/// layers (1.5 and 9 MB of columns) by 15–20%, and the fused form on a 64-channel 56² batch of
/// 32 (231 MB) by 1.9×.
pub const UNFOLD_MAX_BYTES: usize = 16 << 20;

/// Checks that a bias is `[O]` for a weight `[O, ...]`.
fn check_bias(op: &'static str, xs: &[usize], ws: &[usize], bias: Option<&Var>) -> Result<()> {
    match bias {
        Some(b) if b.shape() != ws[..1] => {
            Err(Error::shape(op, &[xs, ws, &b.shape()], format!("bias must be [{}]", ws[0])))
        }
        _ => Ok(()),
    }
}

/// `y + b` with `b [O]` broadcast over `[N, O, OH, OW]`.
fn add_bias(y: Var, bias: Option<&Var>) -> Result<Var> {
    match bias {
        Some(b) => y.add(&b.reshape(&[1, b.shape()[0], 1, 1])?),
        None => Ok(y),
    }
}

impl Var {
    /// Unfolds `[N, C, H, W]` into columns `[N, C·kh·kw, OH·OW]` (see `Tensor::im2col`) —
    /// `∂x = col2im(g)`: every column entry sends its gradient back to the pixel it copied
    /// (padding entries are constants and send nothing).
    #[track_caller]
    pub fn im2col(&self, kernel: [usize; 2], window: Window, pad_value: f64) -> Result<Var> {
        let shape = self.shape();
        let y = self.value().im2col(kernel, window, pad_value)?;
        let size = [shape[2], shape[3]];
        Var::from_op(&OpInfo { name: "im2col", rule: "∂x = col2im(g)", saves: &[] }, y, &[self], move |_, _, g| {
            Ok(vec![Some(g.col2im(size, kernel, window)?)])
        })
    }

    /// Folds columns back onto `[N, C, H, W]` images, summing overlaps (see `Tensor::col2im`)
    /// — `∂cols = im2col(g)`, its adjoint.
    #[track_caller]
    pub fn col2im(&self, size: [usize; 2], kernel: [usize; 2], window: Window) -> Result<Var> {
        let y = self.value().col2im(size, kernel, window)?;
        Var::from_op(&OpInfo { name: "col2im", rule: "∂cols = im2col(g)", saves: &[] }, y, &[self], move |_, _, g| {
            Ok(vec![Some(g.im2col(kernel, window, 0.0)?)])
        })
    }

    /// 2-D convolution (cross-correlation, as PyTorch): `x [N, C, H, W]`, `weight
    /// [O, C/groups, kh, kw]`, optional `bias [O]` → `[N, O, OH, OW]`, with the window's stride,
    /// padding and dilation, and `groups` (`groups = C` is depthwise):
    /// `y[n, o, i, j] = b[o] + Σ_{c, ki, kj} w[o, c, ki, kj] · x[n, c, i·s + ki·d − p, j·s + kj·d − p]`.
    ///
    /// Two formulations compute the same values and gradients; this picks the faster one:
    /// [`Var::conv2d_unfolded`] (im2col, then one matmul) when the whole column matrix is at
    /// most [`UNFOLD_MAX_BYTES`](crate::ops::UNFOLD_MAX_BYTES) — small images, where building
    /// the columns once and reusing them for the weight gradient wins — and
    /// [`Var::conv2d_fused`] (blocked, never materialising the columns) above that, or when
    /// each image has a single output position (a transposed convolution from 1×1 inputs
    /// differentiates into one), where the fused kernel runs one product over the whole batch,
    /// or one output channel per group (a one-channel image layer, a depthwise convolution),
    /// which the fused kernel computes directly, or a 3×3 stride-1 layer of 16+ channels in and
    /// out, which the fused kernels compute with Winograd's F(2×2, 3×3)
    /// (2.25× fewer multiplications; see `ferrograd_kernels::conv::winograd`).
    #[track_caller]
    pub fn conv2d(&self, weight: &Var, bias: Option<&Var>, window: Window, groups: usize) -> Result<Var> {
        let (xs, ws) = (self.shape(), weight.shape());
        let [n, _, oh, ow] = window.conv2d_output_shape(&xs, &ws, groups)?;
        let columns = [n, xs[1], ws[2], ws[3], oh, ow, self.value().dtype().size_in_bytes()];
        let bytes = columns.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        // One output position per image (the window covers the image): unfolding would give
        // one-column products, while the fused kernel multiplies the whole batch at once. One
        // output channel per group: unfolding would give one-row products, while the fused
        // kernel convolves directly.
        let one_row = ws[0] == groups;
        // On a GPU the fused kernels are implicit GEMMs that never write the columns out.
        let on_gpu = self.value().is_cuda();
        // 3×3 stride-1 layers of 16+ channels in and out (any image size): the fused kernels use
        // Winograd's F(2×2, 3×3).
        let winograd = window.conv2d_uses_winograd(&xs, &ws, groups);
        // A narrow receptive field (a first layer over one- or three-channel images): the fused
        // weight gradient takes dot products of the output gradient's rows with each image's
        // columns, where the unfolded form's product would read the columns transposed.
        let narrow = window.conv2d_uses_narrow_kernel(&xs, &ws, groups);
        if oh * ow > 1 && !one_row && !on_gpu && !winograd && !narrow && bytes.is_some_and(|b| b <= UNFOLD_MAX_BYTES) {
            self.conv2d_unfolded(weight, bias, window, groups)
        } else {
            self.conv2d_fused(weight, bias, window, groups)
        }
    }

    /// [`Var::conv2d`] as one op whose gradients are the ops [`Var::conv2d_input_grad`] and
    /// [`Var::conv2d_weight_grad`]: `∂x = conv2d_input_grad(g, w)`, `∂w = conv2d_weight_grad(x,
    /// g)`, and with a bias `∂b = Σ_{n,i,j} g` (the bias is added by the kernel, as the outputs
    /// are written: see `Tensor::conv2d_bias`).
    #[track_caller]
    pub fn conv2d_fused(&self, weight: &Var, bias: Option<&Var>, window: Window, groups: usize) -> Result<Var> {
        let (xs, ws) = (self.shape(), weight.shape());
        window.conv2d_output_shape(&xs, &ws, groups)?; // checks the shapes before the bias's
        check_bias("conv2d", &xs, &ws, bias)?;
        let y = match bias {
            Some(b) => self.value().conv2d_bias(&weight.value(), &b.value(), window, groups)?,
            None => self.value().conv2d(&weight.value(), window, groups)?,
        };
        let (size, kernel) = ([xs[2], xs[3]], [ws[2], ws[3]]);
        let inputs: Vec<&Var> = [Some(self), Some(weight), bias].into_iter().flatten().collect();
        Var::from_op(
            &OpInfo {
                name: "conv2d",
                rule: "∂x = conv2d_input_grad(g, w), ∂w = conv2d_weight_grad(x, g), ∂b = Σ_{n,i,j} g",
                saves: &[Saved::Input(0), Saved::Input(1)],
            },
            y,
            &inputs,
            move |v, _, g| {
                let (x, w) = (&v[0], &v[1]);
                let mut grads = if x.requires_grad() && w.requires_grad() && !is_grad_enabled() {
                    // No graph to record: both gradients from one kernel call, which may share
                    // work between them (Winograd transforms `g` once for both).
                    let (gx, gw) = x.value().conv2d_backward(&w.value(), &g.value(), window, groups)?;
                    vec![Some(Var::constant(gx)), Some(Var::constant(gw))]
                } else {
                    let gx = x.requires_grad().then(|| g.conv2d_input_grad(w, size, window, groups)).transpose()?;
                    let gw = w.requires_grad().then(|| x.conv2d_weight_grad(g, kernel, window, groups)).transpose()?;
                    vec![gx, gw]
                };
                if let Some(b) = v.get(2) {
                    grads.push(b.requires_grad().then(|| g.sum([0, 2, 3], false)).transpose()?);
                }
                Ok(grads)
            },
        )
    }

    /// [`Var::conv2d`] built from other ops, as textbooks derive it: unfold the receptive fields
    /// into columns, `cols = im2col(x)` of shape `[N, C·kh·kw, OH·OW]`, then `y = W · cols` with
    /// `W` reshaped to `[O, C·kh·kw]` (per group). Its gradients come from the rules of its
    /// parts: `∂W = Σ_n g · colsᵀ` (matmul's rule and the broadcast sum) and `∂x = col2im(Wᵀ ·
    /// g)` (matmul's rule, then im2col's).
    #[track_caller]
    pub fn conv2d_unfolded(&self, weight: &Var, bias: Option<&Var>, window: Window, groups: usize) -> Result<Var> {
        let (xs, ws) = (self.shape(), weight.shape());
        let [n, o, oh, ow] = window.conv2d_output_shape(&xs, &ws, groups)?;
        check_bias("conv2d", &xs, &ws, bias)?;
        let [cg, kh, kw] = [ws[1], ws[2], ws[3]];
        // [N, C·kh·kw, L] → [N, groups, C/groups·kh·kw, L];  W → [groups, O/groups, C/groups·kh·kw]
        let cols = self.im2col([kh, kw], window, 0.0)?.reshape(&[n, groups, cg * kh * kw, oh * ow])?;
        let w = weight.reshape(&[groups, o / groups, cg * kh * kw])?;
        let y = w.matmul(&cols)?.reshape(&[n, o, oh, ow])?; // [groups] broadcasts against [N, groups]
        add_bias(y, bias)
    }

    /// The input gradient of `conv2d` as an op of its own (`self` = `g [N, O, OH, OW]`, the
    /// input being `input_size = [H, W]`): `z = Aᵀ g` where `A x = conv2d(x, w)`. This is the
    /// transposed convolution of `g` by `w`.
    ///
    /// From `⟨u, Aᵀg⟩ = ⟨A u, g⟩ = ⟨conv2d(u, w), g⟩` for an incoming gradient `u` of `z`:
    /// `∂g = conv2d(u, w)` and `∂w = conv2d_weight_grad(u, g)`.
    #[track_caller]
    pub fn conv2d_input_grad(
        &self,
        weight: &Var,
        input_size: [usize; 2],
        window: Window,
        groups: usize,
    ) -> Result<Var> {
        let z = self.value().conv2d_input_grad(&weight.value(), input_size, window, groups)?;
        let kernel = [weight.shape()[2], weight.shape()[3]];
        Var::from_op(
            &OpInfo {
                name: "conv2d_input_grad",
                rule: "∂g = conv2d(u, w), ∂w = conv2d_weight_grad(u, g)",
                saves: &[Saved::Input(0), Saved::Input(1)],
            },
            z,
            &[self, weight],
            move |v, _, u| {
                let (g, w) = (&v[0], &v[1]);
                let gg = g.requires_grad().then(|| u.conv2d(w, None, window, groups)).transpose()?;
                let gw = w.requires_grad().then(|| u.conv2d_weight_grad(g, kernel, window, groups)).transpose()?;
                Ok(vec![gg, gw])
            },
        )
    }

    /// The weight gradient of `conv2d` as an op of its own (`self` = `x [N, C, H, W]`,
    /// `grad_output` = `g [N, O, OH, OW]`): `z = Bᵀ g` where `B w = conv2d(x, w)`.
    ///
    /// From `⟨u, Bᵀg⟩ = ⟨B u, g⟩ = ⟨conv2d(x, u), g⟩` for an incoming gradient `u` of `z`:
    /// `∂g = conv2d(x, u)` and `∂x = conv2d_input_grad(g, u)`.
    #[track_caller]
    pub fn conv2d_weight_grad(
        &self,
        grad_output: &Var,
        kernel: [usize; 2],
        window: Window,
        groups: usize,
    ) -> Result<Var> {
        let z = self.value().conv2d_weight_grad(&grad_output.value(), kernel, window, groups)?;
        let size = [self.shape()[2], self.shape()[3]];
        Var::from_op(
            &OpInfo {
                name: "conv2d_weight_grad",
                rule: "∂x = conv2d_input_grad(g, u), ∂g = conv2d(x, u)",
                saves: &[Saved::Input(0), Saved::Input(1)],
            },
            z,
            &[self, grad_output],
            move |v, _, u| {
                let (x, g) = (&v[0], &v[1]);
                let gx = x.requires_grad().then(|| g.conv2d_input_grad(u, size, window, groups)).transpose()?;
                let gg = g.requires_grad().then(|| x.conv2d(u, None, window, groups)).transpose()?;
                Ok(vec![gx, gg])
            },
        )
    }

    /// 1-D convolution: `x [N, C, L]`, `weight [O, C/groups, k]` → `[N, O, L_out]`, as a 2-D
    /// convolution over a height of 1.
    #[track_caller]
    pub fn conv1d(
        &self,
        weight: &Var,
        bias: Option<&Var>,
        stride: usize,
        padding: usize,
        dilation: usize,
        groups: usize,
    ) -> Result<Var> {
        if self.shape().len() != 3 || weight.shape().len() != 3 {
            return Err(Error::shape(
                "conv1d",
                &[&self.shape(), &weight.shape()],
                "expected input [N, C, L] and weight [O, C/groups, k]",
            ));
        }
        let window = Window { stride: [1, stride], padding: [0, padding], dilation: [1, dilation] };
        self.unsqueeze(2)?.conv2d(&weight.unsqueeze(2)?, bias, window, groups)?.squeeze(2)
    }
}

impl Var {
    /// 2-D transposed convolution (the adjoint of `conv2d` with respect to its input, as
    /// `torch.nn.functional.conv_transpose2d`): `x [N, Cin, H, W]`, `weight [Cin, Cout/groups,
    /// kh, kw]`, optional `bias [Cout]` → `[N, Cout, H_out, W_out]` with
    /// `H_out = (H − 1)·stride − 2·padding + dilation·(kh − 1) + output_padding + 1`.
    ///
    /// It is [`Var::conv2d_input_grad`] of `x` by `weight` (read as a convolution weight
    /// `[O = Cin, C/groups = Cout/groups, kh, kw]`): each input pixel spreads its weighted value
    /// over a window of the output, summed where windows overlap. `output_padding` (smaller than the stride or
    /// the dilation) picks among the output sizes that a strided convolution maps to the same
    /// input size.
    #[track_caller]
    pub fn conv_transpose2d(
        &self,
        weight: &Var,
        bias: Option<&Var>,
        window: Window,
        output_padding: [usize; 2],
        groups: usize,
    ) -> Result<Var> {
        let (xs, ws) = (self.shape(), weight.shape());
        let bad = |reason: String| Error::shape("conv_transpose2d", &[&xs, &ws], reason);
        let [n, cin, h, w] = xs[..] else { return Err(bad("input must be [N, Cin, H, W]".into())) };
        let [wc, og, kh, kw] = ws[..] else { return Err(bad("weight must be [Cin, Cout/groups, kh, kw]".into())) };
        if groups == 0 || wc != cin || cin % groups != 0 {
            return Err(bad(format!(
                "weight must be [{cin}, Cout/groups, kh, kw] with Cin divisible by {groups} groups"
            )));
        }
        for a in 0..2 {
            if output_padding[a] >= window.stride[a].max(window.dilation[a]) {
                return Err(bad(format!(
                    "output_padding {output_padding:?} must be smaller than the stride or the dilation"
                )));
            }
        }
        let cout = og * groups;
        if let Some(b) = bias {
            if b.shape() != [cout] {
                return Err(Error::shape(
                    "conv_transpose2d",
                    &[&xs, &ws, &b.shape()],
                    format!("bias must be [{cout}]"),
                ));
            }
        }
        let out_len = |i: usize, a: usize, k: usize| -> Option<usize> {
            (i.checked_sub(1)? * window.stride[a] + window.dilation[a] * (k - 1) + output_padding[a] + 1)
                .checked_sub(2 * window.padding[a])
                .filter(|&o| o > 0)
        };
        let (Some(ho), Some(wo)) = (out_len(h, 0, kh), out_len(w, 1, kw)) else {
            return Err(bad("the padding removes the whole output".into()));
        };
        // A window over the [ho, wo] output has (H + ⌊op/stride⌋) × (W + …) positions when the
        // output padding reaches past a stride; the positions beyond the input's H × W receive
        // nothing, so the input is padded with zeros up to that size.
        let g = window.geometry("conv_transpose2d", &[n, cout, ho, wo], [kh, kw])?;
        let (ph, pw) = g.output_size().unwrap_or((h, w));
        let x = if (ph, pw) == (h, w) { self.clone() } else { self.pad(2, 0, ph - h)?.pad(3, 0, pw - w)? };
        let mut y = x.conv2d_input_grad(weight, [ho, wo], window, groups)?;
        if let Some(b) = bias {
            y = y.add(&b.reshape(&[1, cout, 1, 1])?)?;
        }
        Ok(y)
    }
}
