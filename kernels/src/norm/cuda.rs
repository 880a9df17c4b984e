//! CUDA launchers for `norm.cu`: training-mode batch normalisation, forward and backward (the
//! twins of [`super::batch_norm_forward`] and [`super::batch_norm_backward`]).

use super::ChannelLayout;
use crate::cuda::{launch, GpuBuffer, GpuError, GpuFloat};
use cudarc::driver::LaunchConfig;

/// Three device buffers: `(y or ∂x, mean or ∂γ, var or ∂β)`.
pub type ThreeBuffers<T> = (GpuBuffer<T>, GpuBuffer<T>, GpuBuffer<T>);

/// Errors unless every buffer holds at least its length.
fn check_lens<T: GpuFloat>(kernel: &'static str, buffers: &[(&GpuBuffer<T>, usize)]) -> Result<(), GpuError> {
    for (buf, need) in buffers {
        if buf.len() < *need {
            return Err(GpuError::Invalid {
                kernel,
                message: format!("a buffer of {} values, {need} needed", buf.len()),
            });
        }
    }
    Ok(())
}

/// One block of 256 threads per channel (the kernels loop when there are more than 65,535).
fn per_channel(c: usize) -> LaunchConfig {
    LaunchConfig { grid_dim: (c.clamp(1, 65_535) as u32, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 }
}

/// `(y, mean, var)` of a training-mode batch norm of dense `x` laid out as `lay`: `y` as `x`,
/// the per-channel mean and population variance `[C]`.
pub fn batch_norm_forward<T: GpuFloat>(
    x: &GpuBuffer<T>,
    lay: ChannelLayout,
    gamma: &GpuBuffer<T>,
    beta: &GpuBuffer<T>,
    eps: f64,
) -> Result<ThreeBuffers<T>, GpuError> {
    let kernel = "batch_norm_forward";
    check_lens(kernel, &[(x, lay.len()), (gamma, lay.c), (beta, lay.c)])?;
    let gpu = x.gpu().clone();
    let mut y = GpuBuffer::<T>::alloc(&gpu, lay.len())?;
    let (mut mean, mut var) = (GpuBuffer::<T>::alloc(&gpu, lay.c)?, GpuBuffer::<T>::alloc(&gpu, lay.c)?);
    if lay.c == 0 {
        return Ok((y, mean, var));
    }
    if lay.n * lay.s == 0 {
        // No values: the CPU kernel's statistics of an empty sum, zeros.
        return Ok((y, GpuBuffer::zeros(&gpu, lay.c)?, GpuBuffer::zeros(&gpu, lay.c)?));
    }
    if lay.c > i32::MAX as usize {
        return Err(GpuError::Invalid { kernel, message: format!("too many channels: {lay:?}") });
    }
    let (n, c, s) = (lay.n as i64, lay.c as i32, lay.s as i64);
    let (mut vy, mut vm, mut vv, vx, vg, vb) =
        (y.view_mut(), mean.view_mut(), var.view_mut(), x.view(), gamma.view(), beta.view());
    // SAFETY: `batch_norm_forward_<T>(T* y, T* mean, T* var, const T* x, const T* gamma, const T*
    // beta, i64 n, int c, i64 s, double eps)`; x and y hold n·c·s values, the per-channel
    // buffers c (checked above).
    unsafe {
        launch!(
            gpu,
            "norm",
            format!("{kernel}_{}", T::SUFFIX),
            per_channel(lay.c),
            [&mut vy, &mut vm, &mut vv, &vx, &vg, &vb, &n, &c, &s, &eps]
        )
    }?;
    Ok((y, mean, var))
}

/// `(∂x, ∂γ, ∂β)` of a training-mode batch norm at `x`, given the output gradient `g` and the
/// saved `mean` and `var`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward<T: GpuFloat>(
    x: &GpuBuffer<T>,
    g: &GpuBuffer<T>,
    lay: ChannelLayout,
    gamma: &GpuBuffer<T>,
    mean: &GpuBuffer<T>,
    var: &GpuBuffer<T>,
    eps: f64,
) -> Result<ThreeBuffers<T>, GpuError> {
    let kernel = "batch_norm_backward";
    check_lens(kernel, &[(x, lay.len()), (g, lay.len()), (gamma, lay.c), (mean, lay.c), (var, lay.c)])?;
    let gpu = x.gpu().clone();
    let mut gx = GpuBuffer::<T>::alloc(&gpu, lay.len())?;
    let (mut gw, mut gb) = (GpuBuffer::<T>::alloc(&gpu, lay.c)?, GpuBuffer::<T>::alloc(&gpu, lay.c)?);
    if lay.c == 0 {
        return Ok((gx, gw, gb));
    }
    if lay.n * lay.s == 0 {
        return Ok((gx, GpuBuffer::zeros(&gpu, lay.c)?, GpuBuffer::zeros(&gpu, lay.c)?));
        // empty sums
    }
    if lay.c > i32::MAX as usize {
        return Err(GpuError::Invalid { kernel, message: format!("too many channels: {lay:?}") });
    }
    let (n, c, s) = (lay.n as i64, lay.c as i32, lay.s as i64);
    let (mut vx_out, mut vw, mut vb) = (gx.view_mut(), gw.view_mut(), gb.view_mut());
    let (vx, vg, vgamma, vm, vv) = (x.view(), g.view(), gamma.view(), mean.view(), var.view());
    // SAFETY: `batch_norm_backward_<T>(T* gx, T* ggamma, T* gbeta, const T* x, const T* g, const
    // T* gamma, const T* mean, const T* var, i64 n, int c, i64 s, double eps)`; x, g and gx hold
    // n·c·s values, the per-channel buffers c (checked above).
    unsafe {
        launch!(
            gpu,
            "norm",
            format!("{kernel}_{}", T::SUFFIX),
            per_channel(lay.c),
            [&mut vx_out, &mut vw, &mut vb, &vx, &vg, &vgamma, &vm, &vv, &n, &c, &s, &eps]
        )
    }?;
    Ok((gx, gw, gb))
}

/// One block per row (the kernels loop when there are more than 65,535 rows).
fn per_row(rows: usize) -> LaunchConfig {
    per_channel(rows)
}

/// `(y, mean, rstd)` of a layer norm of each `n`-long row of dense `x` (the twin of
/// [`super::layer_norm_forward`]): `y` as `x`, one mean and `1/√(σ² + ε)` per row.
pub fn layer_norm_forward<T: GpuFloat>(
    x: &GpuBuffer<T>,
    n: usize,
    gamma: &GpuBuffer<T>,
    beta: &GpuBuffer<T>,
    eps: f64,
) -> Result<ThreeBuffers<T>, GpuError> {
    let kernel = "layer_norm_forward";
    if n == 0 || !x.len().is_multiple_of(n) {
        return Err(GpuError::Invalid { kernel, message: format!("{} values are not rows of {n}", x.len()) });
    }
    let rows = x.len() / n;
    check_lens(kernel, &[(gamma, n), (beta, n)])?;
    let gpu = x.gpu().clone();
    let mut y = GpuBuffer::<T>::alloc(&gpu, x.len())?;
    let (mut mean, mut rstd) = (GpuBuffer::<T>::alloc(&gpu, rows)?, GpuBuffer::<T>::alloc(&gpu, rows)?);
    if rows == 0 {
        return Ok((y, mean, rstd));
    }
    let (r, ni) = (rows as i64, n as i64);
    let (mut vy, mut vm, mut vr) = (y.view_mut(), mean.view_mut(), rstd.view_mut());
    let (vx, vg, vb) = (x.view(), gamma.view(), beta.view());
    // SAFETY: `layer_norm_forward_<T>(T* y, T* mean, T* rstd, const T* x, const T* gamma, const
    // T* beta, i64 rows, i64 n, double eps)`; x and y hold rows·n values, mean and rstd rows,
    // gamma and beta n (checked above).
    unsafe {
        launch!(
            gpu,
            "norm",
            format!("{kernel}_{}", T::SUFFIX),
            per_row(rows),
            [&mut vy, &mut vm, &mut vr, &vx, &vg, &vb, &r, &ni, &eps]
        )
    }?;
    Ok((y, mean, rstd))
}

/// `(∂x, ∂γ, ∂β)` of a layer norm at `x` with the saved row `mean` and `rstd`, given the output
/// gradient `g` (the twin of [`super::layer_norm_backward`]).
pub fn layer_norm_backward<T: GpuFloat>(
    x: &GpuBuffer<T>,
    g: &GpuBuffer<T>,
    n: usize,
    gamma: &GpuBuffer<T>,
    mean: &GpuBuffer<T>,
    rstd: &GpuBuffer<T>,
) -> Result<ThreeBuffers<T>, GpuError> {
    let kernel = "layer_norm_backward";
    if n == 0 || !x.len().is_multiple_of(n) {
        return Err(GpuError::Invalid { kernel, message: format!("{} values are not rows of {n}", x.len()) });
    }
    let rows = x.len() / n;
    check_lens(kernel, &[(g, x.len()), (gamma, n), (mean, rows), (rstd, rows)])?;
    let gpu = x.gpu().clone();
    let mut gx = GpuBuffer::<T>::alloc(&gpu, x.len())?;
    if rows == 0 {
        return Ok((gx, GpuBuffer::zeros(&gpu, n)?, GpuBuffer::zeros(&gpu, n)?));
    }
    let (mut gw, mut gb) = (GpuBuffer::<T>::alloc(&gpu, n)?, GpuBuffer::<T>::alloc(&gpu, n)?);
    let (r, ni) = (rows as i64, n as i64);
    let (vx, vg, vgamma, vm, vr) = (x.view(), g.view(), gamma.view(), mean.view(), rstd.view());
    let mut vgx = gx.view_mut();
    // SAFETY: `layer_norm_input_grad_<T>(T* gx, const T* x, const T* g, const T* gamma, const T*
    // mean, const T* rstd, i64 rows, i64 n)`; x, g and gx hold rows·n values, gamma n, mean and
    // rstd rows (checked above).
    unsafe {
        launch!(
            gpu,
            "norm",
            format!("layer_norm_input_grad_{}", T::SUFFIX),
            per_row(rows),
            [&mut vgx, &vx, &vg, &vgamma, &vm, &vr, &r, &ni]
        )
    }?;
    let (mut vw, mut vb) = (gw.view_mut(), gb.view_mut());
    // SAFETY: `layer_norm_param_grads_<T>(T* ggamma, T* gbeta, const T* x, const T* g, const T*
    // mean, const T* rstd, i64 rows, i64 n)`; ggamma and gbeta hold n values, the rest as above.
    unsafe {
        launch!(
            gpu,
            "norm",
            format!("layer_norm_param_grads_{}", T::SUFFIX),
            crate::cuda::grid_for(n, 65_535),
            [&mut vw, &mut vb, &vx, &vg, &vm, &vr, &r, &ni]
        )
    }?;
    Ok((gx, gw, gb))
}
