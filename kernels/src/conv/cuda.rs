//! CUDA launchers for `conv.cu`: `im2col`, `col2im`, and `conv2d` with its two gradients as
//! implicit GEMMs (the twins of [`super::im2col`], [`super::col2im`], [`super::conv2d`],
//! [`super::conv2d_input_grad`] and [`super::conv2d_weight_grad`]). Every operand is a dense
//! buffer read from its start.

use super::{Conv2dGeometry, Window2d};
use crate::cuda::{grid_for, launch, GpuBuffer, GpuError, GpuFloat};
use cudarc::driver::LaunchConfig;

/// The shape of one convolution as the kernels take it (the twin of `struct ConvShape` in
/// `conv.cu`, field for field).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ConvShape {
    n: i32,
    c: i32,
    h: i32,
    w: i32,
    o: i32,
    groups: i32,
    kh: i32,
    kw: i32,
    sh: i32,
    sw: i32,
    ph: i32,
    pw: i32,
    dh: i32,
    dw: i32,
    oh: i32,
    ow: i32,
}

// SAFETY: `ConvShape` is `#[repr(C)]`, `Copy`, holds only `i32`s, and matches the field order and
// types of `struct ConvShape` in conv.cu, so its bytes are a valid kernel argument.
unsafe impl cudarc::driver::DeviceRepr for ConvShape {}

impl ConvShape {
    /// The kernel-side shape of `g` with `o` output channels in `groups` groups. Errors when the
    /// window does not fit or a size (or an index the kernels form in 32 bits: `N·OH·OW`,
    /// `C·kh·kw`, `O·kh·kw`, `H·W`) exceeds `i32`.
    fn new(kernel: &'static str, g: &Window2d, o: usize, groups: usize) -> Result<ConvShape, GpuError> {
        let invalid = |message: String| GpuError::Invalid { kernel, message };
        let (oh, ow) = g.output_size().ok_or_else(|| invalid(format!("the window does not fit: {g:?}")))?;
        if groups == 0 || !g.c.is_multiple_of(groups) || !o.is_multiple_of(groups) {
            return Err(invalid(format!("{} input and {o} output channels in {groups} groups", g.c)));
        }
        let taps = g.kernel[0] * g.kernel[1];
        let wide = [g.n * oh * ow, g.c * taps, o * taps, g.h * g.w, g.n * g.c, g.n * o];
        let fits = |v: usize| i32::try_from(v).is_ok();
        if !wide.into_iter().all(fits) {
            return Err(invalid(format!("sizes exceed the kernels' 32-bit indices: {g:?}, {o} outputs")));
        }
        let i = |v: usize| v as i32;
        Ok(ConvShape {
            n: i(g.n),
            c: i(g.c),
            h: i(g.h),
            w: i(g.w),
            o: i(o),
            groups: i(groups),
            kh: i(g.kernel[0]),
            kw: i(g.kernel[1]),
            sh: i(g.stride[0]),
            sw: i(g.stride[1]),
            ph: i(g.padding[0]),
            pw: i(g.padding[1]),
            dh: i(g.dilation[0]),
            dw: i(g.dilation[1]),
            oh: i(oh),
            ow: i(ow),
        })
    }

    fn of(kernel: &'static str, geo: &Conv2dGeometry) -> Result<ConvShape, GpuError> {
        ConvShape::new(kernel, &geo.window, geo.out_channels, geo.groups)
    }
}

/// Errors unless `buf` holds at least `need` elements.
fn check_len<T: GpuFloat>(kernel: &'static str, what: &str, buf: &GpuBuffer<T>, need: usize) -> Result<(), GpuError> {
    if buf.len() < need {
        return Err(GpuError::Invalid { kernel, message: format!("{what} holds {} values, {need} needed", buf.len()) });
    }
    Ok(())
}

/// The grid of 64×64 tiles for an `m × n` product repeated `z` times (z capped at the grid's
/// limit: the kernels loop over the rest).
fn tiles(m: usize, n: usize, z: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (n.div_ceil(64) as u32, m.div_ceil(64) as u32, z.clamp(1, 65_535) as u32),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Columns `[N, C·kh·kw, OH·OW]` of dense `[N, C, H, W]` images, `pad` in the padding.
pub fn im2col<T: GpuFloat>(x: &GpuBuffer<T>, g: &Window2d, pad: T) -> Result<GpuBuffer<T>, GpuError> {
    let s = ConvShape::new("im2col", g, g.c, 1)?;
    check_len("im2col", "the input", x, g.n * g.c * g.h * g.w)?;
    let (oh, ow) = (s.oh as usize, s.ow as usize);
    let n = g.n * g.col_rows() * oh * ow;
    let gpu = x.gpu().clone();
    let mut out = GpuBuffer::<T>::alloc(&gpu, n)?;
    if n == 0 {
        return Ok(out);
    }
    let (mut o, vx) = (out.view_mut(), x.view());
    // SAFETY: `im2col_<T>(T* cols, const T* x, ConvShape s, T pad)`; `out` holds the n column
    // values the kernel writes, and it reads only pixels inside the checked `[N, C, H, W]` input.
    unsafe { launch!(gpu, "conv", format!("im2col_{}", T::SUFFIX), grid_for(n, 65_535), [&mut o, &vx, &s, &pad]) }?;
    Ok(out)
}

/// Images `[N, C, H, W]` from columns `[N, C·kh·kw, OH·OW]`, summed where windows overlap.
pub fn col2im<T: GpuFloat>(cols: &GpuBuffer<T>, g: &Window2d) -> Result<GpuBuffer<T>, GpuError> {
    let s = ConvShape::new("col2im", g, g.c, 1)?;
    check_len("col2im", "the columns", cols, g.n * g.col_rows() * s.oh as usize * s.ow as usize)?;
    let n = g.n * g.c * g.h * g.w;
    let gpu = cols.gpu().clone();
    let mut out = GpuBuffer::<T>::alloc(&gpu, n)?;
    if n == 0 {
        return Ok(out);
    }
    let (mut o, vc) = (out.view_mut(), cols.view());
    // SAFETY: `col2im_<T>(T* x, const T* cols, ConvShape s)`; `out` holds the n pixels written,
    // and every column index the kernel forms is inside the checked columns.
    unsafe { launch!(gpu, "conv", format!("col2im_{}", T::SUFFIX), grid_for(n, 65_535), [&mut o, &vc, &s]) }?;
    Ok(out)
}

/// `y = conv2d(x, w)`: `[N, O, OH, OW]` from images `[N, C, H, W]` and weights `[O, C/G, kh, kw]`.
pub fn conv2d<T: GpuFloat>(x: &GpuBuffer<T>, w: &GpuBuffer<T>, geo: &Conv2dGeometry) -> Result<GpuBuffer<T>, GpuError> {
    let kernel = "conv2d_forward";
    let s = ConvShape::of(kernel, geo)?;
    check_len(kernel, "the input", x, geo.input_len())?;
    check_len(kernel, "the weight", w, geo.weight_len())?;
    let gpu = x.gpu().clone();
    let mut y = GpuBuffer::<T>::alloc(&gpu, geo.output_len())?;
    if geo.output_len() == 0 {
        return Ok(y);
    }
    if geo.weight_len() == 0 {
        return GpuBuffer::zeros(&gpu, geo.output_len()); // an empty sum
    }
    let cfg = tiles(geo.out_channels / geo.groups, (s.oh * s.ow) as usize, geo.window.n * geo.groups);
    let (mut vy, vx, vw) = (y.view_mut(), x.view(), w.view());
    // SAFETY: `conv2d_forward_<T>(T* y, const T* x, const T* w, ConvShape s)`; the three buffers
    // hold the output, input and weight of the checked shape, the only indices the kernel forms.
    unsafe { launch!(gpu, "conv", format!("{kernel}_{}", T::SUFFIX), cfg, [&mut vy, &vx, &vw, &s]) }?;
    Ok(y)
}

/// `∂x = conv2d_input_grad(gy, w)`: `[N, C, H, W]` from the output gradient `[N, O, OH, OW]`.
pub fn conv2d_input_grad<T: GpuFloat>(
    gy: &GpuBuffer<T>,
    w: &GpuBuffer<T>,
    geo: &Conv2dGeometry,
) -> Result<GpuBuffer<T>, GpuError> {
    let kernel = "conv2d_input_grad";
    let s = ConvShape::of(kernel, geo)?;
    check_len(kernel, "the output gradient", gy, geo.output_len())?;
    check_len(kernel, "the weight", w, geo.weight_len())?;
    let gpu = gy.gpu().clone();
    let mut gx = GpuBuffer::<T>::alloc(&gpu, geo.input_len())?;
    if geo.input_len() == 0 {
        return Ok(gx);
    }
    if geo.weight_len() == 0 || geo.output_len() == 0 {
        return GpuBuffer::zeros(&gpu, geo.input_len());
    }
    let g = &geo.window;
    let cfg = tiles(g.c / geo.groups, g.h * g.w, g.n * geo.groups);
    let (mut vx, vg, vw) = (gx.view_mut(), gy.view(), w.view());
    // SAFETY: `conv2d_input_grad_<T>(T* gx, const T* gy, const T* w, ConvShape s)`; the buffers
    // hold the input gradient, output gradient and weight of the checked shape.
    unsafe { launch!(gpu, "conv", format!("{kernel}_{}", T::SUFFIX), cfg, [&mut vx, &vg, &vw, &s]) }?;
    Ok(gx)
}

/// Rough number of 64×64 tiles in flight that keeps a large GPU busy (132 SMs on an H100, a few
/// blocks each); the weight gradient's long sum is split into slices until there are this many.
const TARGET_BLOCKS: usize = 512;

/// `∂w = conv2d_weight_grad(x, gy)`: `[O, C/G, kh, kw]`. The sum over the batch and the output
/// positions (`N·OH·OW` terms) is split into slices computed by separate blocks, each writing
/// its partial sums, which are then added up in slice order (no atomics, so the result is the
/// same from run to run).
pub fn conv2d_weight_grad<T: GpuFloat>(
    x: &GpuBuffer<T>,
    gy: &GpuBuffer<T>,
    geo: &Conv2dGeometry,
) -> Result<GpuBuffer<T>, GpuError> {
    let kernel = "conv2d_weight_grad";
    let s = ConvShape::of(kernel, geo)?;
    check_len(kernel, "the input", x, geo.input_len())?;
    check_len(kernel, "the output gradient", gy, geo.output_len())?;
    let gpu = x.gpu().clone();
    let wlen = geo.weight_len();
    let sum_len = geo.window.n * (s.oh * s.ow) as usize; // N·OH·OW, checked to fit i32 above
    if wlen == 0 || sum_len == 0 {
        return GpuBuffer::zeros(&gpu, wlen);
    }
    let (m, n) = (geo.out_channels / geo.groups, wlen / geo.out_channels);
    let per_slice = m.div_ceil(64) * n.div_ceil(64) * geo.groups;
    // Slices of at least 256 terms (a multiple of the kernel's 8-wide k steps).
    let slices = (TARGET_BLOCKS / per_slice).clamp(1, sum_len.div_ceil(256).max(1));
    let slice_len = sum_len.div_ceil(slices).next_multiple_of(8);
    let slices = sum_len.div_ceil(slice_len);
    let mut part = GpuBuffer::<T>::alloc(&gpu, slices * wlen)?;
    let cfg = tiles(m, n, slices * geo.groups);
    let (slices_i, slice_len_i) = (slices as i32, slice_len as i32);
    let (mut vp, vx, vg) = (part.view_mut(), x.view(), gy.view());
    // SAFETY: `conv2d_weight_grad_<T>(T* part, const T* x, const T* gy, ConvShape s, int slices,
    // int slice_len)`; `part` holds `slices` weight-sized blocks, one per slice, and x and gy
    // hold the checked input and output gradient. Every slice's terms lie in 0..N·OH·OW.
    unsafe {
        launch!(gpu, "conv", format!("{kernel}_{}", T::SUFFIX), cfg, [&mut vp, &vx, &vg, &s, &slices_i, &slice_len_i])
    }?;
    if slices == 1 {
        return Ok(part);
    }
    crate::reduce::cuda::reduce(crate::reduce::ReduceOp::Sum, &part, 0, 1, slices, wlen)
}
