//! CUDA launcher for `softmax.cu`.

use crate::cuda::{launch, GpuBuffer, GpuError, GpuFloat};
use cudarc::driver::LaunchConfig;

/// Softmax (or log-softmax) of each of the `rows` dense rows of `cols` values starting at
/// `offset` in `x` (the twin of [`super::softmax_rows`]). One block per row: 32 threads for rows
/// of up to 256 values, 128 up to 4096, 256 beyond.
pub fn softmax_rows<T: GpuFloat>(
    x: &GpuBuffer<T>,
    offset: usize,
    rows: usize,
    cols: usize,
    log: bool,
) -> Result<GpuBuffer<T>, GpuError> {
    let gpu = x.gpu().clone();
    let n = rows * cols;
    let mut out = GpuBuffer::<T>::alloc(&gpu, n)?;
    if n == 0 {
        return Ok(out);
    }
    if offset + n > x.len() {
        return Err(GpuError::Invalid {
            kernel: "softmax_rows",
            message: format!("{rows}×{cols} from {offset} in a buffer of {}", x.len()),
        });
    }
    let threads = if cols <= 256 {
        32
    } else if cols <= 4096 {
        128
    } else {
        256
    };
    let cfg =
        LaunchConfig { grid_dim: (rows.min(65_535) as u32, 1, 1), block_dim: (threads, 1, 1), shared_mem_bytes: 0 };
    let (r, c, l) = (rows as i64, cols as i64, i32::from(log));
    let (mut o, input) = (out.view_mut(), x.view_from("softmax_rows", offset)?);
    // SAFETY: `softmax_rows_<T>(T* out, const T* x, i64 rows, i64 cols, int log)`; both views
    // hold rows·cols values; the block size is a multiple of 32, as the kernel's warp merge needs.
    unsafe { launch!(gpu, "softmax", format!("softmax_rows_{}", T::SUFFIX), cfg, [&mut o, &input, &r, &c, &l]) }?;
    Ok(out)
}
