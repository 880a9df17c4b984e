//! The few-rows GEMM of [`super::avx512_rows`] in "medium" precision: B held as bfloat16 pairs,
//! A rounded to bfloat16 as it is read, products summed in f32 by `vdpbf16ps`.
//!
//! It serves the per-step products of the recurrent layers (`h_{t−1} · W_hhᵀ` forward,
//! `∂a · W_hh` backward) when [`super::MatmulPrecision::Medium`] is chosen: B, the recurrent
//! weight matrix, is rounded and packed once per pass ([`pack_pair_panels`]) and read at every
//! step; A, a few rows of states or gate gradients, is rounded at each product. What the rounding
//! costs, and why `vdpbf16ps` is twice as fast, is explained in [`super::avx512_bf16`]. Here it
//! also halves the bytes of B streamed from memory at every step (2 MiB instead of 4 for the
//! `W_hhᵀ` of a 512-unit LSTM, which does not fit in L2 either way).
//!
//! Layout of B: the f32 kernel's 48-column panels, each made of *pair rows*: pair `q` of a panel
//! holds, for each of its 48 columns, one 32-bit word with `bf16(B[2q][j])` in the low half and
//! `bf16(B[2q + 1][j])` in the high half (zero when `k` is odd and `2q + 1 = k`). A's rows are
//! rounded into the same kind of words, `bf16(A[i][2q]) | bf16(A[i][2q + 1]) << 16`, and each
//! word is broadcast against three vectors of B: 24 `vdpbf16ps` per pair of steps, each 32
//! multiply-adds where the f32 kernel's `vfmadd231ps` does 16.

use super::avx512_bf16::round_to_bf16;
use super::avx512_rows::PANEL;
use std::arch::x86_64::*;

/// Rows of C per micro-tile (as the f32 kernel).
const MR: usize = 8;
/// Lanes of one zmm register.
const LANES: usize = 16;

/// A bfloat16 value's bits, as the kernel's conversion (`vcvtne2ps2bf16`) makes them: the high
/// half of [`round_to_bf16`]'s result, whose low 16 bits are zero; a NaN keeps its high half
/// and is made quiet (a payload only in the low bits would otherwise read as an infinity).
fn bf16_bits(x: f32) -> u32 {
    if x.is_nan() {
        return (x.to_bits() >> 16) | 0x0040;
    }
    round_to_bf16(x).to_bits() >> 16
}

/// The `k × n` matrix B (element `(p, j)` at `b[p·rsb + j·csb]`) as bfloat16 pair panels:
/// `n.div_ceil(48)` panels of `k.div_ceil(2) × 48` words (module documentation), the missing
/// columns of the last panel and the missing step of an odd `k` zero.
///
/// Panics if an element lies outside `b`.
pub fn pack_pair_panels(k: usize, n: usize, b: &[f32], rsb: usize, csb: usize) -> Vec<u32> {
    if k > 0 && n > 0 {
        assert!((k - 1) * rsb + (n - 1) * csb < b.len(), "pack_pair_panels: B out of bounds");
    }
    let pairs = k.div_ceil(2);
    let mut out = vec![0u32; n.div_ceil(PANEL) * pairs * PANEL];
    for (q, panel) in out.chunks_exact_mut((pairs * PANEL).max(1)).enumerate().take(n.div_ceil(PANEL)) {
        let cols = (n - q * PANEL).min(PANEL);
        for (pair, row) in panel.chunks_exact_mut(PANEL).enumerate() {
            for (jj, word) in row[..cols].iter_mut().enumerate() {
                let j = q * PANEL + jj;
                let low = bf16_bits(b[2 * pair * rsb + j * csb]);
                let high = if 2 * pair + 1 < k { bf16_bits(b[(2 * pair + 1) * rsb + j * csb]) } else { 0 };
                *word = low | high << 16;
            }
        }
    }
    out
}

/// Rounds row `i` of A (`k` values from `a + i·rsa`, unit column stride) into `k.div_ceil(2)`
/// pair words.
///
/// # Safety
/// AVX-512F/BW and AVX512-BF16 must be present; the `k` values must be readable and `out` hold
/// `k.div_ceil(2)` words.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn pair_row(k: usize, row: *const f32, out: &mut [u32]) {
    debug_assert!(out.len() >= k.div_ceil(2));
    let mut p = 0;
    // 32 values at a time: `vcvtne2ps2bf16` packs them as 32 consecutive bfloat16 values, which
    // read as 16 little-endian words are exactly the pairs (2q, 2q + 1).
    while p + 2 * LANES <= k {
        // SAFETY: values p .. p + 32 ≤ k of the row (readable by the caller's contract), and
        // words p/2 .. p/2 + 16 ≤ k.div_ceil(2) of `out`; the CPU features are the caller's.
        unsafe {
            let lo = _mm512_loadu_ps(row.add(p));
            let hi = _mm512_loadu_ps(row.add(p + LANES));
            let words: __m512i = std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo));
            _mm512_storeu_si512(out.as_mut_ptr().add(p / 2) as *mut __m512i, words);
        }
        p += 2 * LANES;
    }
    while p < k {
        // SAFETY: p < k (and p + 1 < k when read).
        let (low, high) = unsafe { (*row.add(p), if p + 1 < k { *row.add(p + 1) } else { 0.0 }) };
        out[p / 2] = bf16_bits(low) | bf16_bits(high) << 16;
        p += 2;
    }
}

/// `C = A · B` for an `m × k` row-major A (row stride `rsa`), B packed by [`pack_pair_panels`]
/// (the same `k` and `n`), and a row-major C (row stride `ldc`), overwritten: A and B rounded to
/// bfloat16, the products summed in f32.
///
/// # Safety
/// The CPU must support AVX-512 and AVX512-BF16 ([`super::avx512_bf16::available`]). The rows of
/// A (`a + i·rsa`, `k` values each, `i < m`) must be readable; `panels` must be the packing of a
/// `k × n` matrix; the `m × n` block at `c` must be writable and not aliased.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx2,fma,avx512bf16")]
pub unsafe fn sgemm(m: usize, k: usize, n: usize, a: *const f32, rsa: isize, panels: &[u32], c: *mut f32, ldc: isize) {
    let pairs = k.div_ceil(2);
    assert!(panels.len() >= n.div_ceil(PANEL) * pairs * PANEL, "avx512_rows_bf16::sgemm: panels too short");
    thread_local! {
        static A_PAIRS: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    A_PAIRS.with_borrow_mut(|words| {
        words.clear();
        words.resize(m * pairs, 0);
        for (i, out) in words.chunks_exact_mut(pairs.max(1)).enumerate().take(m) {
            // SAFETY: row i < m of A is readable (caller's contract); the CPU features are the
            // caller's too.
            unsafe { pair_row(k, a.offset(i as isize * rsa), out) };
        }
        let mut j = 0;
        while j < n {
            let width = (n - j).min(PANEL);
            let panel = &panels[(j / PANEL) * pairs * PANEL..][..pairs * PANEL];
            // SAFETY: columns j .. j + width of C are inside the caller's m × n block.
            let tile = Tile { pairs, a: words, b: panel, c: unsafe { c.add(j) }, ldc };
            // SAFETY: the panel and A's words hold `pairs` steps; C as above.
            unsafe {
                match width.div_ceil(LANES) {
                    3 => tile.panel::<3>(m, width),
                    2 => tile.panel::<2>(m, width),
                    _ => tile.panel::<1>(m, width),
                }
            }
            j += width;
        }
    });
}

/// One panel's operands: A's pair words (`pairs` per row), the panel's pair rows, C moved to
/// the panel's first column.
struct Tile<'a> {
    pairs: usize,
    a: &'a [u32],
    b: &'a [u32],
    c: *mut f32,
    ldc: isize,
}

impl Tile<'_> {
    /// Every row of the panel's `width ≤ NV·16` columns of C, 8 rows at a time.
    ///
    /// # Safety
    /// As [`sgemm`], for these columns.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,avx512bf16")]
    unsafe fn panel<const NV: usize>(&self, m: usize, width: usize) {
        let mut i = 0;
        while i + MR <= m {
            // SAFETY: rows i .. i + MR < m.
            unsafe { self.tile::<MR, NV>(i, width) };
            i += MR;
        }
        while i < m {
            // SAFETY: row i < m.
            unsafe { self.tile::<1, NV>(i, width) };
            i += 1;
        }
    }

    /// The `R × width` tile of C at row `i`: `R·NV` accumulators, one pass over the pairs; the
    /// last of the `NV` vectors masked to the columns that exist.
    ///
    /// # Safety
    /// As [`sgemm`], for rows `i .. i + R` and the panel's first `width` columns.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,avx512bf16")]
    unsafe fn tile<const R: usize, const NV: usize>(&self, i: usize, width: usize) {
        debug_assert!(width > (NV - 1) * LANES && width <= NV * LANES);
        let tail: __mmask16 = (((1u32 << (width - (NV - 1) * LANES)) - 1) & 0xffff) as __mmask16;
        let mask = |v: usize| if v + 1 == NV { tail } else { 0xffff };
        // SAFETY (all transmutes): `__m512i` and `__m512bh` are both 512 bits of plain data.
        let as_bf16 = |v: __m512i| unsafe { std::mem::transmute::<__m512i, __m512bh>(v) };
        let a = &self.a[i * self.pairs..(i + R) * self.pairs];
        let mut acc = [[_mm512_setzero_ps(); NV]; R];
        for (q, b) in self.b.chunks_exact(PANEL).take(self.pairs).enumerate() {
            // SAFETY: three vectors of the 48-word pair row `b`; the panel's padding columns
            // are zeros, so the unmasked loads read only initialised words of `b`.
            let bv: [__m512bh; NV] = std::array::from_fn(|v| {
                as_bf16(unsafe { _mm512_loadu_si512(b.as_ptr().add(v * LANES) as *const __m512i) })
            });
            for (r, row) in acc.iter_mut().enumerate() {
                let ar = as_bf16(_mm512_set1_epi32(a[r * self.pairs + q] as i32));
                for (acc, &bv) in row.iter_mut().zip(&bv) {
                    *acc = _mm512_dpbf16_ps(*acc, ar, bv);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            // SAFETY: row i + r < m of C, inside the caller's m × n block.
            let c = unsafe { self.c.offset((i + r) as isize * self.ldc) };
            for (v, &value) in row.iter().enumerate() {
                // SAFETY: columns v·16 .. v·16 + 16 of this row, masked to the panel's first
                // `width` columns, all inside C's n columns.
                unsafe { _mm512_mask_storeu_ps(c.add(v * LANES), mask(v), value) };
            }
        }
    }
}
