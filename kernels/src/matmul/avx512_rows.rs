//! A hand-written f32 GEMM for products with few rows (`m ≤ 64`), as a recurrent layer makes at
//! every time step: `[B, H] · [H, 4H]` with a batch of 16–32 sequences per thread. (A small
//! convolution's per-image product, `[64, 288] · [288, 121]` in the MNIST CNN, qualifies too.)
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
//!
//! A B that does not fit in L2 (an LSTM of 512 units has a 4 MiB `W_hhᵀ`) streams from memory
//! at every product, and read row by row its rows are kilobytes apart: every row of a panel is
//! on another page, where the hardware prefetcher stops. For such a B that is reused at every
//! step, [`pack_panels`] makes one copy with each 48-column panel contiguous ([`BLayout`]), read
//! as one stream.

use std::arch::x86_64::*;

/// Rows of C per micro-tile.
const MR: usize = 8;
/// Lanes of one zmm register.
const LANES: usize = 16;
/// Columns of B (and C) per panel: three vectors.
pub const PANEL: usize = 3 * LANES;

/// Where B's elements are: `B[p][j]` at `b + (j / PANEL)·panel_stride + p·ldb + j % PANEL`.
#[derive(Clone, Copy, Debug)]
pub struct BLayout {
    /// Distance between consecutive rows within a panel.
    pub ldb: isize,
    /// Distance between the starts of consecutive 48-column panels.
    pub panel_stride: isize,
}

impl BLayout {
    /// A row-major B with row stride `ldb`: a panel starts 48 columns after the previous one.
    pub fn row_major(ldb: isize) -> BLayout {
        BLayout { ldb, panel_stride: PANEL as isize }
    }

    /// B of depth `k` as [`pack_panels`] lays it out: panel after panel, each `k × 48`.
    pub fn panels(k: usize) -> BLayout {
        BLayout { ldb: PANEL as isize, panel_stride: (k * PANEL) as isize }
    }
}

/// The `k × n` matrix B, element `(p, j)` at `b[p·rsb + j·csb]`, laid out as [`BLayout::panels`]
/// says: `n.div_ceil(48)` panels of `k × 48` values, the last one padded with zeros.
///
/// Panics if an element lies outside `b`.
pub fn pack_panels(k: usize, n: usize, b: &[f32], rsb: usize, csb: usize) -> Vec<f32> {
    if k > 0 && n > 0 {
        assert!((k - 1) * rsb + (n - 1) * csb < b.len(), "pack_panels: B out of bounds");
    }
    let mut out = vec![0.0; n.div_ceil(PANEL) * k * PANEL];
    for (q, panel) in out.chunks_exact_mut((k * PANEL).max(1)).enumerate().take(n.div_ceil(PANEL)) {
        let cols = (n - q * PANEL).min(PANEL);
        for (p, row) in panel.chunks_exact_mut(PANEL).enumerate() {
            for (jj, v) in row[..cols].iter_mut().enumerate() {
                *v = b[p * rsb + (q * PANEL + jj) * csb];
            }
        }
    }
    out
}

/// Whether to use this kernel for one `m × k × n` product with the given strides: on AVX-512
/// CPUs, for a row-major A and B (unit column strides), 8 to 64 rows, and a B of at most 256 Ki
/// values (1 MiB: it is re-read from L2 once per 8 rows and must not spill). Up to 64 rows the
/// per-image products of the CNN's second convolution ran 3% faster here than through
/// `matrixmultiply` (`cargo bench --bench conv -- c32_13`, 4.78 → 4.65 ms).
pub fn worth_it(m: usize, k: usize, n: usize, csa: isize, csb: isize) -> bool {
    crate::simd::has_avx512()
        && csa == 1
        && csb == 1
        && (MR..=64).contains(&m)
        && n >= LANES
        && k >= 1
        && k.saturating_mul(n) <= 1 << 18
}

/// `C = A · B` for a row-major `m × k` A (row stride `lda`), a `k × n` B laid out as `b_layout`
/// says, and a row-major C (row stride `ldc`), overwritten.
///
/// # Safety
/// The CPU must support AVX-512F (callers check [`crate::simd::has_avx512`]). Every element
/// `a + i·lda + p` for `i < m`, `p < k`, and every element of B that `b_layout` addresses for
/// `p < k`, `j < n`, must be readable, and the `m × n` block at `c` writable and not aliased.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    lda: isize,
    b: *const f32,
    b_layout: BLayout,
    c: *mut f32,
    ldc: isize,
) {
    let mut j = 0;
    while j < n {
        let width = (n - j).min(PANEL);
        // SAFETY: this panel of B starts at `b + (j / PANEL)·panel_stride` (j is a multiple of
        // PANEL), inside B by the caller's contract.
        let panel = unsafe { b.offset((j / PANEL) as isize * b_layout.panel_stride) };
        let operands = Operands { k, a, lda, b: panel, ldb: b_layout.ldb, c: unsafe { c.add(j) }, ldc };
        // SAFETY: columns `j..j + width` are inside B and C; `panel` reads and writes no others.
        unsafe {
            match width.div_ceil(LANES) {
                3 => operands.panel::<3>(m, width),
                2 => operands.panel::<2>(m, width),
                _ => operands.panel::<1>(m, width),
            }
        }
        j += width;
    }
}

/// The pointers and strides of one product, B and C moved to one panel's first column.
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
    /// The panel's `width ≤ NV·16` columns of C for every row, 8 rows at a time.
    ///
    /// # Safety
    /// As [`sgemm`], for these columns; the CPU supports AVX-512F.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn panel<const NV: usize>(self, m: usize, width: usize) {
        let mut i = 0;
        while i + MR <= m {
            // SAFETY: rows `i..i + MR` are inside A and C (`i + MR ≤ m`).
            unsafe { self.tile::<MR, NV>(i, width) };
            i += MR;
        }
        while i < m {
            // SAFETY: row `i < m`.
            unsafe { self.tile::<1, NV>(i, width) };
            i += 1;
        }
    }

    /// The `R × width` tile of C at row `i` of the panel: `R·NV` accumulators, one pass over `k`. The last
    /// of the `NV` vectors is masked to the columns that exist (`width − (NV−1)·16` of them).
    ///
    /// # Safety
    /// As [`sgemm`], for rows `i..i + R` and the panel's first `width` columns; AVX-512F present.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn tile<const R: usize, const NV: usize>(self, i: usize, width: usize) {
        debug_assert!(width > (NV - 1) * LANES && width <= NV * LANES);
        let tail: __mmask16 = (((1u32 << (width - (NV - 1) * LANES)) - 1) & 0xffff) as __mmask16;
        let mask = |v: usize| if v + 1 == NV { tail } else { 0xffff };
        let mut acc = [[_mm512_setzero_ps(); NV]; R];
        // SAFETY (pointer arithmetic below): row `i + r` of A, and row `p` / the first `width`
        // columns of the panel of B, are inside the operands by the caller's contract; masked
        // lanes of the last vector are not read.
        let (a, mut b) = unsafe { (self.a.offset(i as isize * self.lda), self.b) };
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
            // SAFETY: row `i + r`, the panel's first `width` columns of C, masked as the loads were.
            let c = unsafe { self.c.offset((i + r) as isize * self.ldc) };
            for (v, &value) in row.iter().enumerate() {
                unsafe { _mm512_mask_storeu_ps(c.add(v * LANES), mask(v), value) };
            }
        }
    }
}
