//! "Medium" matmul precision on CPUs with AVX512-BF16: the packed f32 GEMM of [`super::avx512`]
//! with its panels rounded to bfloat16, multiplied by `vdpbf16ps`, summed in f32.
//!
//! Why: one `vdpbf16ps` multiplies 16 lanes of *pairs* of bfloat16 values and adds both products
//! to 16 f32 accumulators, 32 multiply-adds where `vfmadd231ps` does 16, and on the dev machine
//! (Zen 4) it issues at the same rate: twice the arithmetic per cycle (measured in a register-only
//! loop: 106 against 53 billion multiply-adds per second on one core).
//!
//! What it costs: each input keeps 8 of its 24 significant bits (round to nearest even, relative
//! error ≤ 2⁻⁸). The product of two bfloat16 values is exact in f32 and the sums stay in f32, so a
//! dot product `Σ aₚbₚ` errs by at most about `2·2⁻⁸·Σ|aₚbₚ|` plus the f32 summation's error:
//! enough for training (it is what PyTorch's `torch.set_float32_matmul_precision("medium")` and
//! bf16 autocast do), not for a gradient check. The conversion (`vcvtneps2bf16`) turns subnormal
//! inputs into zeros, and `vdpbf16ps` flushes subnormal results to zero. Nothing changes unless
//! [`super::MatmulPrecision::Medium`] is chosen.
//!
//! The loop nest and packing are [`super::avx512`]'s: A and B are packed into f32 panels as usual,
//! then each panel is rounded into a *pair panel*: for each pair of steps `(2q, 2q + 1)` and each
//! lane, one 32-bit word with `bf16(x[2q])` in its low half and `bf16(x[2q + 1])` in its high half
//! (a zero for the missing step when `kc` is odd), the operand `vdpbf16ps` multiplies lane by
//! lane. The micro-kernel is the f32 one with half as many steps: per pair, two vectors of B, 14
//! broadcast words of A, 28 `vdpbf16ps`.

use super::avx512::{self, store_tile, Inputs, MR, NR};
use std::arch::x86_64::*;
use std::sync::OnceLock;

/// Whether this CPU can run the bfloat16 kernel: the AVX-512 subsets the f32 kernel needs plus
/// AVX512-BF16 (cached after the first call).
pub fn available() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| crate::simd::has_avx512() && is_x86_feature_detected!("avx512bf16"))
}

/// `C = A · B` like [`avx512::sgemm`], with A and B rounded to bfloat16 and the products summed in
/// f32 (see the module documentation for the error this adds).
///
/// # Safety
/// The CPU must support AVX-512 and AVX512-BF16 ([`available`]). Every element of A and B
/// addressed by the sizes must be readable, and the `m × n` block at `c` writable and not aliased.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    a_strides: [isize; 2],
    b: *const f32,
    b_strides: [isize; 2],
    c: *mut f32,
    ldc: isize,
) {
    // SAFETY: forwarded from the caller, who checked `available()` (which includes AVX-512F).
    unsafe { avx512::gemm(Inputs::Bf16, m, k, n, a, a_strides, b, b_strides, c, ldc) }
}

/// `x` rounded to the nearest bfloat16 (ties to even) and widened back to f32: what the kernel
/// multiplies in place of `x`, as `vcvtneps2bf16` rounds it. NaN stays NaN (its payload may
/// differ) and subnormals become zeros of their sign, as in the instruction. A plain reference
/// for tests and for learners.
pub fn round_to_bf16(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x.is_subnormal() {
        return 0.0f32.copysign(x);
    }
    let bits = x.to_bits();
    // Add just under half of the dropped 16 bits' range, plus the kept part's lowest bit, so
    // that a tie rounds to the even neighbour; an overflow of the kept part carries into the
    // exponent, as rounding up should (and reaches infinity from the largest finite values).
    let rounded = bits.wrapping_add(0x7FFF + ((bits >> 16) & 1));
    f32::from_bits(rounded & 0xFFFF_0000)
}

/// Rounds `panels` consecutive f32 panels of `width` lanes (`width · kc` values each, step by
/// step, as `pack_a` and `pack_b` lay them out) into pair panels of `width · ⌈kc/2⌉` words at
/// the start of `out`.
///
/// # Safety
/// The CPU must support AVX-512 and AVX512-BF16; `src` must hold `panels · width · kc` values and
/// `out` room for `panels · width · ⌈kc/2⌉` words (checked by slicing).
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub(super) unsafe fn pair_panels(kc: usize, width: usize, panels: usize, src: &[f32], out: &mut [u32]) {
    let pairs = kc.div_ceil(2);
    let src = &src[..panels * width * kc];
    let out = &mut out[..panels * width * pairs];
    for (panel, paired) in src.chunks_exact(width * kc).zip(out.chunks_exact_mut(width * pairs)) {
        for q in 0..pairs {
            let even = &panel[2 * q * width..(2 * q + 1) * width];
            let odd = (2 * q + 1 < kc).then(|| &panel[(2 * q + 1) * width..(2 * q + 2) * width]);
            let words = &mut paired[q * width..(q + 1) * width];
            for j0 in (0..width).step_by(16) {
                let mask: __mmask16 = (((1u32 << (width - j0).min(16)) - 1) & 0xFFFF) as u16;
                // SAFETY: the mask covers only lanes j0 .. width of these `width`-long rows.
                unsafe {
                    let lo = _mm512_maskz_loadu_ps(mask, even.as_ptr().add(j0));
                    let hi = odd.map_or(_mm512_setzero_ps(), |odd| _mm512_maskz_loadu_ps(mask, odd.as_ptr().add(j0)));
                    _mm512_mask_storeu_epi32(words.as_mut_ptr().add(j0) as *mut i32, mask, pair_words(lo, hi));
                }
            }
        }
    }
}

/// Lane `i` of the result: `bf16(lo[i])` in the low 16 bits, `bf16(hi[i])` in the high 16.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
fn pair_words(lo: __m512, hi: __m512) -> __m512i {
    // `vcvtneps2bf16` rounds to nearest even and keeps NaNs (a plain truncation of the bits
    // would not); the 16 results are widened to 32-bit lanes and the odd step shifted up.
    let widen = |x: __m512| {
        // SAFETY: `__m256bh` and `__m256i` are both 256 bits of plain data.
        let halves: __m256i = unsafe { std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(x)) };
        _mm512_cvtepu16_epi32(halves)
    };
    _mm512_or_si512(widen(lo), _mm512_slli_epi32::<16>(widen(hi)))
}

/// One `MR × NR` tile from pair panels: `C (+)= Ap · Bp` over `pairs` steps of two values each.
/// `rows × cols` is the valid part of the tile; `accumulate` adds to C instead of overwriting it.
///
/// # Safety
/// AVX-512 and AVX512-BF16; the panels hold at least `pairs · MR` and `pairs · NR` words (asserted
/// in debug builds), and the tile's valid part of C is writable (readable when accumulating).
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,avx512bf16")]
pub(super) unsafe fn micro_kernel(
    pairs: usize,
    ap: &[u32],
    bp: &[u32],
    c: *mut f32,
    ldc: isize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    debug_assert!(ap.len() >= pairs * MR && bp.len() >= pairs * NR);
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let (mut pa, mut pb) = (ap.as_ptr(), bp.as_ptr());
    // SAFETY (all transmutes below): `__m512i` and `__m512bh` are both 512 bits of plain data.
    let as_bf16 = |v: __m512i| unsafe { std::mem::transmute::<__m512i, __m512bh>(v) };
    for _ in 0..pairs {
        // SAFETY: `pairs` steps of MR (A) and NR (B) words lie inside the panels.
        let (b0, b1) =
            unsafe { (_mm512_loadu_si512(pb as *const __m512i), _mm512_loadu_si512(pb.add(16) as *const __m512i)) };
        let (b0, b1) = (as_bf16(b0), as_bf16(b1));
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let ai = as_bf16(_mm512_set1_epi32(unsafe { *pa.add(i) } as i32));
            row[0] = _mm512_dpbf16_ps(row[0], ai, b0);
            row[1] = _mm512_dpbf16_ps(row[1], ai, b1);
        }
        // SAFETY: advancing within (or one past the end of) the panels.
        unsafe {
            pa = pa.add(MR);
            pb = pb.add(NR);
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_tile(&acc, c, ldc, rows, cols, accumulate) }
}
