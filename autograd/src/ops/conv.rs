//! Convolution, built from `im2col`, a batched matmul and reshapes.
//!
//! `y = conv2d(x, w)` is `W · im2col(x)`: each column of `im2col(x)` is one receptive field, each
//! row of `W` (reshaped to `[O, C·kh·kw]`) one filter. Its gradients then come from the rules of
//! its parts: `∂W = g · im2col(x)ᵀ` (matmul's rule) and `∂x = col2im(Wᵀ · g)` (matmul's rule, then
//! im2col's). Because those rules are themselves differentiable, so is the convolution's
//! backward: double backward works with no extra code.

use crate::Var;
use ferrograd_tensor::{Error, Result, Window};

impl Var {
    /// Unfolds `[N, C, H, W]` into columns `[N, C·kh·kw, OH·OW]` (see `Tensor::im2col`) —
    /// `∂x = col2im(g)`: every column entry sends its gradient back to the pixel it copied
    /// (padding entries are constants and send nothing).
    pub fn im2col(&self, kernel: [usize; 2], window: Window, pad_value: f64) -> Result<Var> {
        let shape = self.shape();
        let y = self.value().im2col(kernel, window, pad_value)?;
        let size = [shape[2], shape[3]];
        Ok(Var::from_op("im2col", y, &[self], move |_, _, g| Ok(vec![Some(g.col2im(size, kernel, window)?)])))
    }

    /// Folds columns back onto `[N, C, H, W]` images, summing overlaps (see `Tensor::col2im`)
    /// — `∂cols = im2col(g)`, its adjoint.
    pub fn col2im(&self, size: [usize; 2], kernel: [usize; 2], window: Window) -> Result<Var> {
        let y = self.value().col2im(size, kernel, window)?;
        Ok(Var::from_op("col2im", y, &[self], move |_, _, g| Ok(vec![Some(g.im2col(kernel, window, 0.0)?)])))
    }

    /// 2-D convolution (cross-correlation, as PyTorch): `x [N, C, H, W]`, `weight
    /// [O, C/groups, kh, kw]`, optional `bias [O]` → `[N, O, OH, OW]`, with the window's stride,
    /// padding and dilation, and `groups` (`groups = C` is depthwise).
    pub fn conv2d(&self, weight: &Var, bias: Option<&Var>, window: Window, groups: usize) -> Result<Var> {
        let (xs, ws) = (self.shape(), weight.shape());
        let bad = |reason: String| Error::shape("conv2d", &[&xs, &ws], reason);
        let [n, c, _, _] = xs[..] else { return Err(bad("input must be [N, C, H, W]".into())) };
        let [o, cg, kh, kw] = ws[..] else { return Err(bad("weight must be [O, C/groups, kh, kw]".into())) };
        if groups == 0 || c % groups != 0 || o % groups != 0 || cg * groups != c {
            return Err(bad(format!(
                "{c} input and {o} output channels with {groups} groups need weight [{o}, {}, kh, kw]",
                c / groups.max(1)
            )));
        }
        if let Some(b) = bias {
            if b.shape() != [o] {
                return Err(Error::shape("conv2d", &[&xs, &ws, &b.shape()], format!("bias must be [{o}]")));
            }
        }
        let g = window.geometry("conv2d", &xs, [kh, kw])?;
        let (oh, ow) = g.output_size().unwrap_or((0, 0));
        // [N, C·kh·kw, L] → [N, groups, C/groups·kh·kw, L];  W → [groups, O/groups, C/groups·kh·kw]
        let cols = self.im2col([kh, kw], window, 0.0)?.reshape(&[n, groups, cg * kh * kw, oh * ow])?;
        let w = weight.reshape(&[groups, o / groups, cg * kh * kw])?;
        let mut y = w.matmul(&cols)?.reshape(&[n, o, oh, ow])?; // [groups] broadcasts against [N, groups]
        if let Some(b) = bias {
            y = y.add(&b.reshape(&[1, o, 1, 1])?)?;
        }
        Ok(y)
    }

    /// 1-D convolution: `x [N, C, L]`, `weight [O, C/groups, k]` → `[N, O, L_out]`, as a 2-D
    /// convolution over a height of 1.
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
    /// Built as `col2im(Wᵀ · x)`: each input pixel spreads its `Wᵀ`-weighted value over a window
    /// of the output, summed where windows overlap. `output_padding` (smaller than the stride or
    /// the dilation) picks among the output sizes that a strided convolution maps to the same
    /// input size.
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
        let cg = cin / groups;
        // Wᵀ per group: [groups, Cout/groups·kh·kw, Cin/groups]; x: [N, groups, Cin/groups, H·W].
        let wt = weight.reshape(&[groups, cg, og * kh * kw])?.transpose(1, 2)?;
        let rows = cout * kh * kw;
        let cols = wt.matmul(&self.reshape(&[n, groups, cg, h * w])?)?.reshape(&[n, rows, h, w])?;
        // A window over the [ho, wo] output has (H + ⌊op/stride⌋) × (W + …) positions; the
        // positions beyond the input's H × W receive nothing: zero columns.
        let g = window.geometry("conv_transpose2d", &[n, cout, ho, wo], [kh, kw])?;
        let (ph, pw) = g.output_size().unwrap_or((h, w));
        let cols = cols.pad(2, 0, ph - h)?.pad(3, 0, pw - w)?.reshape(&[n, rows, ph * pw])?;
        let mut y = cols.col2im([ho, wo], [kh, kw], window)?;
        if let Some(b) = bias {
            y = y.add(&b.reshape(&[1, cout, 1, 1])?)?;
        }
        Ok(y)
    }
}
