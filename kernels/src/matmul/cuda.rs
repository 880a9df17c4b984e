//! CUDA launchers for `matmul.cu`: batched `C = A·B (+ bias)` in numbered kernel versions.

use crate::cuda::{launch, GpuBuffer, GpuElement, GpuError};
use cudarc::driver::LaunchConfig;
use std::sync::atomic::{AtomicBool, Ordering};

/// The hand-written GEMM versions of `matmul.cu`, from the textbook one to tensor cores. The
/// benchmark runs each; [`gemm`] picks [`GemmKernel::Vectorized`] for `f32` (or
/// [`GemmKernel::Tf32`] after [`set_allow_tf32`]) and [`GemmKernel::Blocked`] for `f64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmKernel {
    /// 1: one thread per output element (row-major, unbatched, f32 only).
    Naive,
    /// 2: 32×32 shared-memory tiles (row-major, unbatched, f32 only).
    Smem,
    /// 3: 128×128 block tiles, 8×8 outputs per thread in registers, scalar loads.
    Blocked,
    /// 4: version 3 with 16-byte loads (f32; needs the contiguous dims to be multiples of 4).
    Vectorized,
    /// 5: TF32 tensor cores (`mma.sync.m16n8k8`), f32 accumulation (f32 only).
    Tf32,
}

static ALLOW_TF32: AtomicBool = AtomicBool::new(false);

/// Lets f32 products use TF32 tensor cores (inputs rounded to a 10-bit mantissa, relative error
/// about 1e-3), as `torch.backends.cuda.matmul.allow_tf32 = True`. Off by default.
pub fn set_allow_tf32(allow: bool) {
    ALLOW_TF32.store(allow, Ordering::Relaxed);
}

/// One operand of a batched product: matrix `b` of the batch starts at
/// `offset + b · batch_stride` (0 broadcasts one matrix to every entry); its rows are `ld` apart,
/// or, when `transposed`, it is stored as its transpose (columns `ld` apart).
#[derive(Clone, Copy, Debug)]
pub struct GemmOperand<'a, T: GpuElement> {
    /// The buffer holding the matrices.
    pub buffer: &'a GpuBuffer<T>,
    /// Where the first matrix starts.
    pub offset: usize,
    /// The distance between rows (or between columns, when `transposed`).
    pub ld: usize,
    /// The distance between consecutive matrices of the batch.
    pub batch_stride: usize,
    /// Whether the matrix is stored transposed (column-major).
    pub transposed: bool,
}

impl<T: GpuElement> GemmOperand<'_, T> {
    /// The last element index it reaches for a `rows × cols` matrix in a batch of `batch`.
    fn last_index(&self, rows: usize, cols: usize, batch: usize) -> usize {
        let (r, c) = if self.transposed { (cols, rows) } else { (rows, cols) };
        self.offset + (batch - 1) * self.batch_stride + (r - 1) * self.ld + (c - 1)
    }

    /// Whether 16-byte loads along the contiguous dimension are aligned everywhere.
    fn vector_ready(&self) -> bool {
        self.offset.is_multiple_of(4) && self.ld.is_multiple_of(4) && self.batch_stride.is_multiple_of(4)
    }
}

/// `C[b] = A[b] · B[b] (+ bias)` for `b < batch`, with `A[b]` `m × k` and `B[b]` `k × n`; `C` is
/// a new dense `[batch, m, n]` buffer. `bias`, if given, holds `n` values added to every row.
/// `kernel` forces a version (benchmarks); `None` picks the default for the dtype.
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: GpuElement>(
    m: usize,
    k: usize,
    n: usize,
    batch: usize,
    a: GemmOperand<'_, T>,
    b: GemmOperand<'_, T>,
    bias: Option<&GpuBuffer<T>>,
    kernel: Option<GemmKernel>,
) -> Result<GpuBuffer<T>, GpuError> {
    let gpu = a.buffer.gpu().clone();
    let mut c = GpuBuffer::<T>::alloc(&gpu, batch * m * n)?;
    if batch * m * n == 0 {
        return Ok(c);
    }
    let invalid = |message: String| GpuError::Invalid { kernel: "gemm", message };
    if k == 0 && bias.is_none() {
        return GpuBuffer::zeros(&gpu, batch * m * n); // an empty sum
    }
    // (With k = 0 and a bias the blocked kernel runs no k step and writes the bias: the operands
    // are never read.)
    if k > 0 && (a.last_index(m, k, batch) >= a.buffer.len() || b.last_index(k, n, batch) >= b.buffer.len()) {
        return Err(invalid(format!("operands too small for batch {batch} of {m}×{k} · {k}×{n}")));
    }
    if bias.is_some_and(|bias| bias.len() < n) {
        return Err(invalid(format!("a bias of {} values for {n} columns", bias.map_or(0, |b| b.len()))));
    }
    // The kernels step their row tiles and batch entries by the grid's extent in `int`s.
    let (m_max, batch_max) = (i32::MAX as usize - 65_535 * 128, i32::MAX as usize - 65_535);
    if m > m_max || n > i32::MAX as usize - 128 || k > i32::MAX as usize || batch > batch_max {
        return Err(invalid(format!("sizes {m}×{k}×{n} (batch {batch}) exceed the kernel's index range")));
    }
    let is_f32 = T::SUFFIX == "f32";
    let kernel = kernel.unwrap_or(if !is_f32 || k == 0 {
        GemmKernel::Blocked
    } else if ALLOW_TF32.load(Ordering::Relaxed) {
        GemmKernel::Tf32
    } else {
        GemmKernel::Vectorized
    });
    // 16-byte loads also need each operand's contiguous dimension to be a multiple of 4, or a
    // load at the edge would take values past the matrix's last column.
    let a_run = if a.transposed { m } else { k };
    let b_run = if b.transposed { k } else { n };
    let vec_ok = a.vector_ready() && b.vector_ready() && a_run.is_multiple_of(4) && b_run.is_multiple_of(4);
    let simple = batch == 1 && !a.transposed && !b.transposed && a.ld == k && b.ld == n && bias.is_none();
    let name = match kernel {
        GemmKernel::Naive | GemmKernel::Smem if !(is_f32 && simple) => {
            return Err(invalid(format!("{kernel:?} takes only f32, unbatched, row-major operands without a bias")));
        }
        GemmKernel::Vectorized | GemmKernel::Tf32 if !is_f32 => {
            return Err(invalid(format!("{kernel:?} is an f32 kernel")));
        }
        GemmKernel::Naive => "gemm_naive_f32".to_string(),
        GemmKernel::Smem => "gemm_smem_f32".to_string(),
        GemmKernel::Blocked => format!("gemm_blocked_{}_{}", T::SUFFIX, suffix(&a, &b)),
        GemmKernel::Vectorized if vec_ok => format!("gemm_vec_f32_{}", suffix(&a, &b)),
        GemmKernel::Vectorized => format!("gemm_blocked_f32_{}", suffix(&a, &b)),
        GemmKernel::Tf32 if vec_ok => format!("gemm_tf32vec_f32_{}", suffix(&a, &b)),
        GemmKernel::Tf32 => format!("gemm_tf32_f32_{}", suffix(&a, &b)),
    };
    let (mi, ni, ki) = (m as i32, n as i32, k as i32);
    let (va, vb) = if k == 0 {
        (a.buffer.view(), b.buffer.view()) // never read
    } else {
        (a.buffer.view_from("gemm", a.offset)?, b.buffer.view_from("gemm", b.offset)?)
    };
    let mut vc = c.view_mut();
    if matches!(kernel, GemmKernel::Naive | GemmKernel::Smem) {
        let (tile, block) = if kernel == GemmKernel::Naive { (16, 16) } else { (32, 32) };
        let cfg = LaunchConfig {
            grid_dim: (n.div_ceil(tile) as u32, m.div_ceil(tile) as u32, 1),
            block_dim: (block, block, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: `(int M, int N, int K, const float* A, const float* B, float* C)` on dense
        // row-major operands whose sizes were checked above.
        unsafe { launch!(gpu, "matmul", name, cfg, [&mi, &ni, &ki, &va, &vb, &mut vc]) }?;
        return Ok(c);
    }
    // The kernels loop over the row tiles and batch entries past the grid's y and z limits.
    let cfg = LaunchConfig {
        grid_dim: (n.div_ceil(128) as u32, m.div_ceil(128).min(65_535) as u32, batch.min(65_535) as u32),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let (lda, sa, ldb, sb, sc) =
        (a.ld as i64, a.batch_stride as i64, b.ld as i64, b.batch_stride as i64, (m * n) as i64);
    let (has_bias, batch_i) = (i32::from(bias.is_some()), batch as i32);
    // Without a bias the kernel never reads the pointer; any valid one will do.
    let vbias = match bias {
        Some(bias) => bias.view(),
        None => a.buffer.view(),
    };
    // SAFETY: `(int M, int N, int K, const T* A, i64 lda, i64 sA, const T* B, i64 ldb, i64 sB,
    // T* C, i64 sC, const T* bias, int has_bias, int batch)`, as `GEMM_ARGS` in matmul.cu; every
    // index the kernel forms is inside the operands (checked above with `last_index`; with k = 0
    // none is formed), the bias holds n values when used, and C holds batch·m·n. The vectorised
    // versions are chosen only when `vector_ready` holds for both operands.
    unsafe {
        launch!(
            gpu,
            "matmul",
            name,
            cfg,
            [&mi, &ni, &ki, &va, &lda, &sa, &vb, &ldb, &sb, &mut vc, &sc, &vbias, &has_bias, &batch_i]
        )
    }?;
    Ok(c)
}

/// The kernel-name suffix for the operands' storage: `n` normal, `t` transposed.
fn suffix<T: GpuElement>(a: &GemmOperand<'_, T>, b: &GemmOperand<'_, T>) -> &'static str {
    match (a.transposed, b.transposed) {
        (false, false) => "nn",
        (false, true) => "nt",
        (true, false) => "tn",
        (true, true) => "tt",
    }
}
