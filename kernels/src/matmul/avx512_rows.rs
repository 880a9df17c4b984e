//! A hand-written f32 GEMM for products with few rows (`m ≤ 32`), as a recurrent layer makes at
//! every time step: `[B, H] · [H, 4H]` with a batch of 16–32 sequences per thread.
//!
//! The packed kernel in [`super::avx512`] and `matrixmultiply` both copy B into panels before
//! every product. With few rows of A that copy costs as much as the arithmetic: a 16 × 128 ×
//! 512 LSTM step packs 64 Ki values of B to do 1 Mi multiply-adds with them, and in the LSTM
//! benchmark the packing took 26% of the forward pass. Here B is read in place (row-major, unit
//! column stride), one 48-column panel at a time. A panel of `k` rows is `k × 192` bytes (24 KiB
//! for k = 128), so it stays in L1 while every block of 8 rows of A goes over it.
//!
//! Micro-kernel: 8 rows × 48 columns of C in 24 zmm accumulators. Each step over `k` loads
//! three vectors of B and broadcasts 8 values of A (11 loads) for 24 FMAs, so the FMA ports are
//! the bottleneck, not the two load ports. A 14 × 32 tile (the packed kernel's) would waste 12
//! of 28 rows when m = 16.

use std::arch::x86_64::*;

/// Rows of C per micro-tile.
const MR: usize = 8;
/// Lanes of one zmm register.
const LANES: usize = 16;

/// Whether to use this kernel for one `m × k × n` product with the given strides: on AVX-512
/// CPUs, for a row-major A and B (unit column strides), at most 32 rows, at least 8, and a B of
/// at most 256 Ki values (1 MiB: it is re-read from L2 once per 8 rows and must not spill).
pub fn worth_it(m: usize, k: usize, n: usize, csa: isize, csb: isize) -> bool {
    crate::simd::has_avx512()
        && csa == 1
        && csb == 1
        && (MR..=32).contains(&m)
        && n >= LANES
        && k >= 1
        && k.saturating_mul(n) <= 1 << 18
}

/// `C = A · B` for a row-major `m × k` A (row stride `lda`), a row-major `k × n` B (row stride
/// `ldb`) and a row-major C (row stride `ldc`), overwritten.
///
/// # Safety
/// The CPU must support AVX-512F (callers check [`worth_it`]). Every element `a + i·lda + p` and
/// `b + p·ldb + j` for `i < m`, `p < k`, `j < n` must be readable, and the `m × n` block at `c`
/// writable and not aliased.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    lda: isize,
    b: *const f32,
    ldb: isize,
    c: *mut f32,
    ldc: isize,
) {
    let operands = Operands { k, a, lda, b, ldb, c, ldc };
    let mut j = 0;
    while j < n {
        let width = (n - j).min(3 * LANES);
        // SAFETY: columns `j..j + width` are inside B and C; `panel` reads and writes no others.
        unsafe {
            match width.div_ceil(LANES) {
                3 => operands.panel::<3>(m, j, width),
                2 => operands.panel::<2>(m, j, width),
                _ => operands.panel::<1>(m, j, width),
            }
        }
        j += width;
    }
}

/// The pointers and strides of one product (see [`sgemm`]).
#[derive(Clone, Copy)]
struct Operands {
    k: usize,
    a: *const f32,
    lda: isize,
    b: *const f32,
    ldb: isize,
    c: *mut f32,
    ldc: isize,
}

impl Operands {
    /// Columns `j..j + width` of C (`width ≤ NV·16`) for every row, 8 rows at a time.
    ///
    /// # Safety
    /// As [`sgemm`], for these columns; the CPU supports AVX-512F.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn panel<const NV: usize>(self, m: usize, j: usize, width: usize) {
        let mut i = 0;
        while i + MR <= m {
            // SAFETY: rows `i..i + MR` are inside A and C (`i + MR ≤ m`).
            unsafe { self.tile::<MR, NV>(i, j, width) };
            i += MR;
        }
        while i < m {
            // SAFETY: row `i < m`.
            unsafe { self.tile::<1, NV>(i, j, width) };
            i += 1;
        }
    }

    /// The `R × width` tile of C at `(i, j)`: `R·NV` accumulators, one pass over `k`. The last
    /// of the `NV` vectors is masked to the columns that exist (`width − (NV−1)·16` of them).
    ///
    /// # Safety
    /// As [`sgemm`], for rows `i..i + R` and columns `j..j + width`; AVX-512F present.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn tile<const R: usize, const NV: usize>(self, i: usize, j: usize, width: usize) {
        debug_assert!(width > (NV - 1) * LANES && width <= NV * LANES);
        let tail: __mmask16 = (((1u32 << (width - (NV - 1) * LANES)) - 1) & 0xffff) as __mmask16;
        let mask = |v: usize| if v + 1 == NV { tail } else { 0xffff };
        let mut acc = [[_mm512_setzero_ps(); NV]; R];
        // SAFETY (pointer arithmetic below): row `i + r` of A, and row `p` / columns `j..j +
        // width` of B, are inside the operands by the caller's contract; masked lanes of the
        // last vector are not read.
        let (a, mut b) = unsafe { (self.a.offset(i as isize * self.lda), self.b.add(j)) };
        for p in 0..self.k {
            let bv: [__m512; NV] = std::array::from_fn(|v| unsafe { _mm512_maskz_loadu_ps(mask(v), b.add(v * LANES)) });
            for (r, row) in acc.iter_mut().enumerate() {
                let ar = _mm512_set1_ps(unsafe { *a.offset(r as isize * self.lda).add(p) });
                for (acc, &bv) in row.iter_mut().zip(&bv) {
                    *acc = _mm512_fmadd_ps(ar, bv, *acc);
                }
            }
            b = unsafe { b.offset(self.ldb) };
        }
        for (r, row) in acc.iter().enumerate() {
            // SAFETY: row `i + r`, columns `j..j + width` of C, masked as the loads were.
            let c = unsafe { self.c.offset((i + r) as isize * self.ldc).add(j) };
            for (v, &value) in row.iter().enumerate() {
                unsafe { _mm512_mask_storeu_ps(c.add(v * LANES), mask(v), value) };
            }
        }
    }
}
