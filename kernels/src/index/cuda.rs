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

/// Errors unless `buf` holds at least `need` elements.
fn check_len<T: GpuElement>(kernel: &'static str, buf: &GpuBuffer<T>, need: usize) -> Result<(), GpuError> {
    if buf.len() < need {
        return Err(GpuError::Invalid { kernel, message: format!("a buffer of {} values, {need} needed", buf.len()) });
    }
    Ok(())
}

/// `out[o, j, i] = src[o, idx[j], i]` for dense `src` of shape `[outer, n_src, inner]` (the twin
/// of [`super::index_select`]); `idx` holds the checked indices on the host.
pub fn index_select<T: GpuElement>(
    src: &GpuBuffer<T>,
    outer: usize,
    n_src: usize,
    inner: usize,
    idx: &[usize],
) -> Result<GpuBuffer<T>, GpuError> {
    let kernel = "index_select";
    check_len(kernel, src, outer * n_src * inner)?;
    if let Some(&bad) = idx.iter().find(|&&i| i >= n_src) {
        return Err(GpuError::Invalid { kernel, message: format!("index {bad} out of range for size {n_src}") });
    }
    let gpu = src.gpu().clone();
    let n = outer * idx.len() * inner;
    let mut out = GpuBuffer::<T>::alloc(&gpu, n)?;
    if n == 0 {
        return Ok(out);
    }
    let dev_idx = GpuBuffer::from_host(&gpu, &idx.iter().map(|&i| i as i64).collect::<Vec<_>>())?;
    let (o, ns, ni, inn) = (outer as i64, n_src as i64, idx.len() as i64, inner as i64);
    let (mut vo, vs, vi) = (out.view_mut(), src.view(), dev_idx.view());
    // SAFETY: `index_select_<T>(T* out, const T* src, const i64* idx, i64 outer, i64 n_src, i64
    // n_idx, i64 inner)`; `out` holds outer·n_idx·inner values, `src` outer·n_src·inner, and every
    // index is below n_src (checked above).
    unsafe {
        launch!(
            gpu,
            "index",
            format!("{kernel}_{}", T::SUFFIX),
            grid_for(n, 65_535),
            [&mut vo, &vs, &vi, &o, &ns, &ni, &inn]
        )
    }?;
    Ok(out)
}

/// `dst[o, idx[j], i] += src[o, j, i]` in place for dense `dst` `[outer, n_dst, inner]` and `src`
/// `[outer, idx.len(), inner]` (the twin of [`super::index_add`]; repeated indices add up, in
/// the order of `j`, as on the CPU).
pub fn index_add<T: GpuFloat>(
    dst: &mut GpuBuffer<T>,
    outer: usize,
    n_dst: usize,
    inner: usize,
    idx: &[usize],
    src: &GpuBuffer<T>,
) -> Result<(), GpuError> {
    let kernel = "index_add";
    check_len(kernel, dst, outer * n_dst * inner)?;
    check_len(kernel, src, outer * idx.len() * inner)?;
    if let Some(&bad) = idx.iter().find(|&&i| i >= n_dst) {
        return Err(GpuError::Invalid { kernel, message: format!("index {bad} out of range for size {n_dst}") });
    }
    let n = outer * n_dst * inner;
    if n == 0 || idx.is_empty() {
        return Ok(());
    }
    // The sources of each destination row, grouped by row (a counting sort, stable in j).
    let mut starts = vec![0i64; n_dst + 1];
    for &i in idx {
        starts[i + 1] += 1;
    }
    for r in 0..n_dst {
        starts[r + 1] += starts[r];
    }
    let mut next: Vec<i64> = starts[..n_dst].to_vec();
    let mut sources = vec![0i64; idx.len()];
    for (j, &i) in idx.iter().enumerate() {
        sources[next[i] as usize] = j as i64;
        next[i] += 1;
    }
    let gpu = dst.gpu().clone();
    let (dev_starts, dev_sources) = (GpuBuffer::from_host(&gpu, &starts)?, GpuBuffer::from_host(&gpu, &sources)?);
    let (o, nd, ni, inn) = (outer as i64, n_dst as i64, idx.len() as i64, inner as i64);
    let (mut vd, vs, vst, vsrc) = (dst.view_mut(), src.view(), dev_starts.view(), dev_sources.view());
    // SAFETY: `index_add_<T>(T* dst, const T* src, const i64* starts, const i64* sources, i64
    // outer, i64 n_dst, i64 n_idx, i64 inner)`; `starts` holds n_dst + 1 offsets into `sources`
    // (idx.len() values, each a j < n_idx), `dst` holds outer·n_dst·inner values and `src`
    // outer·n_idx·inner (checked above).
    unsafe {
        launch!(
            gpu,
            "index",
            format!("{kernel}_{}", T::SUFFIX),
            grid_for(n, 65_535),
            [&mut vd, &vs, &vst, &vsrc, &o, &nd, &ni, &inn]
        )
    }
}
