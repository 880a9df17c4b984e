//! The seeded generator: reproducible streams and statistically sound draws.
//!
//! Statistical checks use a fixed seed, so they are deterministic; their thresholds are set at
//! 5 standard errors (or the 99.9% quantile of a χ² distribution), which a correct generator
//! passes with overwhelming probability for any seed and a biased one fails.

mod common;

use common::*;
use ferrograd_tensor::{DType, Rng, Tensor};
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn same_seed_same_stream(seed in any::<u64>()) {
        let (mut a, mut b) = (Rng::new(seed), Rng::new(seed));
        for _ in 0..100 {
            prop_assert_eq!(a.next_u64(), b.next_u64());
        }
        // A clone continues the same stream.
        let mut c = a.clone();
        prop_assert_eq!(a.uniform(), c.uniform());
        prop_assert_eq!(a.normal(), c.normal());
        // Tensors too.
        let x = Rng::new(seed).normal_tensor(&[3, 4], 0.0, 1.0, DType::F32).unwrap();
        let y = Rng::new(seed).normal_tensor(&[3, 4], 0.0, 1.0, DType::F32).unwrap();
        prop_assert_eq!(x.to_vec::<f32>().unwrap(), y.to_vec::<f32>().unwrap());
        // A different seed gives a different stream (64 equal words by chance: probability 2^-4096).
        let mut d = Rng::new(seed.wrapping_add(1));
        let mut e = Rng::new(seed);
        prop_assert!((0..64).any(|_| d.next_u64() != e.next_u64()));
    }

    #[test]
    fn permutation_is_a_permutation(n in 0usize..200, seed in any::<u64>()) {
        let p = Rng::new(seed).permutation(n);
        prop_assert_eq!(p.len(), n);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted, (0..n).collect::<Vec<_>>());
        prop_assert_eq!(Rng::new(seed).permutation(n), p);
    }

    #[test]
    fn random_tensors_have_shape_dtype_and_range(s in shape(0, 4), dt in float_dtype(), seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let u = rng.uniform_tensor(&s, -2.0, 3.0, dt).unwrap();
        prop_assert_eq!(u.shape(), s.as_slice());
        prop_assert_eq!(u.dtype(), dt);
        // [lo, hi), up to rounding to f32 (which can round hi − tiny up to hi).
        prop_assert!(vals(&u).iter().all(|&v| (-2.0..=3.0).contains(&v)));
        let r = rng.randint(&s, 7).unwrap();
        prop_assert_eq!(r.dtype(), DType::I64);
        prop_assert!(r.to_vec::<i64>().unwrap().iter().all(|&v| (0..7).contains(&v)));
        for (name, t, bound) in [
            ("kaiming_uniform", rng.kaiming_uniform(&s, 5, dt).unwrap(), (2.0f64).sqrt() * (3.0f64 / 5.0).sqrt()),
            ("xavier_uniform", rng.xavier_uniform(&s, 5, 3, dt).unwrap(), (6.0f64 / 8.0).sqrt()),
            ("linear_init", rng.linear_init(&s, 5, dt).unwrap(), 1.0 / 5.0f64.sqrt()),
        ] {
            prop_assert_eq!(t.shape(), s.as_slice());
            // The bound rounded to the dtype is the largest value that can appear.
            let b = round_to(bound, dt);
            prop_assert!(vals(&t).iter().all(|v| v.abs() <= b), "{}: values beyond ±{}", name, bound);
        }
    }
}

#[test]
fn uniform_is_in_unit_interval_with_mean_one_half() {
    let mut rng = Rng::new(1);
    let n = 100_000;
    let xs: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
    assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
    let mean = xs.iter().sum::<f64>() / n as f64;
    // U(0,1) has variance 1/12: the standard error of the mean is √(1/12/n) ≈ 9.1e-4.
    let se = (1.0 / 12.0 / n as f64).sqrt();
    assert!((mean - 0.5).abs() < 5.0 * se, "mean {mean}");
}

#[test]
fn normal_has_mean_zero_and_std_one() {
    let mut rng = Rng::new(2024);
    let n = 100_000;
    let xs: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let nf = n as f64;
    let mean = xs.iter().sum::<f64>() / nf;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (nf - 1.0);
    let std = var.sqrt();
    // Standard errors for N(0, 1): mean 1/√n ≈ 3.2e-3; sample std ≈ 1/√(2n) ≈ 2.2e-3.
    assert!(mean.abs() < 5.0 / nf.sqrt(), "mean {mean}");
    assert!((std - 1.0).abs() < 5.0 / (2.0 * nf).sqrt(), "std {std}");
    // Shape, not just moments: P(|X| < 1) = 0.682689…, binomial SE √(p(1−p)/n) ≈ 1.5e-3.
    let p = 0.682_689_492_137_085_9;
    let inside = xs.iter().filter(|x| x.abs() < 1.0).count() as f64 / nf;
    assert!((inside - p).abs() < 5.0 * (p * (1.0 - p) / nf).sqrt(), "P(|X|<1) = {inside}");
    // And the tails: P(|X| > 3) = 0.0026998…, SE ≈ 1.6e-4.
    let p3 = 0.002_699_796_063_260_2;
    let tail = xs.iter().filter(|x| x.abs() > 3.0).count() as f64 / nf;
    assert!((tail - p3).abs() < 5.0 * (p3 * (1.0 - p3) / nf).sqrt(), "P(|X|>3) = {tail}");
}

#[test]
fn normal_tensor_applies_mean_and_std() {
    for dt in [DType::F32, DType::F64] {
        let n = 100_000;
        let x = vals(&Rng::new(9).normal_tensor(&[n], 3.0, 2.0, dt).unwrap());
        let nf = n as f64;
        let mean = x.iter().sum::<f64>() / nf;
        let std = (x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (nf - 1.0)).sqrt();
        // Standard errors for N(3, 2²): mean 2/√n ≈ 6.3e-3, std 2/√(2n) ≈ 4.5e-3.
        assert!((mean - 3.0).abs() < 5.0 * 2.0 / nf.sqrt(), "{dt}: mean {mean}");
        assert!((std - 2.0).abs() < 5.0 * 2.0 / (2.0 * nf).sqrt(), "{dt}: std {std}");
    }
}

/// Pearson's χ² statistic of observed counts against a uniform expectation.
fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let e = total as f64 / counts.len() as f64;
    counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum()
}

#[test]
fn below_is_uniform_and_unbiased() {
    let mut rng = Rng::new(77);
    // Six faces, 60 000 rolls: χ² with 5 degrees of freedom; its 99.9% quantile is 20.52.
    let mut counts = [0u64; 6];
    for _ in 0..60_000 {
        counts[rng.below(6) as usize] += 1;
    }
    let chi = chi_square(&counts);
    assert!(chi < 20.52, "χ² = {chi}, counts {counts:?}");
    assert!((0..1000).all(|_| rng.below(1) == 0));
    // n = 3·2⁶² is where modulo reduction is most biased: `x mod n` would land in [0, 2⁶²) with
    // probability 1/2 instead of 1/3. Over 30 000 draws the SE of the fraction is ≈ 2.7e-3.
    let n = 3u64 << 62;
    let draws = 30_000;
    let mut low = 0;
    for _ in 0..draws {
        let v = rng.below(n);
        assert!(v < n);
        if v < 1u64 << 62 {
            low += 1;
        }
    }
    let frac = low as f64 / draws as f64;
    let se = (2.0 / 9.0 / draws as f64).sqrt();
    assert!((frac - 1.0 / 3.0).abs() < 5.0 * se, "fraction below 2^62: {frac}");
}

#[test]
fn permutations_are_uniform() {
    // All 24 orders of 4 items, 48 000 draws: χ² with 23 degrees of freedom; the 99.9% quantile
    // is 49.73.
    let mut rng = Rng::new(5);
    let mut counts = std::collections::HashMap::new();
    for _ in 0..48_000 {
        *counts.entry(rng.permutation(4)).or_insert(0u64) += 1;
    }
    assert_eq!(counts.len(), 24, "some orders never appear");
    let c: Vec<u64> = counts.values().copied().collect();
    let chi = chi_square(&c);
    assert!(chi < 49.73, "χ² = {chi}");
}

#[test]
fn initialisers_fill_their_range() {
    // 40 000 draws from U(−b, b): the extremes come within b·(1 − 1e-3) of ±b unless fewer
    // than 1 in 2000 draws land in the outer 0.1% on each side (probability (1 − 5e-4)^40000
    // ≈ 2e-9). The mean has SE b/√(3n) and the variance should be b²/3 (SE of the sample
    // variance of a uniform: b²·√(4/45/n)).
    let n = 40_000;
    let mut rng = Rng::new(3);
    let fan_in = 100;
    let b = 1.0 / (fan_in as f64).sqrt();
    let x = vals(&rng.linear_init(&[n], fan_in, DType::F64).unwrap());
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = x.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(max <= b && max > b * (1.0 - 1e-3), "max {max} vs bound {b}");
    assert!(min >= -b && min < -b * (1.0 - 1e-3), "min {min} vs bound {b}");
    let mean = x.iter().sum::<f64>() / n as f64;
    assert!(mean.abs() < 5.0 * b / (3.0 * n as f64).sqrt(), "mean {mean}");
    let var = x.iter().map(|v| v * v).sum::<f64>() / n as f64;
    assert!((var - b * b / 3.0).abs() < 5.0 * b * b * (4.0 / 45.0 / n as f64).sqrt(), "var {var}");
    // Kaiming normal: N(0, 2/fan_in).
    let k = vals(&rng.kaiming_normal(&[n], fan_in, DType::F64).unwrap());
    let kvar = k.iter().map(|v| v * v).sum::<f64>() / n as f64;
    let want = 2.0 / fan_in as f64;
    // SE of the mean of squares of N(0, σ²): σ²·√(2/n).
    assert!((kvar - want).abs() < 5.0 * want * (2.0 / n as f64).sqrt(), "kaiming var {kvar}");
    let xn = vals(&rng.xavier_normal(&[n], 30, 20, DType::F64).unwrap());
    let xvar = xn.iter().map(|v| v * v).sum::<f64>() / n as f64;
    let want = 2.0 / 50.0;
    assert!((xvar - want).abs() < 5.0 * want * (2.0 / n as f64).sqrt(), "xavier var {xvar}");
}

#[test]
fn randn_like_and_rand_like_follow_their_template() {
    let template = Tensor::from_vec(vec![7.0f32; 6 * 5000], &[6, 5000]).unwrap();
    let mut rng = Rng::new(11);
    let z = template.randn_like(&mut rng).unwrap();
    let u = template.rand_like(&mut rng).unwrap();
    for t in [&z, &u] {
        assert_eq!((t.shape(), t.dtype(), t.device()), (template.shape(), DType::F32, template.device()));
    }
    // Fresh noise, not a copy of the template: N(0, 1) and U(0, 1) moments within 5 standard
    // errors (n = 30,000: 5/√n ≈ 0.029 for the normal mean, 5·√(1/12/n) ≈ 0.0083 for the uniform).
    let n = 30_000f64;
    let (zs, us) = (vals(&z), vals(&u));
    let z_mean = zs.iter().sum::<f64>() / n;
    let z_var = zs.iter().map(|v| (v - z_mean).powi(2)).sum::<f64>() / (n - 1.0);
    assert!(z_mean.abs() < 5.0 / n.sqrt(), "mean {z_mean}");
    assert!((z_var.sqrt() - 1.0).abs() < 5.0 / (2.0 * n).sqrt(), "var {z_var}");
    assert!(us.iter().all(|v| (0.0..1.0).contains(v)));
    assert!((us.iter().sum::<f64>() / n - 0.5).abs() < 5.0 * (1.0 / 12.0 / n).sqrt());
    // Integer tensors have no normal values.
    assert!(Tensor::from_vec(vec![1i64], &[1]).unwrap().randn_like(&mut rng).is_err());
}
