//! CPU matmul: `matrixmultiply` micro-kernels, split over rayon by batch and by blocks.
//!
//! `matrixmultiply` (by bluss) implements the BLIS scheme: it packs panels of A and B into
//! contiguous, aligned buffers sized for the L1/L2 caches, then runs a register-blocked
//! micro-kernel (8×8 for f32 with AVX2+FMA, chosen at run time) over them. It accepts arbitrary
//! row and column strides, which is why no transposing copy is ever needed here.
//!
//! What we add is the parallel split. One `gemm` call is single-threaded, so:
//! - with at least as many batch entries as threads, each thread takes whole matrices;
//! - otherwise each matrix is cut into blocks of rows of C (or of columns, when C is wider than
//!   tall) and each block is one `gemm` call on sub-matrices. Blocks are whole micro-tiles of
//!   the kernel that runs them, so no thread computes a ragged edge it could have avoided.
//!
//! Small products (under 2^22 multiply-adds) stay on the calling thread: a rayon hand-off
//! costs more than they do.

use crate::parallel::sum_into;
use crate::{Float, Slot};
use rayon::prelude::*;

/// Where one operand's matrices live in its buffer: the offset of each batch entry's first
/// element, and the row and column strides shared by all of them.
#[derive(Clone, Debug)]
pub struct MatrixLayout {
    /// Offset of matrix `b`'s element `[0, 0]`, one per batch entry.
    pub offsets: Vec<usize>,
    /// Distance between consecutive rows.
    pub row_stride: usize,
    /// Distance between consecutive columns.
    pub col_stride: usize,
}

impl MatrixLayout {
    /// The largest index touched by a `rows × cols` matrix under this layout, plus one
    /// (`usize::MAX` if the arithmetic overflows, which no buffer can satisfy).
    pub(crate) fn extent(&self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            return 0;
        }
        let last = (rows - 1)
            .checked_mul(self.row_stride)
            .and_then(|r| r.checked_add((cols - 1).checked_mul(self.col_stride)?))
            .and_then(|l| l.checked_add(1));
        let Some(last) = last else { return usize::MAX };
        self.offsets.iter().map(|o| o.checked_add(last).unwrap_or(usize::MAX)).max().unwrap_or(0)
    }
}

/// Multiply-adds below which a product runs on one thread. Measured on the 2-core dev machine
/// (`cargo bench --bench ops -- matmul` with `RAYON_NUM_THREADS=1` vs 2): 64³ ran at 106 vs
/// 34 GFLOP/s and 128³ (2M multiply-adds) at 149 vs 128, while 256³ (16M) went 182 → 248:
/// waking a second thread costs tens of microseconds, which only large products repay.
const PAR_MIN_MACS: usize = 1 << 22;

/// A raw pointer to the output that can cross threads; every thread writes a disjoint block.
#[derive(Clone, Copy)]
struct OutPtr<T>(*mut T);
// SAFETY: `OutPtr` is only used to hand disjoint sub-blocks of one output buffer to rayon tasks;
// no two tasks write the same element, and the buffer outlives the parallel scope.
unsafe impl<T> Send for OutPtr<T> {}
// SAFETY: as above: shared only to derive disjoint sub-block pointers.
unsafe impl<T> Sync for OutPtr<T> {}

impl<T> OutPtr<T> {
    /// The pointer (a method, so closures capture the `Send` wrapper rather than its field).
    fn get(self) -> *mut T {
        self.0
    }
}

/// Checks that both layouts have the same batch size and stay inside their buffers; returns the
/// batch size.
fn check_operands<T>(op: &str, [m, k, n]: [usize; 3], a: &[T], al: &MatrixLayout, b: &[T], bl: &MatrixLayout) -> usize {
    let batch = al.offsets.len();
    assert_eq!(batch, bl.offsets.len(), "{op}: batch mismatch");
    assert!(al.extent(m, k) <= a.len(), "{op}: A out of bounds");
    assert!(bl.extent(k, n) <= b.len(), "{op}: B out of bounds");
    batch
}

/// `out[b] = a[b] · b[b]` for every batch entry `b`, where each `a[b]` is `m × k`, each `b[b]` is
/// `k × n`, and `out` is a contiguous `[batch, m, n]` buffer (row-major, every element written;
/// it may be uninitialised: `matrixmultiply` never reads C when β = 0).
///
/// Panics if a layout reaches outside its buffer, if the two layouts disagree on the batch size,
/// or if `out` has the wrong length: the tensor layer checks shapes and returns typed errors
/// before calling, so a panic here is a bug in the caller, never a user error.
#[allow(clippy::too_many_arguments)]
pub fn matmul<T: Float, O: Slot<T>>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    a_layout: &MatrixLayout,
    b: &[T],
    b_layout: &MatrixLayout,
    out: &mut [O],
) {
    matmul_bias(m, k, n, a, a_layout, b, b_layout, None, out);
}

/// Adds `bias` (one value per column) to each of the `rows` rows, `bias.len()` long, at `c`
/// (row stride `ldc`).
///
/// # Safety
/// The block must be initialised, inside one buffer, and written by no one else meanwhile.
unsafe fn add_bias<T: Float>(c: *mut T, rows: usize, ldc: usize, bias: &[T]) {
    for i in 0..rows {
        // SAFETY: row `i` of the block, `bias.len()` values, exclusively ours (caller's contract).
        let row = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), bias.len()) };
        for (x, &b) in row.iter_mut().zip(bias) {
            *x += b;
        }
    }
}

/// [`matmul`], then `bias` (`n` values, if given) added to every row: `out[b] = a[b] · b[b] +
/// bias`, a linear layer's `x · Wᵀ + b` in one call. Each block of C gets its bias right after
/// its product, while it is still in cache, instead of in a second pass over the whole output.
///
/// Panics as [`matmul`] does, or if `bias` does not have `n` values.
#[allow(clippy::too_many_arguments)]
pub fn matmul_bias<T: Float, O: Slot<T>>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    a_layout: &MatrixLayout,
    b: &[T],
    b_layout: &MatrixLayout,
    bias: Option<&[T]>,
    out: &mut [O],
) {
    assert!(bias.is_none_or(|b| b.len() == n), "matmul_bias: bias length");
    let batch = check_operands("matmul", [m, k, n], a, a_layout, b, b_layout);
    assert_eq!(out.len(), batch * m * n, "matmul: output length");
    if out.is_empty() {
        return;
    }
    if k == 0 {
        let zero_row = vec![T::ZERO; n];
        let row = bias.unwrap_or(&zero_row);
        out.chunks_mut(n).for_each(|o| o.iter_mut().zip(row).for_each(|(o, &v)| o.set(v)));
        return;
    }
    let threads = rayon::current_num_threads().max(1);
    let work = batch.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    // Medium precision is decided for the whole product, before any split.
    let rounded = T::rounds_to_bf16(m, k, n);
    let one = |bi: usize, c: &mut [O]| {
        // SAFETY: the asserts above prove every element each operand's layout addresses for this
        // batch entry is inside `a` / `b`, and `c` is exactly this entry's m × n output. `O` is
        // `T` or `MaybeUninit<T>` (the trait is sealed), so `c` is valid as a `*mut T`.
        unsafe {
            let c = c.as_mut_ptr() as *mut T;
            gemm_block(rounded, m, k, n, a, a_layout, bi, b, b_layout, 0, 0, c, n);
            if let Some(bias) = bias {
                add_bias(c, m, n, bias);
            }
        }
    };
    if work < PAR_MIN_MACS || threads == 1 {
        out.chunks_mut(m * n).enumerate().for_each(|(bi, c)| one(bi, c));
    } else if batch >= threads {
        out.par_chunks_mut(m * n).enumerate().for_each(|(bi, c)| one(bi, c));
    } else {
        // Few large matrices: split each into blocks of rows (or columns) of C.
        let by_rows = m >= n;
        let len = if by_rows { m } else { n };
        let parts = (threads * batch).div_ceil(batch).max(1);
        // Blocks are whole micro-tiles of the kernel that will run on them.
        let (tile_rows, tile_cols) = T::gemm_tile(
            if by_rows { m.div_ceil(parts) } else { m },
            k,
            if by_rows { n } else { n.div_ceil(parts) },
            rounded,
        );
        let unit = if by_rows { tile_rows } else { tile_cols };
        let block = len.div_ceil(parts).div_ceil(unit) * unit;
        let blocks = len.div_ceil(block);
        // `O` is `T` or `MaybeUninit<T>` (sealed), both laid out as `T`.
        let ptr = OutPtr(out.as_mut_ptr() as *mut T);
        (0..batch * blocks).into_par_iter().for_each(|task| {
            let (bi, blk) = (task / blocks, task % blocks);
            let start = blk * block;
            let size = block.min(len - start);
            // SAFETY: each task writes the rows [start, start+size) (or those columns) of batch
            // entry `bi`, disjoint from every other task's block; the operand sub-matrices stay
            // inside the bounds checked above because `start + size <= m` (or `n`).
            unsafe {
                let c = ptr.get().add(bi * m * n);
                if by_rows {
                    gemm_block(rounded, size, k, n, a, a_layout, bi, b, b_layout, start, 0, c.add(start * n), n);
                    if let Some(bias) = bias {
                        add_bias(c.add(start * n), size, n, bias);
                    }
                } else {
                    gemm_block(rounded, m, k, size, a, a_layout, bi, b, b_layout, 0, start, c.add(start), n);
                    if let Some(bias) = bias {
                        add_bias(c.add(start), m, n, &bias[start..start + size]);
                    }
                }
            }
        });
    }
}

/// One `gemm` on a sub-block: rows `[row0, row0 + m)` of A and columns `[col0, col0 + n)` of B
/// for batch entry `bi`, written to `c` with row stride `ldc`; `rounded`: with the inputs
/// rounded to bfloat16 ([`Float::gemm_bf16`]).
///
/// # Safety
/// The sub-blocks of A and B must lie inside `a` and `b`, and `c` must point to an `m × n`
/// block (row stride `ldc`) that no other thread is writing.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_block<T: Float>(
    rounded: bool,
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    al: &MatrixLayout,
    bi: usize,
    b: &[T],
    bl: &MatrixLayout,
    row0: usize,
    col0: usize,
    c: *mut T,
    ldc: usize,
) {
    let a_ptr = a.as_ptr().add(al.offsets[bi] + row0 * al.row_stride);
    let b_ptr = b.as_ptr().add(bl.offsets[bi] + col0 * bl.col_stride);
    let (a_strides, b_strides) =
        ([al.row_stride as isize, al.col_stride as isize], [bl.row_stride as isize, bl.col_stride as isize]);
    if rounded {
        T::gemm_bf16(m, k, n, a_ptr, a_strides, b_ptr, b_strides, c, ldc as isize);
    } else {
        T::gemm(m, k, n, a_ptr, a_strides, b_ptr, b_strides, c, ldc as isize);
    }
}

/// `out[j] = Σ_{b : b mod E = j} a[b] · b[b]` with `E = out.len() / (m·n)` output matrices: the
/// batched product summed over its leading batch entries, as the gradient of an operand that
/// was broadcast over them needs (a convolution's weight, shared by every image, gets
/// `Σₙ gₙ · colsₙᵀ`). Each product is added up as soon as it is made, so the `[batch, m, n]`
/// products are never stored; in parallel each thread sums into its own accumulator, and the
/// accumulators are added at the end. `out` is dense `[E, m, n]`, every element written.
///
/// Panics as [`matmul`] does, or if the batch is not a multiple of `E`.
#[allow(clippy::too_many_arguments)]
pub fn matmul_sum<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    a_layout: &MatrixLayout,
    b: &[T],
    b_layout: &MatrixLayout,
    out: &mut [T],
) {
    let batch = check_operands("matmul_sum", [m, k, n], a, a_layout, b, b_layout);
    let size = m * n;
    if out.is_empty() {
        return;
    }
    let entries = out.len() / size;
    assert!(out.len() == entries * size && batch.is_multiple_of(entries), "matmul_sum: output length");
    if k == 0 {
        out.fill(T::ZERO);
        return;
    }
    let work = batch.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    let parallel = work >= PAR_MIN_MACS && rayon::current_num_threads() > 1;
    // Each batch entry's product goes through a per-worker `product` buffer into its output.
    sum_into(batch, parallel, out, |bi, acc, product: &mut Vec<T>| {
        product.resize(size, T::ZERO);
        // SAFETY: the asserts above prove every element each operand's layout addresses for this
        // batch entry is inside `a` / `b`; `product` holds exactly m × n elements.
        unsafe { gemm_block(false, m, k, n, a, a_layout, bi, b, b_layout, 0, 0, product.as_mut_ptr(), n) };
        let dst = &mut acc[(bi % entries) * size..][..size];
        dst.iter_mut().zip(product.iter()).for_each(|(d, &p)| *d += p);
    });
}
