//! Convolution and pooling layers.

use crate::Module;
use ferrograd_autograd::{DType, Error, Result, Rng, Var, Window};

/// A 2-D convolution layer over `[N, C, H, W]` inputs (as `torch.nn.Conv2d`, including its default
/// initialisation `U(−1/√fan_in, 1/√fan_in)` with `fan_in = C/groups · kh · kw`).
pub struct Conv2d {
    /// `[out_channels, in_channels / groups, kh, kw]`
    pub weight: Var,
    /// `[out_channels]`, if the layer has a bias.
    pub bias: Option<Var>,
    /// Stride, padding and dilation.
    pub window: Window,
    /// Channel groups (`in_channels` for a depthwise convolution).
    pub groups: usize,
}

impl Conv2d {
    /// A layer with PyTorch's default initialisation, drawn from `rng`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        window: Window,
        groups: usize,
        bias: bool,
        dtype: DType,
        rng: &mut Rng,
    ) -> Result<Conv2d> {
        let shape = [out_channels, in_channels / groups.max(1), kernel[0], kernel[1]];
        let (weight, bias) = init("Conv2d", in_channels, out_channels, groups, shape, bias, dtype, rng)?;
        Ok(Conv2d { weight, bias, window, groups })
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Var) -> Result<Var> {
        x.conv2d(&self.weight, self.bias.as_ref(), self.window, self.groups)
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        super::weight_and_bias(&self.weight, self.bias.as_ref())
    }
}

/// A 1-D convolution layer over `[N, C, L]` inputs (as `torch.nn.Conv1d`, including its default
/// initialisation, `fan_in = C/groups · k`). It runs as a 2-D convolution over a height of 1.
pub struct Conv1d {
    /// `[out_channels, in_channels / groups, k]`
    pub weight: Var,
    /// `[out_channels]`, if the layer has a bias.
    pub bias: Option<Var>,
    /// Step between windows.
    pub stride: usize,
    /// Implicit zero padding on both ends.
    pub padding: usize,
    /// Spacing between kernel taps.
    pub dilation: usize,
    /// Channel groups (`in_channels` for a depthwise convolution).
    pub groups: usize,
}

impl Conv1d {
    /// A layer with PyTorch's default initialisation, drawn from `rng`; `window` gives
    /// `[stride, padding, dilation]`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        [stride, padding, dilation]: [usize; 3],
        groups: usize,
        bias: bool,
        dtype: DType,
        rng: &mut Rng,
    ) -> Result<Conv1d> {
        let shape = [out_channels, in_channels / groups.max(1), 1, kernel];
        let (weight, bias) = init("Conv1d", in_channels, out_channels, groups, shape, bias, dtype, rng)?;
        let weight = Var::parameter(weight.value().reshape(&[shape[0], shape[1], kernel])?);
        Ok(Conv1d { weight, bias, stride, padding, dilation, groups })
    }
}

impl Module for Conv1d {
    fn forward(&self, x: &Var) -> Result<Var> {
        x.conv1d(&self.weight, self.bias.as_ref(), self.stride, self.padding, self.dilation, self.groups)
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        super::weight_and_bias(&self.weight, self.bias.as_ref())
    }
}

/// A 2-D transposed convolution layer (as `torch.nn.ConvTranspose2d`, including its default
/// initialisation with `fan_in = out_channels / groups · kh · kw`, PyTorch's choice for this
/// layer's `[in, out/groups, kh, kw]` weight).
pub struct ConvTranspose2d {
    /// `[in_channels, out_channels / groups, kh, kw]`
    pub weight: Var,
    /// `[out_channels]`, if the layer has a bias.
    pub bias: Option<Var>,
    /// Stride, padding and dilation.
    pub window: Window,
    /// Extra rows/columns at the bottom/right of the output.
    pub output_padding: [usize; 2],
    /// Channel groups.
    pub groups: usize,
}

impl ConvTranspose2d {
    /// A layer with PyTorch's default initialisation, drawn from `rng`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        window: Window,
        output_padding: [usize; 2],
        groups: usize,
        bias: bool,
        dtype: DType,
        rng: &mut Rng,
    ) -> Result<ConvTranspose2d> {
        let shape = [in_channels, out_channels / groups.max(1), kernel[0], kernel[1]];
        let (weight, bias) = init("ConvTranspose2d", in_channels, out_channels, groups, shape, bias, dtype, rng)?;
        Ok(ConvTranspose2d { weight, bias, window, output_padding, groups })
    }
}

impl Module for ConvTranspose2d {
    fn forward(&self, x: &Var) -> Result<Var> {
        x.conv_transpose2d(&self.weight, self.bias.as_ref(), self.window, self.output_padding, self.groups)
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        super::weight_and_bias(&self.weight, self.bias.as_ref())
    }
}

/// Checks the channel groups and draws a convolution's weight of `shape` and its optional bias
/// `[out_channels]` from PyTorch's default `U(−1/√fan_in, 1/√fan_in)`, with `fan_in` the
/// product of the weight's dims after the first (`C/groups·kh·kw`, or `Cout/groups·kh·kw` for a
/// transposed convolution, as PyTorch computes it).
#[allow(clippy::too_many_arguments)]
fn init(
    op: &'static str,
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    shape: [usize; 4],
    bias: bool,
    dtype: DType,
    rng: &mut Rng,
) -> Result<(Var, Option<Var>)> {
    if groups == 0 || !in_channels.is_multiple_of(groups) || !out_channels.is_multiple_of(groups) {
        return Err(Error::invalid(
            op,
            format!("{in_channels} input and {out_channels} output channels are not divisible into {groups} groups"),
        ));
    }
    let fan_in = shape[1..].iter().product();
    let weight = Var::parameter(rng.linear_init(&shape, fan_in, dtype)?);
    let bias = if bias { Some(Var::parameter(rng.linear_init(&[out_channels], fan_in, dtype)?)) } else { None };
    Ok((weight, bias))
}

/// Max pooling over `kernel` windows (PyTorch's default stride is the kernel size).
#[derive(Clone, Copy, Debug)]
pub struct MaxPool2d {
    /// Window size.
    pub kernel: [usize; 2],
    /// Stride, padding and dilation.
    pub window: Window,
}

impl MaxPool2d {
    /// Non-overlapping `k × k` windows (stride `k`).
    pub fn new(k: usize) -> Self {
        MaxPool2d { kernel: [k, k], window: Window::default().stride(k) }
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Var) -> Result<Var> {
        x.max_pool2d(self.kernel, self.window)
    }
    fn named_parameters(&self) -> Vec<(String, Var)> {
        Vec::new()
    }
}

/// Average pooling over `kernel` windows (padding counts as zeros).
#[derive(Clone, Copy, Debug)]
pub struct AvgPool2d {
    /// Window size.
    pub kernel: [usize; 2],
    /// Stride, padding and dilation.
    pub window: Window,
}

impl AvgPool2d {
    /// Non-overlapping `k × k` windows (stride `k`).
    pub fn new(k: usize) -> Self {
        AvgPool2d { kernel: [k, k], window: Window::default().stride(k) }
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Var) -> Result<Var> {
        x.avg_pool2d(self.kernel, self.window)
    }
    fn named_parameters(&self) -> Vec<(String, Var)> {
        Vec::new()
    }
}

/// Flattens every dimension after the first: `[N, …] → [N, ∏…]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, x: &Var) -> Result<Var> {
        let s = x.shape();
        if s.is_empty() {
            return Err(Error::shape("Flatten", &[&s], "needs at least one dimension"));
        }
        x.reshape(&[s[0], s[1..].iter().product()])
    }
    fn named_parameters(&self) -> Vec<(String, Var)> {
        Vec::new()
    }
}

/// Splits the features of `[N, F]` into `shape` (whose product must be `F`): `[N, F] → [N, shape…]`,
/// the inverse of [`Flatten`] (as `torch.nn.Unflatten(1, shape)`). A decoder's dense layer
/// becomes feature maps this way.
#[derive(Clone, Debug)]
pub struct Unflatten(pub Vec<usize>);

impl Module for Unflatten {
    fn forward(&self, x: &Var) -> Result<Var> {
        let s = x.shape();
        let features: usize = self.0.iter().product();
        if s.len() != 2 || s[1] != features {
            return Err(Error::shape(
                "Unflatten",
                &[&s],
                format!("expected [N, {features}] to split into {:?}", self.0),
            ));
        }
        let mut shape = vec![s[0]];
        shape.extend(&self.0);
        x.reshape(&shape)
    }
    fn named_parameters(&self) -> Vec<(String, Var)> {
        Vec::new()
    }
}
