//! CUDA launchers for `copy.cu`: strided gather, fill, dtype conversion.

use crate::cuda::{grid_for, launch, Gpu, GpuBuffer, GpuElement, GpuError, Layout};
use std::sync::Arc;

/// The dense, row-major copy of the strided view `layout` of `src` (the twin of
/// [`super::copy_strided`]).
pub fn copy_strided<T: GpuElement>(src: &GpuBuffer<T>, layout: &Layout) -> Result<GpuBuffer<T>, GpuError> {
    let n: i64 = layout.shape[..layout.rank as usize].iter().product();
    let gpu = src.gpu().clone();
    let mut out = GpuBuffer::<T>::alloc(&gpu, n as usize)?;
    if n == 0 {
        return Ok(out);
    }
    check_extent("copy_strided", src.len(), layout)?;
    let (mut o, x) = (out.view_mut(), src.view());
    // SAFETY: `copy_strided_<T>(T* out, const T* in, i64 n, Layout l)`; `out` holds n elements
    // and `check_extent` proved every index the layout reaches is inside `src`.
    unsafe {
        launch!(
            gpu,
            "copy",
            format!("copy_strided_{}", T::SUFFIX),
            grid_for(n as usize, 65_535),
            [&mut o, &x, &n, layout]
        )
    }?;
    Ok(out)
}

/// Writes the strided view `src` of `input` into the strided view `dst` of `out` (the twin of
/// [`super::copy_into`]). Both layouts have one shape; `dst` must not map two elements to one
/// place (the tensor layer passes dense destinations).
pub fn copy_into<T: GpuElement>(
    input: &GpuBuffer<T>,
    src: &Layout,
    out: &mut GpuBuffer<T>,
    dst: &Layout,
) -> Result<(), GpuError> {
    if src.rank != dst.rank || src.shape != dst.shape {
        return Err(GpuError::Invalid {
            kernel: "copy_into",
            message: format!("layouts of different shapes: {src:?} and {dst:?}"),
        });
    }
    let n: i64 = src.shape[..src.rank as usize].iter().product();
    if n == 0 {
        return Ok(());
    }
    check_extent("copy_into", input.len(), src)?;
    check_extent("copy_into", out.len(), dst)?;
    let gpu = out.gpu().clone();
    let (mut o, x) = (out.view_mut(), input.view());
    // SAFETY: `copy_into_<T>(T* out, const T* in, i64 n, Layout src, Layout dst)`; `check_extent`
    // bounds every index of both views.
    unsafe {
        launch!(
            gpu,
            "copy",
            format!("copy_into_{}", T::SUFFIX),
            grid_for(n as usize, 65_535),
            [&mut o, &x, &n, src, dst]
        )
    }
}

/// `n` copies of `value`.
pub fn fill<T: GpuElement>(gpu: &Arc<Gpu>, n: usize, value: T) -> Result<GpuBuffer<T>, GpuError> {
    let mut out = GpuBuffer::<T>::alloc(gpu, n)?;
    if n == 0 {
        return Ok(out);
    }
    let (mut o, len) = (out.view_mut(), n as i64);
    // SAFETY: `fill_<T>(T* out, i64 n, T v)`; `out` holds n elements.
    unsafe { launch!(gpu, "copy", format!("fill_{}", T::SUFFIX), grid_for(n, 65_535), [&mut o, &len, &value]) }?;
    Ok(out)
}

/// The first `n` elements from `offset` of `src`, converted to `D` (floats to integers truncate
/// toward zero).
pub fn cast<S: GpuElement, D: GpuElement>(
    src: &GpuBuffer<S>,
    offset: usize,
    n: usize,
) -> Result<GpuBuffer<D>, GpuError> {
    let gpu = src.gpu().clone();
    let mut out = GpuBuffer::<D>::alloc(&gpu, n)?;
    if n == 0 {
        return Ok(out);
    }
    if offset + n > src.len() {
        return Err(GpuError::Invalid {
            kernel: "cast",
            message: format!("{n} elements from {offset} in a buffer of {}", src.len()),
        });
    }
    let (mut o, x, len) = (out.view_mut(), src.view_from("cast", offset)?, n as i64);
    // SAFETY: `cast_<S>_<D>(D* out, const S* in, i64 n)`; both hold at least n elements.
    unsafe {
        launch!(gpu, "copy", format!("cast_{}_{}", S::SUFFIX, D::SUFFIX), grid_for(n, 65_535), [&mut o, &x, &len])
    }?;
    Ok(out)
}

/// Errors unless every element the strided `layout` reaches lies inside a buffer of `len`.
pub(crate) fn check_extent(kernel: &'static str, len: usize, layout: &Layout) -> Result<(), GpuError> {
    let rank = layout.rank as usize;
    if layout.shape[..rank].contains(&0) {
        return Ok(());
    }
    let last: i64 = layout.offset + (0..rank).map(|d| (layout.shape[d] - 1) * layout.strides[d]).sum::<i64>();
    if layout.offset < 0 || layout.strides[..rank].iter().any(|&s| s < 0) || last >= len as i64 {
        return Err(GpuError::Invalid {
            kernel,
            message: format!("a view reaching element {last} of a buffer of {len} (layout {layout:?})"),
        });
    }
    Ok(())
}
