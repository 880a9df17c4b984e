//! CUDA launchers for `reduce.cu`.

use super::ReduceOp;
use crate::cuda::{grid_for, launch, GpuBuffer, GpuError, GpuFloat};

/// Below this many outputs, a long axis is split into chunks reduced by separate warps/threads,
/// then the partial results are reduced again: otherwise a handful of warps would do all the
/// work while the rest of the GPU idles.
const FEW_OUTPUTS: usize = 2048;
/// Axes shorter than this are always reduced in one pass.
const SPLIT_MIN_LEN: usize = 4096;

/// Reduces the dense `[outer, len, inner]` array that starts at `offset` in `x` over its middle
/// axis, giving `[outer, inner]` (the twin of [`super::reduce`]).
pub fn reduce<T: GpuFloat>(
    op: ReduceOp,
    x: &GpuBuffer<T>,
    offset: usize,
    outer: usize,
    len: usize,
    inner: usize,
) -> Result<GpuBuffer<T>, GpuError> {
    let outputs = outer * inner;
    if offset + outer * len * inner > x.len() {
        return Err(GpuError::Invalid {
            kernel: "reduce",
            message: format!("[{outer}, {len}, {inner}] from {offset} in a buffer of {}", x.len()),
        });
    }
    if outputs == 0 {
        return GpuBuffer::alloc(x.gpu(), 0);
    }
    if len == 0 {
        // Only sums reach here with an empty axis (the tensor layer rejects max/min of nothing).
        return GpuBuffer::zeros(x.gpu(), outputs);
    }
    let chunks =
        if outputs < FEW_OUTPUTS && len >= SPLIT_MIN_LEN { (FEW_OUTPUTS / outputs).clamp(1, len / 1024) } else { 1 };
    let partial = reduce_chunks(op, x, offset, outer, len, inner, chunks)?;
    if chunks == 1 {
        Ok(partial)
    } else {
        reduce(op, &partial, 0, outer, chunks, inner)
    }
}

/// One pass: `[outer, len, inner]` → `[outer, chunks, inner]`, each chunk reducing
/// `⌈len / chunks⌉` consecutive elements of the axis.
fn reduce_chunks<T: GpuFloat>(
    op: ReduceOp,
    x: &GpuBuffer<T>,
    offset: usize,
    outer: usize,
    len: usize,
    inner: usize,
    chunks: usize,
) -> Result<GpuBuffer<T>, GpuError> {
    let gpu = x.gpu().clone();
    let count = outer * chunks * inner;
    let mut out = GpuBuffer::<T>::alloc(&gpu, count)?;
    let code: i32 = match op {
        ReduceOp::Sum => 0,
        ReduceOp::Max => 1,
        ReduceOp::Min => 2,
    };
    let chunk = len.div_ceil(chunks) as i64;
    let (o_, l_, i_, c_) = (outer as i64, len as i64, inner as i64, chunks as i64);
    let (mut o, input) = (out.view_mut(), x.view_from("reduce", offset)?);
    if inner == 1 {
        // One warp per output: 8 per block of 256 threads.
        let cfg = grid_for(count * 32, 65_535);
        // SAFETY: `reduce_rows_<T>(T* out, const T* x, i64 outer, i64 len, i64 chunk, i64 chunks,
        // int op)`; `out` holds outer·chunks values and `x` (checked above) outer·len.
        unsafe {
            launch!(
                gpu,
                "reduce",
                format!("reduce_rows_{}", T::SUFFIX),
                cfg,
                [&mut o, &input, &o_, &l_, &chunk, &c_, &code]
            )
        }?;
    } else {
        let cfg = grid_for(count, 65_535);
        // SAFETY: `reduce_cols_<T>(T* out, const T* x, i64 outer, i64 len, i64 inner, i64 chunk,
        // i64 chunks, int op)`; `out` holds outer·chunks·inner values and `x` outer·len·inner.
        unsafe {
            launch!(
                gpu,
                "reduce",
                format!("reduce_cols_{}", T::SUFFIX),
                cfg,
                [&mut o, &input, &o_, &l_, &i_, &chunk, &c_, &code]
            )
        }?;
    }
    Ok(out)
}

/// `out[o, i] = argmax_l x[o, l, i]` (or argmin) of the dense `[outer, len, inner]` array from
/// `offset` in `x`, `len ≥ 1` (the twin of [`super::arg_reduce`]).
pub fn arg_reduce<T: GpuFloat>(
    op: super::ArgReduceOp,
    x: &GpuBuffer<T>,
    offset: usize,
    outer: usize,
    len: usize,
    inner: usize,
) -> Result<GpuBuffer<i64>, GpuError> {
    let gpu = x.gpu().clone();
    let count = outer * inner;
    let mut out = GpuBuffer::<i64>::alloc(&gpu, count)?;
    if count == 0 {
        return Ok(out);
    }
    if len == 0 || offset + outer * len * inner > x.len() {
        return Err(GpuError::Invalid {
            kernel: "arg_reduce",
            message: format!("[{outer}, {len}, {inner}] from {offset} in a buffer of {}", x.len()),
        });
    }
    let code: i32 = match op {
        super::ArgReduceOp::ArgMax => 0,
        super::ArgReduceOp::ArgMin => 1,
    };
    let (o_, l_, i_) = (outer as i64, len as i64, inner as i64);
    let (mut o, input) = (out.view_mut(), x.view_from("arg_reduce", offset)?);
    // SAFETY: `arg_reduce_<T>(i64* out, const T* x, i64 outer, i64 len, i64 inner, int op)`;
    // `out` holds outer·inner values, `x` outer·len·inner (checked above).
    unsafe {
        launch!(
            gpu,
            "reduce",
            format!("arg_reduce_{}", T::SUFFIX),
            grid_for(count, 65_535),
            [&mut o, &input, &o_, &l_, &i_, &code]
        )
    }?;
    Ok(out)
}
