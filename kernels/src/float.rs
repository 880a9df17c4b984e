//! The floating-point element types the kernels compute on: `f32` everywhere, `f64` on the CPU
//! (gradient checks run in `f64`, as PyTorch's `gradcheck` does).

use std::fmt::{Debug, Display};
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point element type: the arithmetic and the transcendental functions the kernels use.
///
/// The math functions are `#[inline(always)]` wrappers so that they can be inlined (and, where the
/// implementation is branch-free, vectorised) inside the kernels' hot loops.
pub trait Float:
    Copy
    + Send
    + Sync
    + 'static
    + PartialOrd
    + Debug
    + Display
    + Default
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
{
    /// 0
    const ZERO: Self;
    /// 1
    const ONE: Self;
    /// Negative infinity: the identity of `max`.
    const NEG_INFINITY: Self;
    /// Positive infinity: the identity of `min`.
    const INFINITY: Self;
    /// The type's name as printed in errors and `Display` (`"f32"`, `"f64"`).
    const NAME: &'static str;

    /// Converts from `f64` (rounding for `f32`).
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` (exact).
    fn to_f64(self) -> f64;
    /// `e^x`
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `ln(1 + x)`, accurate for small `x`.
    fn ln_1p(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// The error function.
    fn erf(self) -> Self;
    /// `self^p`
    fn powf(self, p: Self) -> Self;
    /// `|x|`
    fn abs(self) -> Self;
    /// `true` for NaN.
    fn is_nan(self) -> bool;
    /// The larger of two values, written as a select so that it vectorises (NaN in `self` wins).
    #[inline(always)]
    fn max_v(self, other: Self) -> Self {
        if self >= other || self.is_nan() {
            self
        } else {
            other
        }
    }
    /// `C = A · B` for one strided `m × k` by `k × n` product into a row-major `C` with row
    /// stride `ldc` (overwritten), through `matrixmultiply`'s `sgemm`/`dgemm`.
    ///
    /// # Safety
    /// Every element addressed by `a` (strides `[row, col]`) and `b` must be readable, and the
    /// `m × n` block at `c` must be writable and not aliased.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        a_strides: [isize; 2],
        b: *const Self,
        b_strides: [isize; 2],
        c: *mut Self,
        ldc: isize,
    );
    /// `values` as f32, when `Self` is `f32` (for the kernels written for f32 only).
    fn as_f32(values: &[Self]) -> Option<&[f32]> {
        let _ = values;
        None
    }
    /// `values` as mutable f32, when `Self` is `f32`.
    fn as_f32_mut(values: &mut [Self]) -> Option<&mut [f32]> {
        let _ = values;
        None
    }
    /// The `(rows, columns)` of C one micro-kernel call computes (`rounded`: the bfloat16 kernel
    /// of [`Float::gemm_bf16`]): the parallel split cuts C into blocks that are multiples of
    /// these, so no thread computes a ragged tile it could avoid.
    fn gemm_tile(m: usize, k: usize, n: usize, rounded: bool) -> (usize, usize);
    /// Whether an `m × k × n` product is to be computed with its inputs rounded to bfloat16
    /// ([`Float::gemm_bf16`]): `MatmulPrecision::Medium`, a type and a CPU with such a kernel,
    /// and a product large enough for it. Decided once for a whole product, so that every block
    /// of a product split over threads is computed alike, whatever the number of threads.
    fn rounds_to_bf16(m: usize, k: usize, n: usize) -> bool {
        let _ = (m, k, n);
        false
    }
    /// [`Float::gemm`] with A and B rounded to bfloat16 and the products summed in `Self`, for the
    /// products [`Float::rounds_to_bf16`] accepts; plain `gemm` where there is no such kernel.
    ///
    /// # Safety
    /// As [`Float::gemm`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_bf16(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        a_strides: [isize; 2],
        b: *const Self,
        b_strides: [isize; 2],
        c: *mut Self,
        ldc: isize,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { Self::gemm(m, k, n, a, a_strides, b, b_strides, c, ldc) }
    }
    /// The smaller of two values, written as a select so that it vectorises (NaN in `self` wins).
    #[inline(always)]
    fn min_v(self, other: Self) -> Self {
        if self <= other || self.is_nan() {
            self
        } else {
            other
        }
    }
}

impl Float for f32 {
    fn as_f32(values: &[Self]) -> Option<&[f32]> {
        Some(values)
    }
    fn as_f32_mut(values: &mut [Self]) -> Option<&mut [f32]> {
        Some(values)
    }
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    const INFINITY: Self = f32::INFINITY;
    const NAME: &'static str = "f32";
    fn gemm_tile(m: usize, k: usize, n: usize, rounded: bool) -> (usize, usize) {
        #[cfg(target_arch = "x86_64")]
        if rounded || crate::matmul::avx512::worth_it(m, k, n) {
            return (crate::matmul::avx512::MR, crate::matmul::avx512::NR);
        }
        let _ = (m, k, n, rounded);
        (8, 8)
    }
    fn rounds_to_bf16(m: usize, k: usize, n: usize) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use crate::matmul::{avx512, avx512_bf16, matmul_precision, MatmulPrecision};
            matmul_precision() == MatmulPrecision::Medium && avx512_bf16::available() && avx512::worth_it(m, k, n)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (m, k, n);
            false
        }
    }
    unsafe fn gemm_bf16(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        a_strides: [isize; 2],
        b: *const Self,
        b_strides: [isize; 2],
        c: *mut Self,
        ldc: isize,
    ) {
        #[cfg(target_arch = "x86_64")]
        if crate::matmul::avx512_bf16::available() {
            // SAFETY: AVX-512 and AVX512-BF16 are present (checked); the pointer contract is the
            // caller's.
            return unsafe { crate::matmul::avx512_bf16::sgemm(m, k, n, a, a_strides, b, b_strides, c, ldc) };
        }
        // SAFETY: forwarded from the caller.
        unsafe { Self::gemm(m, k, n, a, a_strides, b, b_strides, c, ldc) }
    }
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        [rsa, csa]: [isize; 2],
        b: *const Self,
        [rsb, csb]: [isize; 2],
        c: *mut Self,
        ldc: isize,
    ) {
        #[cfg(target_arch = "x86_64")]
        if crate::matmul::avx512::worth_it(m, k, n) {
            // SAFETY: AVX-512F is present (checked); the pointer contract is the caller's.
            return unsafe { crate::matmul::avx512::sgemm(m, k, n, a, [rsa, csa], b, [rsb, csb], c, ldc) };
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded from the caller's contract (see the trait method).
        if unsafe { crate::matmul::avx512_rows::try_sgemm(m, k, n, a, [rsa, csa], b, [rsb, csb], c, ldc) } {
            return;
        }
        // SAFETY: forwarded from the caller's contract (see the trait method).
        unsafe { matrixmultiply::sgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, 0.0, c, ldc, 1) }
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn exp(self) -> Self {
        exp_f32(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f32::ln(self)
    }
    #[inline(always)]
    fn ln_1p(self) -> Self {
        f32::ln_1p(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        tanh_f32(self)
    }
    #[inline(always)]
    fn erf(self) -> Self {
        erf_f32(self)
    }
    #[inline(always)]
    fn powf(self, p: Self) -> Self {
        f32::powf(self, p)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl Float for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    const INFINITY: Self = f64::INFINITY;
    const NAME: &'static str = "f64";
    fn gemm_tile(_m: usize, _k: usize, _n: usize, _rounded: bool) -> (usize, usize) {
        (8, 8)
    }
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        [rsa, csa]: [isize; 2],
        b: *const Self,
        [rsb, csb]: [isize; 2],
        c: *mut Self,
        ldc: isize,
    ) {
        // SAFETY: forwarded from the caller's contract (see the trait method).
        unsafe { matrixmultiply::dgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, 0.0, c, ldc, 1) }
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f64::ln(self)
    }
    #[inline(always)]
    fn ln_1p(self) -> Self {
        f64::ln_1p(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    #[inline(always)]
    fn erf(self) -> Self {
        libm::erf(self)
    }
    #[inline(always)]
    fn powf(self, p: Self) -> Self {
        f64::powf(self, p)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f64::abs(self)
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

/// `e^x` for `f32`, branch-free so that it vectorises (glibc's `expf` is a call per element).
///
/// Cephes' method: write `x = n·ln2 + r` with `n = round(x·log2 e)` and `|r| ≤ ln2/2`, evaluate a
/// degree-6 polynomial for `e^r`, and multiply by `2^n` built directly in the exponent bits. `ln2`
/// is split in a high and a low part so that `r` is exact to f32 precision. Relative error is
/// below 2 ulp over the whole range (checked against `f64::exp` in the tests); overflow gives
/// `+inf`, underflow gives `0`, NaN stays NaN.
///
/// The polynomial is evaluated with fused multiply-adds (`mul_add`): inside the AVX2 and AVX-512
/// copies of a kernel they are single instructions (+25% for `exp` and softmax); only the
/// baseline copy, which runs on CPUs without FMA, turns them into calls to `fmaf`.
///
/// Two details keep it vectorisable: `n` is rounded by adding and subtracting `1.5·2^23` (the
/// float's own round-to-nearest; no `floor`, which is a libm call without SSE4.1), and `2^n` is
/// made from the bits of that same sum (in two halves, so that no branch is needed), with no float-to-int conversion (Rust's `as i32`
/// saturates, which LLVM does not vectorise well).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const MAX_X: f32 = 88.722_83;
    const MIN_X: f32 = -87.336_55;
    // 1.5·2^23: adding it to a float of magnitude < 2^22 leaves round(v) in the low mantissa bits.
    const ROUNDER: f32 = 12_582_912.0;
    let xc = x.clamp(MIN_X, MAX_X);
    let t = xc * LOG2E + ROUNDER;
    let n = t - ROUNDER;
    let r = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, xc));
    let r2 = r * r;
    let p = 1.987_569_1e-4f32.mul_add(r, 1.398_199_9e-3);
    let p = p.mul_add(r, 8.333_452e-3);
    let p = p.mul_add(r, 4.166_579_6e-2);
    let p = p.mul_add(r, 1.666_666_5e-1);
    let p = p.mul_add(r, 0.5);
    let er = p.mul_add(r2, r) + 1.0;
    // The low bits of `t` hold n + 2^22 (as an integer), so subtracting the bits of ROUNDER gives
    // n. n spans [-126, 128] and 2^128 is not a float, so multiply by 2^(n/2) and 2^(n - n/2),
    // each built by putting its biased exponent into the exponent field.
    let n_int = t.to_bits().wrapping_sub(ROUNDER.to_bits()) as i32;
    let (n1, n2) = (n_int >> 1, n_int - (n_int >> 1));
    let s1 = f32::from_bits(((n1 + 127) as u32) << 23);
    let s2 = f32::from_bits(((n2 + 127) as u32) << 23);
    let y = er * s1 * s2;
    let y = if x > MAX_X { f32::INFINITY } else { y };
    let y = if x < MIN_X { 0.0 } else { y };
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// `tanh x` for `f32`, branch-free so that it vectorises (glibc's `tanhf` is a call per element
/// and was over half the time of the fused LSTM forward).
///
/// Cephes' method: for `|x| < 0.625`, the odd polynomial `x + x³·P(x²)` (no cancellation near 0,
/// where `tanh x ≈ x`); above, `1 − 2 / (e^{2|x|} + 1)` with [`exp_f32`], whose result is then at
/// least 0.55, so the subtraction loses nothing. Both are computed and one is selected. Error
/// below 3 ulp (checked against `f64::tanh` in the tests); `e^{2|x|} = ∞` gives exactly ±1, NaN
/// stays NaN.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let p = (-5.704_988_7e-3f32).mul_add(z, 2.063_909e-2);
    let p = p.mul_add(z, -5.373_971_6e-2);
    let p = p.mul_add(z, 1.333_144_2e-1);
    let p = p.mul_add(z, -3.333_328e-1);
    let small = (p * z).mul_add(x, x);
    let large = 1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0);
    let large = if x < 0.0 { -large } else { large };
    if a < 0.625 || x.is_nan() {
        small
    } else {
        large
    }
}

/// `erf x` for `f32`, branch-free so that it vectorises (the `libm` crate's `erff` is a call per
/// element, and GELU spent most of its time there).
///
/// Two polynomial fits, both computed and one selected, as in [`tanh_f32`]:
/// - `|x| < 1`: the odd form `x·P(x²)`, a degree-6 least-squares fit of `erf(x)/x` in `x²` on
///   Chebyshev nodes. It keeps full *relative* accuracy near 0, where `erf x ≈ 2x/√π`.
/// - `|x| ≥ 1`: `1 − e^{−x²}·u·R(u)` with `u = 1/|x|`. The function `R(u) = erfc(x)·x·e^{x²}`
///   is smooth and bounded on `u ∈ [¼, 1]` (it tends to `1/√π` as `x → ∞`), so a degree-8
///   polynomial fits it well, and `e^{−x²}` comes from [`exp_f32`]. `|x|` is clamped to 4, where
///   `erfc` (1.5e-8) is below half an ulp of 1, so the result rounds to exactly ±1 beyond it.
///
/// Error below 3 ulp (checked against `libm::erf` in f64 in the tests); NaN stays NaN.
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    let z = x * x;
    let p = 7.898_21e-5f32.mul_add(z, -8.024_354e-4);
    let p = p.mul_add(z, 5.190_053_5e-3);
    let p = p.mul_add(z, -2.685_481e-2);
    let p = p.mul_add(z, 1.128_361_2e-1);
    let p = p.mul_add(z, -3.761_263e-1);
    let p = p.mul_add(z, std::f32::consts::FRAC_2_SQRT_PI); // the slope at 0, as fitted
    let small = x * p;
    let a = x.abs().clamp(1.0, 4.0);
    let u = 1.0 / a;
    let r = 5.676_704e-2f32.mul_add(u, -3.236_351_3e-1);
    let r = r.mul_add(u, 7.832_631_5e-1);
    let r = r.mul_add(u, -1.007_305_4);
    let r = r.mul_add(u, 6.395_583e-1);
    let r = r.mul_add(u, 8.631_646e-3);
    let r = r.mul_add(u, -2.965_422e-1);
    let r = r.mul_add(u, 2.848_367e-3);
    let r = r.mul_add(u, 5.639_978e-1);
    let large = 1.0 - exp_f32(-(a * a)) * (u * r);
    let large = if x < 0.0 { -large } else { large };
    if x.abs() < 1.0 || x.is_nan() {
        small
    } else {
        large
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite f32 values of the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_f32_within_two_ulp_over_the_normal_range() {
        // A dense sweep of the whole range where e^x is a normal f32.
        let mut worst = 0;
        let mut x = -87.0f32;
        while x < 88.7 {
            let exact = (x as f64).exp() as f32;
            worst = worst.max(ulps(exp_f32(x), exact));
            x += 0.000_731;
        }
        assert!(worst <= 2, "worst error {worst} ulp");
    }

    #[test]
    fn tanh_f32_within_three_ulp() {
        let mut worst = 0;
        let mut x = -12.0f32;
        while x < 12.0 {
            let exact = (x as f64).tanh() as f32;
            worst = worst.max(ulps(tanh_f32(x), exact));
            x += 0.000_377;
        }
        // Tiny arguments, where tanh x = x to f32 precision.
        for x in [1e-30f32, -3e-12, 1e-6, -2.5e-4] {
            worst = worst.max(ulps(tanh_f32(x), (x as f64).tanh() as f32));
        }
        assert!(worst <= 3, "worst error {worst} ulp");
        assert_eq!(tanh_f32(0.0), 0.0);
        assert_eq!(tanh_f32(100.0), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert!(tanh_f32(f32::NAN).is_nan());
    }

    #[test]
    fn erf_f32_within_three_ulp() {
        let mut worst = 0;
        let mut x = -6.0f32;
        while x < 6.0 {
            worst = worst.max(ulps(erf_f32(x), libm::erf(x as f64) as f32));
            x += 0.000_377;
        }
        // Tiny arguments (erf x = 2x/√π to f32 precision) and the switch between the two fits.
        for x in [1e-30f32, -3e-12, 1e-6, -2.5e-4, 0.999_999_94, 1.0, -1.0, 4.0] {
            worst = worst.max(ulps(erf_f32(x), libm::erf(x as f64) as f32));
        }
        assert!(worst <= 3, "worst error {worst} ulp");
        assert_eq!(erf_f32(0.0), 0.0);
        assert_eq!(erf_f32(5.0), 1.0);
        assert_eq!(erf_f32(f32::NEG_INFINITY), -1.0);
        assert!(erf_f32(f32::NAN).is_nan());
    }

    #[test]
    fn exp_f32_edge_cases() {
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(-100.0), 0.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
    }
}
