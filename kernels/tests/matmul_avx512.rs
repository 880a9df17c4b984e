//! Property tests for the hand-written AVX-512 f32 GEMM, called directly (through `matmul` it
//! only runs on products of 2^25 multiply-adds or more). Shapes cover full and ragged tiles
//! (m not a multiple of 14, n not a multiple of 32), several KC slices (k > 256, so later slices
//! accumulate into C), and transposed or strided operands. The few-rows kernel
//! (`avx512_rows`) is checked the same way over every shape its dispatcher sends it, and the
//! bfloat16 variant of the packed kernel (`avx512_bf16`) against the exact product of its inputs
//! rounded to bfloat16, as is the bfloat16 variant of the few-rows kernel (`avx512_rows_bf16`,
//! the recurrent layers' step products in medium precision). Skipped, with a message, on CPUs without AVX-512 (or AVX512-BF16).

#![cfg(target_arch = "x86_64")]

use ferrograd_kernels::matmul::avx512::sgemm;
use ferrograd_kernels::matmul::avx512_bf16::{self, round_to_bf16};
use ferrograd_kernels::matmul::avx512_rows::{self, BLayout};
use ferrograd_kernels::matmul::avx512_rows_bf16;
use ferrograd_kernels::simd::has_avx512;
use proptest::prelude::*;

/// Fresh values in [-1, 1) from a seed (SplitMix64).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Checks every element of the `m × n` block of `c` (row stride `ldc`) against the product of
/// A and B (elements given by `a_at(i, p)` and `b_at(p, j)`), and that the padding between the
/// rows is still the NaN it was poisoned with (nothing outside the block was written).
fn check_block(
    [m, k, n]: [usize; 3],
    c: &[f32],
    ldc: usize,
    a_at: impl Fn(usize, usize) -> f32,
    b_at: impl Fn(usize, usize) -> f32,
) -> Result<(), TestCaseError> {
    for i in 0..m {
        for j in 0..ldc {
            let got = c[i * ldc + j];
            if j >= n {
                prop_assert!(got.is_nan(), "wrote outside the block at ({i}, {j})");
                continue;
            }
            let products = (0..k).map(|p| a_at(i, p) as f64 * b_at(p, j) as f64);
            let (exact, scale) = products.fold((0.0f64, 0.0f64), |(e, s), x| (e + x, s + x.abs()));
            // A k-term f32 dot product errs by at most γ_k·Σ|a_ip·b_pj| with γ_k ≈ k·2^-24
            // (Higham); allow that plus one rounding of the result.
            let bound = (k as f64 + 1.0) * f32::EPSILON as f64 / 2.0 * scale + 1e-30;
            prop_assert!((got as f64 - exact).abs() <= bound, "C[{i},{j}] = {got}, exact {exact}, bound {bound}");
        }
    }
    Ok(())
}

/// The signature of the packed kernels (`avx512::sgemm`, `avx512_bf16::sgemm`).
type PackedGemm = unsafe fn(usize, usize, usize, *const f32, [isize; 2], *const f32, [isize; 2], *mut f32, isize);

/// Runs a packed kernel on fresh row-major or transposed operands into a NaN-poisoned C (rows
/// `ldc_pad` wider than `n`) and checks it against the exact product of the inputs mapped by
/// `round` (what the kernel is meant to multiply).
fn check_packed(
    kernel: PackedGemm,
    round: fn(f32) -> f32,
    [m, k, n]: [usize; 3],
    [a_transposed, b_transposed]: [bool; 2],
    ldc_pad: usize,
    seed: u64,
) -> Result<(), TestCaseError> {
    let a = values(m * k, seed);
    let b = values(k * n, seed ^ 0xABCD);
    let a_strides = if a_transposed { [1, m as isize] } else { [k as isize, 1] };
    let b_strides = if b_transposed { [1, k as isize] } else { [n as isize, 1] };
    let ldc = n + ldc_pad;
    // Poison C (including the padding between rows) to prove every element of the m × n block
    // is written and nothing outside it is.
    let mut c = vec![f32::NAN; m * ldc];
    // SAFETY: the operands and C are sized for exactly these strides; the callers checked the
    // CPU features of their kernel.
    unsafe { kernel(m, k, n, a.as_ptr(), a_strides, b.as_ptr(), b_strides, c.as_mut_ptr(), ldc as isize) };
    let a_at = |i: usize, p: usize| round(a[(i as isize * a_strides[0] + p as isize * a_strides[1]) as usize]);
    let b_at = |p: usize, j: usize| round(b[(p as isize * b_strides[0] + j as isize * b_strides[1]) as usize]);
    check_block([m, k, n], &c, ldc, a_at, b_at)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The bfloat16 kernel computes the exact product of its inputs rounded to bfloat16 (ties to
    /// even), up to the f32 summation's error: the same bound as the f32 kernel's, applied to
    /// the rounded operands. Had it multiplied the unrounded values, or rounded differently, the
    /// error would be about 2⁻⁸ of the sum, far above the bound. The inputs are never subnormal
    /// (which the conversion flushes to zero). Odd and even depths, several KC slices, more
    /// than one block of rows (m > 168), ragged tiles, transposed operands.
    #[test]
    fn bf16_sgemm_matches_the_naive_product_of_rounded_inputs(
        m in prop_oneof![1usize..60, 160usize..400],
        k in prop_oneof![1usize..40, 250usize..600],
        n in 1usize..80,
        a_transposed in any::<bool>(),
        b_transposed in any::<bool>(),
        ldc_pad in 0usize..5,
        seed in any::<u64>(),
    ) {
        if !avx512_bf16::available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return Ok(());
        }
        check_packed(avx512_bf16::sgemm, round_to_bf16, [m, k, n], [a_transposed, b_transposed], ldc_pad, seed)?;
    }

    /// The bfloat16 few-rows kernel against the exact product of the rounded inputs, with the
    /// f32 summation bound (as above): B packed into pair panels from row-major or transposed
    /// storage, odd and even depths (the vector path rounds A 32 values at a time, the rest one
    /// pair at a time), 1–64 rows (8-row blocks and single rows), full, 32-, 16-wide and masked
    /// panels, A's rows inside wider rows.
    #[test]
    fn bf16_few_rows_sgemm_matches_the_naive_product_of_rounded_inputs(
        m in 1usize..=64,
        k in prop_oneof![1usize..40, 60usize..600],
        n in 1usize..150,
        [pad_a, pad_c] in [0usize..70, 0usize..5],
        b_transposed in any::<bool>(),
        seed in any::<u64>(),
    ) {
        if !avx512_bf16::available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return Ok(());
        }
        let (lda, ldc) = (k + pad_a, n + pad_c);
        let a = values(m * lda, seed);
        let b = values(k * n, seed ^ 0xABCD);
        let [rsb, csb] = if b_transposed { [1, k] } else { [n, 1] };
        let pairs = avx512_rows_bf16::pack_pair_panels(k, n, &b, rsb, csb);
        let mut c = vec![f32::NAN; m * ldc];
        // SAFETY: A's m rows of k values (row stride lda) and the m × n block of C (row stride
        // ldc) are inside their buffers; `pairs` packs this k × n B; AVX512-BF16 checked above.
        unsafe { avx512_rows_bf16::sgemm(m, k, n, a.as_ptr(), lda as isize, &pairs, c.as_mut_ptr(), ldc as isize) };
        let a_at = |i: usize, p: usize| round_to_bf16(a[i * lda + p]);
        check_block([m, k, n], &c, ldc, a_at, |p, j| round_to_bf16(b[p * rsb + j * csb]))?;
    }
}

/// The bfloat16 few-rows kernel rounds a value alike wherever it is: in B (packed in Rust), in A's
/// scalar tail, and in A's vector path (32 values per `vcvtne2ps2bf16`). Each case is the
/// product `x · 1` (k = 1, or k = 32 with `x` at one step and zeros elsewhere), and equals
/// `round_to_bf16(x)`; a NaN stays a NaN, also one whose payload is only in the low 16 bits
/// (which a plain truncation would turn into an infinity).
#[test]
fn bf16_few_rows_kernel_rounds_a_and_b_alike() {
    if !avx512_bf16::available() {
        eprintln!("skipped: this CPU has no AVX512-BF16");
        return;
    }
    let product = |k: usize, a: &[f32], b: &[f32]| {
        let pairs = avx512_rows_bf16::pack_pair_panels(k, 1, b, 1, 1);
        let mut c = [f32::NAN];
        // SAFETY: A is one row of k values, B one column of k, C one value; AVX512-BF16 checked.
        unsafe { avx512_rows_bf16::sgemm(1, k, 1, a.as_ptr(), k as isize, &pairs, c.as_mut_ptr(), 1) };
        c[0]
    };
    let tie = 1.0 + 2f32.powi(-8);
    let specials = [
        1.0,
        tie,
        -tie,
        1.0 + 3.0 * 2f32.powi(-8),
        f32::MAX,
        f32::MIN_POSITIVE,
        f32::from_bits(0x0000_0001), // subnormal: flushed to zero
        f32::INFINITY,
        f32::NAN,
        f32::from_bits(0x7F80_0001), // a NaN with its payload in the low bits only
        f32::from_bits(0xFF80_0001),
    ];
    for x in specials {
        let in_b = product(1, &[1.0], &[x]);
        let in_a_tail = product(1, &[x], &[1.0]);
        let mut row = [0.0f32; 32];
        row[5] = x;
        let mut unit = [0.0f32; 32];
        unit[5] = 1.0;
        let in_a_vector = product(32, &row, &unit);
        let want = round_to_bf16(x);
        for (path, got) in [("B", in_b), ("A's tail", in_a_tail), ("A's vector path", in_a_vector)] {
            if want.is_nan() {
                assert!(got.is_nan(), "{path}: x = {x:e} ({:#010x}) gave {got:e}", x.to_bits());
            } else {
                assert_eq!(got.to_bits(), want.to_bits(), "{path}: x = {x:e} ({:#010x})", x.to_bits());
            }
        }
    }
}

/// The kernel multiplies exactly `round_to_bf16(x)`: the 1 × 1 × 1 product `x · 1` (exact once
/// `x` is rounded) for ties, values just beside them, subnormals (zero in the hardware), the
/// largest finite values (infinity), NaN, and 20,000 random bit patterns.
#[test]
fn bf16_kernel_rounds_as_round_to_bf16() {
    if !avx512_bf16::available() {
        eprintln!("skipped: this CPU has no AVX512-BF16");
        return;
    }
    let mut bits = 0x2545_F491_4F6C_DD1Du64;
    let mut random = || {
        bits ^= bits << 13;
        bits ^= bits >> 7;
        bits ^= bits << 17;
        f32::from_bits(bits as u32)
    };
    let special = [
        1.0 + 2f32.powi(-8),
        1.0 + 3.0 * 2f32.powi(-8),
        -(1.0 + 2f32.powi(-8) + 2f32.powi(-20)),
        f32::from_bits(0x0000_0001),
        -f32::from_bits(0x007F_FFFF),
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NAN,
        -0.0,
    ];
    for x in special.into_iter().chain((0..20_000).map(|_| random())) {
        let mut c = [0.0f32];
        // SAFETY: 1 × 1 operands and a 1 × 1 C; AVX512-BF16 checked above.
        unsafe { avx512_bf16::sgemm(1, 1, 1, &x, [1, 1], &1.0f32, [1, 1], c.as_mut_ptr(), 1) };
        let want = round_to_bf16(x);
        assert!(
            c[0].to_bits() == want.to_bits() || (c[0].is_nan() && want.is_nan()) || (c[0] == 0.0 && want == 0.0),
            "x = {x:e} ({:#010x}): kernel {:e}, round_to_bf16 {want:e}",
            x.to_bits(),
            c[0]
        );
    }
}

/// Rounding to bfloat16: ties go to the even neighbour, the top of the range to infinity,
/// subnormals to zero, and NaN, infinities and zeros stay what they are.
#[test]
fn round_to_bf16_rounds_to_nearest_even() {
    // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷ (bfloat16 keeps 7 fraction bits): the even one, 1.
    assert_eq!(round_to_bf16(1.0 + 2f32.powi(-8)), 1.0);
    // 1 + 3·2⁻⁸ is halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶: the even one, 1 + 2⁻⁶.
    assert_eq!(round_to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 1.0 + 2f32.powi(-6));
    // Just above a tie rounds up; just below rounds down.
    assert_eq!(round_to_bf16(1.0 + 2f32.powi(-8) + 2f32.powi(-20)), 1.0 + 2f32.powi(-7));
    assert_eq!(round_to_bf16(-(1.0 + 2f32.powi(-8) - 2f32.powi(-20))), -1.0);
    assert_eq!(round_to_bf16(f32::MAX), f32::INFINITY);
    assert_eq!(round_to_bf16(f32::NEG_INFINITY), f32::NEG_INFINITY);
    assert_eq!(round_to_bf16(-0.0).to_bits(), (-0.0f32).to_bits());
    assert!(round_to_bf16(f32::NAN).is_nan());
    assert_eq!(round_to_bf16(-f32::from_bits(0x007F_FFFF)).to_bits(), (-0.0f32).to_bits());
    // Every bfloat16 value but the subnormals is its own rounding.
    for bits in (0u32..=0xFFFF).map(|h| h << 16) {
        let x = f32::from_bits(bits);
        assert!(x.is_nan() || x.is_subnormal() || round_to_bf16(x).to_bits() == bits, "{x}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]


    #[test]
    fn sgemm_matches_the_naive_product(
        m in 1usize..80,
        k in prop_oneof![1usize..40, 250usize..600],
        n in 1usize..100,
        a_transposed in any::<bool>(),
        b_transposed in any::<bool>(),
        ldc_pad in 0usize..5,
        seed in any::<u64>(),
    ) {
        if !has_avx512() {
            eprintln!("skipped: this CPU has no AVX-512");
            return Ok(());
        }
        check_packed(sgemm, |x| x, [m, k, n], [a_transposed, b_transposed], ldc_pad, seed)?;
    }

    /// The few-rows kernel, B read in place or packed in panels: 8–64 rows (full 8-row blocks
    /// and single leftover rows), column counts that end in full 48-wide panels, 32- and 16-wide
    /// panels and masked tails, and row strides wider than the rows (a time step's rows inside
    /// `[B, T, H]`).
    #[test]
    fn few_rows_sgemm_matches_the_naive_product(
        m in 8usize..=64,
        k in 1usize..200,
        n in 16usize..140,
        [pad_a, pad_b, pad_c] in [0usize..70, 0usize..5, 0usize..5],
        packed in any::<bool>(),
        seed in any::<u64>(),
    ) {
        if !has_avx512() {
            eprintln!("skipped: this CPU has no AVX-512");
            return Ok(());
        }
        let (lda, ldb, ldc) = (k + pad_a, n + pad_b, n + pad_c);
        let a = values(m * lda, seed);
        let b = values(k * ldb, seed ^ 0xABCD);
        // B read in place (row-major), or packed into contiguous 48-column panels first.
        let panels = avx512_rows::pack_panels(k, n, &b, ldb, 1);
        let (b_ptr, b_layout) = if packed {
            (panels.as_ptr(), BLayout::panels(k))
        } else {
            (b.as_ptr(), BLayout::row_major(ldb as isize))
        };
        let mut c = vec![f32::NAN; m * ldc];
        // SAFETY: the operands and C are sized for exactly these strides and layouts; AVX-512
        // checked above.
        unsafe { avx512_rows::sgemm(m, k, n, a.as_ptr(), [lda as isize, 1], b_ptr, b_layout, c.as_mut_ptr(), ldc as isize) };
        check_block([m, k, n], &c, ldc, |i, p| a[i * lda + p], |p, j| b[p * ldb + j])?;
    }

    /// The few-rows kernel through its dispatcher, with A and B each row-major, transposed or
    /// strided: a transposed A is read in place (broadcasts), a transposed B is copied
    /// row-major first. Shapes on both sides of the dispatcher's limits (more than 64 rows
    /// with a small B, fewer than 16 columns); a product it declines must leave C untouched.
    #[test]
    fn few_rows_dispatch_matches_the_naive_product(
        m in prop_oneof![8usize..=64, 65usize..300],
        k in prop_oneof![1usize..40, 100usize..700],
        n in 8usize..300,
        [a_layout, b_layout] in [0usize..3, 0usize..3],
        pad in 0usize..4,
        seed in any::<u64>(),
    ) {
        if !has_avx512() {
            eprintln!("skipped: this CPU has no AVX-512");
            return Ok(());
        }
        // Layout 0: row-major (rows `pad` wider than needed); 1: transposed; 2: both strides > 1.
        let strides = |layout: usize, rows: usize, cols: usize| -> ([isize; 2], usize) {
            match layout {
                0 => ([(cols + pad) as isize, 1], rows * (cols + pad)),
                1 => ([1, (rows + pad) as isize], cols * (rows + pad)),
                _ => ([2 * cols as isize, 2], 2 * rows * cols),
            }
        };
        let (a_strides, a_len) = strides(a_layout, m, k);
        let (b_strides, b_len) = strides(b_layout, k, n);
        let (a, b) = (values(a_len, seed), values(b_len, seed ^ 0xABCD));
        let ldc = n + pad;
        let mut c = vec![f32::NAN; m * ldc];
        let route = avx512_rows::route(m, k, n, a_strides, b_strides);
        // SAFETY: the operands and C are sized for exactly these strides; AVX-512 checked above.
        let ran = unsafe { avx512_rows::try_sgemm(m, k, n, a.as_ptr(), a_strides, b.as_ptr(), b_strides, c.as_mut_ptr(), ldc as isize) };
        prop_assert_eq!(ran, route.is_some());
        if !ran {
            prop_assert!(c.iter().all(|v| v.is_nan()), "a declined product wrote C");
            return Ok(());
        }
        let at = |x: &[f32], s: [isize; 2], i: usize, j: usize| x[(i as isize * s[0] + j as isize * s[1]) as usize];
        check_block([m, k, n], &c, ldc, |i, p| at(&a, a_strides, i, p), |p, j| at(&b, b_strides, p, j))?;
    }
}
