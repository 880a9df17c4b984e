//! CUDA launchers for `index.cu`: `gather` and `scatter_add` along one dim.

use crate::cuda::{grid_for, launch, GpuBuffer, GpuElement, GpuError, GpuFloat, Layout};

/// Checks what the kernels rely on: the index has the source's rank, `dim` is inside it, every
/// other dim of the index fits the source's, every index value is in `0..x_shape[dim]`, and the
/// buffers hold their shapes.
fn check(
    kernel: &'static str,
    x_shape: &[usize],
    x_len: usize,
    dim: usize,
    idx: &[i64],
    idx_shape: &[usize],
) -> Result<(), GpuError> {
    let invalid = |message: String| Err(GpuError::Invalid { kernel, message });
    if idx_shape.len() != x_shape.len() || dim >= x_shape.len() {
        return invalid(format!("index shape {idx_shape:?} for a tensor of shape {x_shape:?} along dim {dim}"));
    }
    if idx_shape.iter().zip(x_shape).enumerate().any(|(d, (&i, &x))| d != dim && i > x) {
        return invalid(format!("index shape {idx_shape:?} exceeds {x_shape:?} outside dim {dim}"));
    }
    if idx.len() != idx_shape.iter().product::<usize>() || x_len < x_shape.iter().product::<usize>() {
        return invalid("buffer lengths do not match the shapes".into());
    }
    if let Some(&bad) = idx.iter().find(|&&i| i < 0 || i as usize >= x_shape[dim]) {
        return invalid(format!("index {bad} out of range for size {}", x_shape[dim]));
    }
    Ok(())
}

/// `out[p] = src[p with coordinate dim := idx[p]]` for every p of the index's shape (the twin of
/// [`super::gather`]). `src` is dense with `src_shape`; `idx` holds the checked index values on
/// the host (they are copied to the device with the launch).
pub fn gather<T: GpuElement>(
    src: &GpuBuffer<T>,
    src_shape: &[usize],
    dim: usize,
    idx: &[i64],
    idx_shape: &[usize],
) -> Result<GpuBuffer<T>, GpuError> {
    check("gather", src_shape, src.len(), dim, idx, idx_shape)?;
    let gpu = src.gpu().clone();
    let mut out = GpuBuffer::<T>::alloc(&gpu, idx.len())?;
    if idx.is_empty() {
        return Ok(out);
    }
    let dev_idx = GpuBuffer::from_host(&gpu, idx)?;
    let (ishape, xshape) = (shape_layout(idx_shape)?, shape_layout(src_shape)?);
    let (n, d) = (idx.len() as i64, dim as i32);
    let (mut o, s, i) = (out.view_mut(), src.view(), dev_idx.view());
    // SAFETY: `gather_<T>(T* out, const T* src, const i64* idx, i64 n, Layout ishape, Layout
    // xshape, int dim)`; `check` proved every offset the kernel forms is inside `src`, and `out`
    // and `idx` hold n values.
    unsafe {
        launch!(
            gpu,
            "index",
            format!("gather_{}", T::SUFFIX),
            grid_for(idx.len(), 65_535),
            [&mut o, &s, &i, &n, &ishape, &xshape, &d]
        )
    }?;
    Ok(out)
}

/// `dst[p with coordinate dim := idx[p]] += src[p]` in place (the twin of
/// [`super::scatter_add`]). `dst` is dense with `dst_shape`; `src` has the index's shape.
pub fn scatter_add<T: GpuFloat>(
    dst: &mut GpuBuffer<T>,
    dst_shape: &[usize],
    dim: usize,
    idx: &[i64],
    idx_shape: &[usize],
    src: &GpuBuffer<T>,
) -> Result<(), GpuError> {
    check("scatter_add", dst_shape, dst.len(), dim, idx, idx_shape)?;
    if src.len() < idx.len() {
        return Err(GpuError::Invalid {
            kernel: "scatter_add",
            message: format!("{} source values for {} indices", src.len(), idx.len()),
        });
    }
    if idx.is_empty() {
        return Ok(());
    }
    let gpu = dst.gpu().clone();
    let dev_idx = GpuBuffer::from_host(&gpu, idx)?;
    let (ishape, xshape) = (shape_layout(idx_shape)?, shape_layout(dst_shape)?);
    let (n, d) = (idx.len() as i64, dim as i32);
    let (mut o, s, i) = (dst.view_mut(), src.view(), dev_idx.view());
    // SAFETY: `scatter_add_<T>(T* dst, const T* src, const i64* idx, i64 n, Layout ishape, Layout
    // xshape, int dim)`; `check` proved every offset is inside `dst`; `src` and `idx` hold n values.
    unsafe {
        launch!(
            gpu,
            "index",
            format!("scatter_add_{}", T::SUFFIX),
            grid_for(idx.len(), 65_535),
            [&mut o, &s, &i, &n, &ishape, &xshape, &d]
        )
    }
}

/// A shape as a kernel argument (the strides are not used by `index.cu`).
fn shape_layout(shape: &[usize]) -> Result<Layout, GpuError> {
    Layout::new("index", shape, &crate::copy::contiguous_strides(shape), 0)
}
