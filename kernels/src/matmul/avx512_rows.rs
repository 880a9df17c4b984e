//! A hand-written f32 GEMM for products with few rows (`m ≤ 64`), as a recurrent layer makes at
//! every time step: `[B, H] · [H, 4H]` with a batch of 16–32 sequences per thread, or with a small
//! B of any number of rows. A small convolution's per-image products qualify too: in the MNIST
//! CNN, `W · cols` (`[64, 288] · [288, 121]`), `Wᵀ · ∂y` (`[288, 64] · [64, 121]`, A transposed)
//! and `∂y · colsᵀ` (`[64, 121] · [121, 288]`, B transposed).
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
//! A is read one value at a time (broadcast), so it may have any strides. B must be row-major;
//! [`try_sgemm`] copies a B stored transposed into a per-thread buffer first, 16 × 16 blocks
//! transposed in registers. `matrixmultiply` makes the same copy when it packs B, but through a
//! strided gather per panel: in the MNIST CNN's training step its packing took as long as its
//! micro-kernel (19% and 22% of the step's samples); through this kernel the conv layers' weight
//! gradients went 0.58 → 0.33 ms (`∂W` of the 1 → 32 layer) and the step lost its packing.
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

/// Values of B (4 bytes each) that stay in L1 and L2 while every block of 8 rows of A goes
/// over them: up to 64 rows, a B of 256 Ki values (1 MiB, re-read from L2 once per 8 rows);
/// for more rows, a B of 32 Ki values (128 KiB) that is re-read from L1/L2 by every block.
const B_MAX: usize = 1 << 18;
const B_MAX_MANY_ROWS: usize = 1 << 15;
/// A B stored transposed (`Bᵀ` row-major) is copied row-major first, up to 64 Ki values.
const B_MAX_TRANSPOSED: usize = 1 << 16;

/// How [`try_sgemm`] would run one product, if at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// B is row-major: read in place.
    InPlace,
    /// B is stored transposed: copied row-major into a per-thread buffer first.
    TransposeB,
}

/// Whether (and how) to use this kernel for one `m × k × n` product with the given strides,
/// on an AVX-512 CPU: at least 8 rows and 8 columns, and a B small enough to stay in cache
/// (up to 64 rows, 256 Ki values). A is read one value at a time (broadcast), so its strides do not matter: a
/// transposed A (a convolution's `Wᵀ · ∂y`) costs nothing extra. B is loaded 16 columns at a
/// time, so it must be row-major, or is made so: a B stored transposed (a weight gradient's
/// `∂y · colsᵀ`) is copied, which `matrixmultiply` would do too when it packs B, but through a
/// strided gather per panel that took as long as the product (`cargo run --release --example
/// mnist_cnn` profile: packing 19% of a step, its micro-kernel 22%).
///
/// Up to 64 rows the per-image products of the MNIST CNN's second convolution ran 3% faster here
/// than through `matrixmultiply` (`cargo bench --bench conv -- c32_13`, 4.78 → 4.65 ms).
pub fn route(m: usize, k: usize, n: usize, [_rsa, _csa]: [isize; 2], [rsb, csb]: [isize; 2]) -> Option<Route> {
    if !crate::simd::has_avx512() || m < MR || n < MR || k == 0 {
        return None;
    }
    let b_len = k.saturating_mul(n);
    let fits = |limit: usize| b_len <= limit && (m <= 64 || b_len <= B_MAX_MANY_ROWS);
    if csb == 1 && fits(B_MAX) {
        Some(Route::InPlace)
    } else if rsb == 1 && csb > 0 && fits(B_MAX_TRANSPOSED) {
        Some(Route::TransposeB)
    } else {
        None
    }
}

/// `C = A · B` through this kernel when [`route`] says so (returns `false`, doing nothing,
/// otherwise), for A and B with any strides (element `(i, p)` of A at `a + i·rsa + p·csa`,
/// element `(p, j)` of B at `b + p·rsb + j·csb`); C row-major with row stride `ldc`, overwritten.
///
/// # Safety
/// Every element of A and B these strides address for `i < m`, `p < k`, `j < n` must be
/// readable, and the `m × n` block at `c` writable and not aliased.
#[allow(clippy::too_many_arguments)]
pub unsafe fn try_sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    a_strides: [isize; 2],
    b: *const f32,
    [rsb, csb]: [isize; 2],
    c: *mut f32,
    ldc: isize,
) -> bool {
    match route(m, k, n, a_strides, [rsb, csb]) {
        None => false,
        Some(Route::InPlace) => {
            // SAFETY: AVX-512F is present (`route` checked); B is row-major (unit column
            // stride); the pointer contract is the caller's.
            unsafe { sgemm(m, k, n, a, a_strides, b, BLayout::row_major(rsb), c, ldc) };
            true
        }
        Some(Route::TransposeB) => {
            thread_local! {
                static B_ROWS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
            }
            B_ROWS.with_borrow_mut(|rows| {
                rows.clear();
                rows.resize(k * n, 0.0);
                // SAFETY: AVX-512F is present (`route` checked); column `j` of B is
                // `b[j·csb ..][..k]` (unit row stride), readable by the caller's contract.
                unsafe { transpose_into(k, n, b, csb, rows) };
                // SAFETY: AVX-512F is present; `rows` is B row-major (k × n, row stride n).
                unsafe { sgemm(m, k, n, a, a_strides, rows.as_ptr(), BLayout::row_major(n as isize), c, ldc) };
            });
            true
        }
    }
}

/// Writes the `k × n` matrix whose column `j` is `b[j·csb ..][..k]` row-major into `out`: the
/// [`transpose`] of the `n × k` matrix whose rows are B's columns ([`route`] takes a transposed
/// B only with a positive column stride).
///
/// # Safety
/// AVX-512F must be present. `b + j·csb + p` must be readable for every `j < n`, `p < k`;
/// `out` holds `k·n` values.
#[target_feature(enable = "avx512f")]
unsafe fn transpose_into(k: usize, n: usize, b: *const f32, csb: isize, out: &mut [f32]) {
    assert!(out.len() >= k * n, "transpose_into: output too short");
    assert!(csb >= 0, "transpose_into: columns of B in order");
    // SAFETY: column j of B is the source row j (k values from b + j·csb, readable by the
    // caller's contract), and row p of `out` (n values, asserted long enough) gets value p of
    // every column; AVX-512F is present (caller's contract).
    unsafe { transpose(n, k, b, csb as usize, out.as_mut_ptr(), n) };
}

/// `dst[q·dst_stride + j] = src[j·src_stride + q]` for `j < rows`, `q < cols`: the full 16 × 16
/// blocks transposed in registers (`transpose_16x16`), the ragged edges one value at a time.
///
/// # Safety
/// AVX-512F must be present; `src + j·src_stride + q` must be readable and `dst + q·dst_stride +
/// j` writable for every `j < rows`, `q < cols`.
#[target_feature(enable = "avx512f")]
pub unsafe fn transpose(
    rows: usize,
    cols: usize,
    src: *const f32,
    src_stride: usize,
    dst: *mut f32,
    dst_stride: usize,
) {
    let (full_rows, full_cols) = (rows / LANES * LANES, cols / LANES * LANES);
    for j0 in (0..full_rows).step_by(LANES) {
        for q0 in (0..full_cols).step_by(LANES) {
            // SAFETY: rows j0..j0 + 16 ≤ rows and columns q0..q0 + 16 ≤ cols of both (caller's
            // contract).
            unsafe {
                transpose_16x16(
                    src.add(j0 * src_stride + q0),
                    src_stride as isize,
                    dst.add(q0 * dst_stride + j0),
                    dst_stride as isize,
                );
            }
        }
    }
    let copy = |j: usize, q: usize| {
        // SAFETY: j < rows, q < cols (caller's contract).
        unsafe { *dst.add(q * dst_stride + j) = *src.add(j * src_stride + q) };
    };
    for j in 0..full_rows {
        (full_cols..cols).for_each(|q| copy(j, q));
    }
    for j in full_rows..rows {
        (0..cols).for_each(|q| copy(j, q));
    }
}

/// Transposes one 16 × 16 block: row `j` of the source (16 values from `src + j·src_stride`)
/// becomes column `j` of the destination (value `q` to `dst + q·dst_stride + j`). Four rounds
/// of shuffles: interleave pairs of rows (floats, then float pairs), so that each 128-bit lane
/// holds one column's values from four rows; then gather the four lanes of each column from
/// four registers (`shuffle_f32x4`).
///
/// # Safety
/// AVX-512F must be present; the 16 source rows must be readable and the 16 destination rows
/// writable.
#[target_feature(enable = "avx512f")]
unsafe fn transpose_16x16(src: *const f32, src_stride: isize, dst: *mut f32, dst_stride: isize) {
    // SAFETY: the 16 rows of 16 values are readable (caller's contract).
    let r: [__m512; 16] = std::array::from_fn(|j| unsafe { _mm512_loadu_ps(src.offset(j as isize * src_stride)) });
    // Lane L of t[2i] holds (r[2i][4L], r[2i+1][4L], r[2i][4L+1], r[2i+1][4L+1]); t[2i+1] the
    // same for 4L+2, 4L+3.
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // Lane L of u[4g + e] holds column 4L + e of rows 4g..4g + 4.
    let mut u = [_mm512_setzero_ps(); 16];
    for g in 0..4 {
        let (lo, hi) = (_mm512_castps_pd(t[4 * g]), _mm512_castps_pd(t[4 * g + 2]));
        let (lo2, hi2) = (_mm512_castps_pd(t[4 * g + 1]), _mm512_castps_pd(t[4 * g + 3]));
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo, hi));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo, hi));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo2, hi2));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo2, hi2));
    }
    // Column q = 4L + e is (u[e].L, u[4+e].L, u[8+e].L, u[12+e].L). 0x88 picks lanes 0 and 2 of
    // each operand, 0xDD lanes 1 and 3.
    for e in 0..4 {
        let even_lo = _mm512_shuffle_f32x4::<0x88>(u[e], u[4 + e]);
        let odd_lo = _mm512_shuffle_f32x4::<0xDD>(u[e], u[4 + e]);
        let even_hi = _mm512_shuffle_f32x4::<0x88>(u[8 + e], u[12 + e]);
        let odd_hi = _mm512_shuffle_f32x4::<0xDD>(u[8 + e], u[12 + e]);
        let columns = [
            (e, _mm512_shuffle_f32x4::<0x88>(even_lo, even_hi)),
            (4 + e, _mm512_shuffle_f32x4::<0x88>(odd_lo, odd_hi)),
            (8 + e, _mm512_shuffle_f32x4::<0xDD>(even_lo, even_hi)),
            (12 + e, _mm512_shuffle_f32x4::<0xDD>(odd_lo, odd_hi)),
        ];
        for (q, column) in columns {
            // SAFETY: destination row `q < 16` is writable (caller's contract).
            unsafe { _mm512_storeu_ps(dst.offset(q as isize * dst_stride), column) };
        }
    }
}

/// `C = A · B` for an `m × k` A with any strides (`A[i][p] = a[i·rsa + p·csa]`: its values are
/// broadcast one at a time, so a transposed A is as fast as a row-major one), a `k × n` B laid
/// out as `b_layout` says, and a row-major C (row stride `ldc`), overwritten.
///
/// # Safety
/// The CPU must support AVX-512F (callers check [`crate::simd::has_avx512`]). Every element
/// `a + i·rsa + p·csa` for `i < m`, `p < k`, and every element of B that `b_layout` addresses
/// for `p < k`, `j < n`, must be readable, and the `m × n` block at `c` writable and not aliased.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    [rsa, csa]: [isize; 2],
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
        let operands = Operands { k, a, rsa, csa, b: panel, ldb: b_layout.ldb, c: unsafe { c.add(j) }, ldc };
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
    rsa: isize,
    csa: isize,
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
        let (mut a, mut b) = unsafe { (self.a.offset(i as isize * self.rsa), self.b) };
        for _ in 0..self.k {
            let bv: [__m512; NV] = std::array::from_fn(|v| unsafe { _mm512_maskz_loadu_ps(mask(v), b.add(v * LANES)) });
            for (r, row) in acc.iter_mut().enumerate() {
                let ar = _mm512_set1_ps(unsafe { *a.offset(r as isize * self.rsa) });
                for (acc, &bv) in row.iter_mut().zip(&bv) {
                    *acc = _mm512_fmadd_ps(ar, bv, *acc);
                }
            }
            b = unsafe { b.offset(self.ldb) };
            a = unsafe { a.offset(self.csa) };
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
