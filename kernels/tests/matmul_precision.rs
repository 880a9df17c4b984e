//! The process-wide matmul precision switch, in its own test binary: setting it changes every
//! product in the process, so no other test may run beside this one.

use ferrograd_kernels::matmul::avx512_bf16::{self, round_to_bf16};
use ferrograd_kernels::matmul::{matmul, matmul_precision, set_matmul_precision, MatmulPrecision, MatrixLayout};

/// `m × k` and `k × n` row-major operands of fresh values in [-1, 1) (SplitMix64).
fn operands(m: usize, k: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
    let mut x = 0x5EED_u64;
    let mut next = move || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    ((0..m * k).map(|_| next()).collect(), (0..k * n).map(|_| next()).collect())
}

/// The largest error of `c` against the exact product of `a` and `b` with every input first
/// mapped by `round`, relative to the bound `(k + 1)·2⁻²⁴·Σ|aᵢₚbₚⱼ|` of an f32 sum.
fn worst_error(c: &[f32], a: &[f32], b: &[f32], [m, k, n]: [usize; 3], round: fn(f32) -> f32) -> f64 {
    let mut worst = 0.0f64;
    for i in 0..m {
        for j in 0..n {
            let products = (0..k).map(|p| round(a[i * k + p]) as f64 * round(b[p * n + j]) as f64);
            let (exact, scale) = products.fold((0.0, 0.0), |(e, s), x| (e + x, s + f64::abs(x)));
            let bound = (k as f64 + 1.0) * f32::EPSILON as f64 / 2.0 * scale;
            worst = worst.max((c[i * n + j] as f64 - exact).abs() / bound);
        }
    }
    worst
}

#[test]
fn medium_precision_rounds_the_inputs_of_large_products_to_bf16() {
    // 330³ ≈ 2^25.1 multiply-adds: large enough for the packed AVX-512 kernel, though the
    // blocks of a split over threads are not: the precision is chosen for the whole product.
    let [m, k, n] = [330, 330, 330];
    let (a, b) = operands(m, k, n);
    let layout = |cols: usize| MatrixLayout { offsets: vec![0], row_stride: cols, col_stride: 1 };
    let pool = |threads| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let (one_thread, three_threads) = (pool(1), pool(3));
    let product_on = |threads: &rayon::ThreadPool| {
        let mut c = vec![0.0f32; m * n];
        threads.install(|| matmul(m, k, n, &a, &layout(k), &b, &layout(n), &mut c));
        c
    };
    let product = || product_on(&three_threads);
    assert_eq!(matmul_precision(), MatmulPrecision::Highest, "the default is full precision");
    let full = product();
    set_matmul_precision(MatmulPrecision::Medium);
    let medium = product();
    assert_eq!(product_on(&one_thread), medium, "the same bits on one thread as on three");
    set_matmul_precision(MatmulPrecision::Highest);
    assert_eq!(product(), full, "back to full precision");

    let identity = |x: f32| x;
    assert!(worst_error(&full, &a, &b, [m, k, n], identity) <= 1.0);
    if avx512_bf16::available() {
        // Within the f32 bound of the rounded inputs' exact product, and far outside the bound
        // of the unrounded ones (bfloat16 keeps 8 of 24 bits).
        assert!(worst_error(&medium, &a, &b, [m, k, n], round_to_bf16) <= 1.0);
        assert!(worst_error(&medium, &a, &b, [m, k, n], identity) > 10.0);
    } else {
        eprintln!("no AVX512-BF16: medium precision must leave the product in f32");
        assert_eq!(medium, full);
    }
    assert_eq!(MatmulPrecision::from_name("medium"), Some(MatmulPrecision::Medium));
    assert_eq!(MatmulPrecision::from_name("highest"), Some(MatmulPrecision::Highest));
    assert_eq!(MatmulPrecision::from_name("high"), None);
}
