//! The 2×2 max-pooling backward pass over one output row in AVX-512 registers (f32): the
//! windows' four taps are two pairs of neighbours in two input rows, so a block of 16 outputs
//! reads 32 values of each row, splits them into even and odd columns (`vpermt2ps`), compares
//! them with the 16 maxima, and interleaves the shares back. The portable loop in `cpu.rs`
//! computes the same values, but its stride-2 accesses compile to one value at a time.

use std::arch::x86_64::*;

/// For the `ow` outputs of one output row: `top`/`bottom` (the two input rows, `2·ow` values each
/// read) get each tap's share `g·(1/#ties)` if it equals the window's maximum `y`, else
/// `g·(0/#ties)`, exactly as the portable loop computes them. Blocks of 16 outputs; the last,
/// partial one through masked loads and stores (rows of pooling layers are often shorter than
/// 16: 13 outputs on a 26² image).
///
/// # Safety
/// AVX-512F must be present.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn backward_row_2x2(
    xt: &[f32],
    xb: &[f32],
    y: &[f32],
    gy: &[f32],
    top: &mut [f32],
    bottom: &mut [f32],
    ow: usize,
) {
    assert!(xt.len() >= 2 * ow && xb.len() >= 2 * ow && top.len() >= 2 * ow && bottom.len() >= 2 * ow);
    assert!(y.len() >= ow && gy.len() >= ow);
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let high = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    let (one, zero) = (_mm512_set1_ps(1.0), _mm512_setzero_ps());
    // The first `k` of 16 lanes (k ≤ 16).
    let first = |k: usize| if k >= 16 { 0xffff } else { ((1u32 << k) - 1) as __mmask16 };
    for o in (0..ow).step_by(16) {
        let (n, p) = ((ow - o).min(16), 2 * o);
        // Outputs o..o + n, inputs p..p + 2n: lanes past them are masked off.
        let (m_out, m_in0, m_in1) = (first(n), first(2 * n), first((2 * n).saturating_sub(16)));
        // SAFETY: every access is masked to outputs below ow and inputs below 2·ow, inside the
        // slices (asserted above); masked-off lanes are neither read nor written.
        unsafe {
            let load = |s: &[f32], at: usize, m: __mmask16| _mm512_maskz_loadu_ps(m, s.as_ptr().add(at));
            let (t0, t1) = (load(xt, p, m_in0), load(xt, p + 16, m_in1));
            let (b0, b1) = (load(xb, p, m_in0), load(xb, p + 16, m_in1));
            let taps = [
                _mm512_permutex2var_ps(t0, even, t1),
                _mm512_permutex2var_ps(t0, odd, t1),
                _mm512_permutex2var_ps(b0, even, b1),
                _mm512_permutex2var_ps(b0, odd, b1),
            ];
            let (yv, g) = (load(y, o, m_out), load(gy, o, m_out));
            // `==` as Rust's: ordered, so a NaN equals nothing.
            let hits = taps.map(|v| _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(v, yv));
            let count = |m: __mmask16| _mm512_maskz_mov_ps(m, one);
            let ties = _mm512_add_ps(
                _mm512_add_ps(_mm512_add_ps(count(hits[0]), count(hits[1])), count(hits[2])),
                count(hits[3]),
            );
            let hit = _mm512_mul_ps(g, _mm512_div_ps(one, ties));
            let miss = _mm512_mul_ps(g, _mm512_div_ps(zero, ties));
            let s = hits.map(|m| _mm512_mask_blend_ps(m, miss, hit));
            let store =
                |d: &mut [f32], at: usize, m: __mmask16, v: __m512| _mm512_mask_storeu_ps(d.as_mut_ptr().add(at), m, v);
            store(top, p, m_in0, _mm512_permutex2var_ps(s[0], low, s[1]));
            store(top, p + 16, m_in1, _mm512_permutex2var_ps(s[0], high, s[1]));
            store(bottom, p, m_in0, _mm512_permutex2var_ps(s[2], low, s[3]));
            store(bottom, p + 16, m_in1, _mm512_permutex2var_ps(s[2], high, s[3]));
        }
    }
}
