//! Losses against naive formulas computed here in f64, including large logits.

mod common;

use common::*;
use ferrograd_autograd::{DType, Error, Rng, Tensor, Var};
use ferrograd_models::loss::{
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, cross_entropy_with, gaussian_kl_divergence,
    gaussian_kl_divergence_between, mse_loss, reparameterize, Reduction,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mse_matches_mean_of_squares(
        s in prop::collection::vec(1usize..=4, 0..=3), dt in float_dtype(), seed in any::<u64>()
    ) {
        let mut rng = Rng::new(seed);
        let p = rng.normal_tensor(&s, 0.0, 1.0, dt).unwrap();
        let t = rng.normal_tensor(&s, 0.0, 1.0, dt).unwrap();
        let loss = mse_loss(&Var::constant(p.clone()), &Var::constant(t.clone())).unwrap();
        prop_assert_eq!(loss.shape(), Vec::<usize>::new());
        let (pv, tv) = (vals(&p), vals(&t));
        let n = pv.len() as f64;
        let sq: Vec<f64> = pv.iter().zip(&tv).map(|(a, b)| (a - b) * (a - b)).collect();
        let want = sq.iter().sum::<f64>() / n;
        // Each squared difference has relative error ≤ 3·eps (subtract, square); the n-term sum
        // adds n·eps·Σ, the scaling by 1/n two more eps: (n + 5)·eps·Σ d² / n, plus the f64
        // reference's n·eps64.
        let tol = ((n + 5.0) * eps(dt) + n * f64::EPSILON) * sq.iter().sum::<f64>() / n;
        let got = loss.value().item().unwrap();
        prop_assert!((got - want).abs() <= tol, "mse {} want {} ± {}", got, want, tol);
    }

    #[test]
    fn cross_entropy_matches_naive_formula_and_gradient(
        batch in 1usize..=5, classes in 2usize..=6, scale in prop_oneof![Just(1.0), Just(1000.0)],
        dt in float_dtype(), seed in any::<u64>()
    ) {
        // scale 1000: logits in the thousands, where exp overflows without the max shift.
        let mut rng = Rng::new(seed);
        let logits = rng.normal_tensor(&[batch, classes], 0.0, scale, dt).unwrap();
        let targets = rng.randint(&[batch], classes as u64).unwrap();
        let x = Var::parameter(logits.clone());
        let loss = cross_entropy(&x, &targets).unwrap();
        prop_assert_eq!(loss.shape(), Vec::<usize>::new());
        let (lv, tv) = (vals(&logits), targets.to_vec::<i64>().unwrap());
        let e = eps(dt);
        let (mut want, mut tol) = (0.0, 0.0);
        let mut want_grad = vec![0.0; lv.len()];
        let mut grad_tol = vec![0.0; lv.len()];
        for r in 0..batch {
            let row = &lv[r * classes..(r + 1) * classes];
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = row.iter().map(|v| (v - m).exp()).sum();
            let t = tv[r] as usize;
            want += (m + s.ln() - row[t]) / batch as f64;
            // log_softmax's absolute error (see the tensor crate's softmax tests):
            // 2·eps·(|x_t| + |m| + |ln s| + n + 4); the batch mean adds batch·eps relative.
            tol += 2.0 * e * (row[t].abs() + m.abs() + s.ln().abs() + classes as f64 + 4.0) / batch as f64;
            for c in 0..classes {
                // ∂L/∂x = (softmax − onehot) / batch.
                let p = (row[c] - m).exp() / s;
                want_grad[r * classes + c] = (p - if c == t { 1.0 } else { 0.0 }) / batch as f64;
                // The backward is g − exp(log_softmax)·Σg, so p is recovered as exp of a value
                // with absolute error 2·eps·(|x_c| + |m| + |ln s| + n + 4) (see above) plus exp's
                // 2 ulp: that is p's relative error. The subtraction and the 1/batch factor add
                // ≤ 3·eps absolute (|terms| ≤ 1); plus the smallest normal for underflow.
                grad_tol[r * classes + c] =
                    (2.0 * p * e * (row[c].abs() + m.abs() + s.ln().abs() + classes as f64 + 6.0) + 3.0 * e)
                        / batch as f64
                        + f32::MIN_POSITIVE as f64;
            }
        }
        tol += batch as f64 * e * want.abs();
        let got = loss.value().item().unwrap();
        prop_assert!(got.is_finite());
        prop_assert!((got - want).abs() <= tol, "cross_entropy {} want {} ± {}", got, want, tol);
        loss.backward().unwrap();
        let g = vals(&x.grad().unwrap());
        for j in 0..g.len() {
            prop_assert!((g[j] - want_grad[j]).abs() <= grad_tol[j], "grad[{}] {} want {} ± {}", j, g[j],
                want_grad[j], grad_tol[j]);
        }
    }

    #[test]
    fn bce_with_logits_matches_naive_formula(
        n in 1usize..=8, scale in prop_oneof![Just(1.0), Just(5.0), Just(100.0)], dt in float_dtype(),
        seed in any::<u64>()
    ) {
        let mut rng = Rng::new(seed);
        let x = rng.normal_tensor(&[n], 0.0, scale, dt).unwrap();
        let y = rng.uniform_tensor(&[n], 0.0, 1.0, dt).unwrap();
        let loss = binary_cross_entropy_with_logits(&Var::constant(x.clone()), &Var::constant(y.clone()), Reduction::Mean).unwrap();
        let (xv, yv) = (vals(&x), vals(&y));
        let e = eps(dt);
        let (mut want, mut tol) = (0.0, 0.0);
        for (&xi, &yi) in xv.iter().zip(&yv) {
            // The textbook −y·ln σ(x) − (1 − y)·ln(1 − σ(x)), with ln σ(x) = −ln(1 + e^−x) and
            // ln(1 − σ(x)) = −x − ln(1 + e^−x), written with ln_1p of a non-positive exponent so
            // it stays exact in f64 at any |x|.
            let log1p_exp_neg = |z: f64| if z >= 0.0 { (-z).exp().ln_1p() } else { -z + z.exp().ln_1p() };
            let l = yi * log1p_exp_neg(xi) + (1.0 - yi) * (xi + log1p_exp_neg(xi));
            want += l / n as f64;
            // In the dtype: max(x,0), x·y, ln(1 + e^−|x|) (≤ 8 ulp), two adds — each of magnitude
            // ≤ |x| + 1 — so ≤ 12·eps·(|x| + 1) per element; the n-term mean adds (n + 2)·eps·Σ.
            tol += 12.0 * e * (xi.abs() + 1.0) / n as f64;
        }
        tol += (n as f64 + 2.0) * e * want.abs();
        let got = loss.value().item().unwrap();
        prop_assert!(got.is_finite() && got >= -tol, "bce {} must be finite and ≥ 0", got);
        prop_assert!((got - want).abs() <= tol, "bce {} want {} ± {} for x = {:?}, y = {:?}", got, want, tol, xv, yv);
    }
}

#[test]
fn extreme_logits_stay_finite() {
    for dt in [DType::F32, DType::F64] {
        // Confident and right: loss ≈ 0; confident and wrong: loss ≈ the logit gap.
        let logits = Var::parameter(
            Tensor::from_vec(vec![1e4, 0.0, -1e4, -1e4, 0.0, 1e4], &[2, 3]).unwrap().to_dtype(dt).unwrap(),
        );
        let ce = cross_entropy(&logits, &Tensor::from_vec(vec![0i64, 0], &[2]).unwrap()).unwrap();
        // Row 0: −log_softmax = 0 (other terms e^−1e4 vanish); row 1: 2e4. Mean 1e4.
        assert_eq!(ce.value().item().unwrap(), 1e4, "{dt}");
        ce.backward().unwrap();
        let g = vals(&logits.grad().unwrap());
        assert!(g.iter().all(|v| v.is_finite()), "{dt}: {g:?}");
        assert_eq!(g, vec![0.0, 0.0, 0.0, -0.5, 0.0, 0.5], "{dt}");

        let x =
            Var::parameter(Tensor::from_vec(vec![100.0, 100.0, -100.0, -100.0], &[4]).unwrap().to_dtype(dt).unwrap());
        let y = Var::constant(Tensor::from_vec(vec![1.0, 0.0, 1.0, 0.0], &[4]).unwrap().to_dtype(dt).unwrap());
        let l = binary_cross_entropy_with_logits(&x, &y, Reduction::Mean).unwrap();
        // Per element ≈ [0, 100, 100, 0] (+ ln(1 + e^−100) ≈ 3.7e-44), mean 50.
        assert!((l.value().item().unwrap() - 50.0).abs() <= 50.0 * 4.0 * eps(dt), "{dt}");
        l.backward().unwrap();
        // ∂/∂x = (σ(x) − y)/n ≈ [0, 1/4, −1/4, 0].
        let g = vals(&x.grad().unwrap());
        let want = [0.0, 0.25, -0.25, 0.0];
        for (a, b) in g.iter().zip(want) {
            assert!((a - b).abs() <= 4.0 * eps(dt), "{dt}: bce grad {g:?}");
        }
    }
}

#[test]
fn loss_argument_errors() {
    let a = Var::constant(Tensor::ones(&[2, 3], DType::F32));
    let b = Var::constant(Tensor::ones(&[3, 2], DType::F32));
    assert!(matches!(mse_loss(&a, &b), Err(Error::ShapeMismatch { op: "mse_loss", .. })));
    assert!(matches!(
        binary_cross_entropy_with_logits(&a, &b, Reduction::Mean),
        Err(Error::ShapeMismatch { op: "binary_cross_entropy_with_logits", .. })
    ));
    // Targets must be i64 class indices of shape [batch].
    let f_targets = Tensor::zeros(&[2], DType::F32);
    assert!(matches!(cross_entropy(&a, &f_targets), Err(Error::UnsupportedDType { dtype: DType::F32, .. })));
    let wrong = Tensor::zeros(&[3], DType::I64);
    assert!(matches!(cross_entropy(&a, &wrong), Err(Error::ShapeMismatch { op: "cross_entropy", .. })));
    let flat = Var::constant(Tensor::ones(&[3], DType::F32));
    assert!(matches!(cross_entropy(&flat, &wrong), Err(Error::ShapeMismatch { op: "cross_entropy", .. })));
    // A class index outside 0..classes is an index error, not a panic.
    for bad in [3i64, -1] {
        let t = Tensor::from_vec(vec![0i64, bad], &[2]).unwrap();
        assert!(matches!(cross_entropy(&a, &t), Err(Error::IndexOutOfRange { index, size: 3, .. }) if index == bad));
    }
}

#[test]
fn cross_entropy_gives_each_example_s_loss_and_each_reduction() {
    let mut rng = Rng::new(21);
    let logits = Var::parameter(rng.normal_tensor(&[5, 4], 0.0, 2.0, DType::F64).unwrap());
    let targets = rng.randint(&[5], 4).unwrap();
    let none = cross_entropy_with(&logits, &targets, Reduction::None).unwrap();
    assert_eq!(none.shape(), vec![5]);
    let (lv, tv) = (vals(&logits.value()), targets.to_vec::<i64>().unwrap());
    let each: Vec<f64> = (0..5)
        .map(|r| {
            let row = &lv[r * 4..(r + 1) * 4];
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln() - row[tv[r] as usize]
        })
        .collect();
    // f64, logits of a few units: log_softmax within a few ulps of values ≤ ~10.
    for (a, b) in vals(&none.value()).iter().zip(&each) {
        assert!((a - b).abs() <= 1e-13, "{a} vs {b}");
    }
    let sum: f64 = each.iter().sum();
    let got_sum = cross_entropy_with(&logits, &targets, Reduction::Sum).unwrap().value().item().unwrap();
    assert!((got_sum - sum).abs() <= 1e-12, "{got_sum} vs {sum}");
    // The mean is cross_entropy itself, value and gradient.
    let mean = cross_entropy_with(&logits, &targets, Reduction::Mean).unwrap();
    let plain = cross_entropy(&logits, &targets).unwrap();
    assert_eq!(mean.value().item().unwrap(), plain.value().item().unwrap());
    assert!((mean.value().item().unwrap() - sum / 5.0).abs() <= 1e-13);
    // Per-example losses sum to the Sum reduction's gradient too: ∂(Σ none)/∂logits = softmax − onehot.
    none.sum_all().unwrap().backward().unwrap();
    let g = vals(&logits.grad().unwrap());
    for r in 0..5 {
        let row = &lv[r * 4..(r + 1) * 4];
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = row.iter().map(|v| (v - m).exp()).sum();
        for c in 0..4 {
            let want = (row[c] - m).exp() / z - if c as i64 == tv[r] { 1.0 } else { 0.0 };
            assert!((g[r * 4 + c] - want).abs() <= 1e-13, "grad [{r}, {c}]: {} vs {want}", g[r * 4 + c]);
        }
    }
}

#[test]
fn bce_on_probabilities_matches_the_formula_and_each_reduction() {
    let p = Tensor::from_vec(vec![0.9f64, 0.2, 0.5, 0.7, 0.01, 0.99], &[2, 3]).unwrap();
    let y = Tensor::from_vec(vec![1.0f64, 0.0, 0.3, 1.0, 0.0, 0.5], &[2, 3]).unwrap();
    let each: Vec<f64> =
        vals(&p).iter().zip(vals(&y)).map(|(&p, y)| -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())).collect();
    let (pv, yv) = (Var::constant(p), Var::constant(y));
    let none = binary_cross_entropy(&pv, &yv, Reduction::None).unwrap();
    assert_eq!(none.shape(), vec![2, 3]);
    // f64 throughout: a log, a product and a sum per element, each within a few ulps.
    for (a, b) in vals(&none.value()).iter().zip(&each) {
        assert!((a - b).abs() <= 1e-14 * b.abs().max(1.0), "{a} vs {b}");
    }
    let sum: f64 = each.iter().sum();
    let got_sum = binary_cross_entropy(&pv, &yv, Reduction::Sum).unwrap().value().item().unwrap();
    let got_mean = binary_cross_entropy(&pv, &yv, Reduction::Mean).unwrap().value().item().unwrap();
    assert!((got_sum - sum).abs() <= 1e-13 * sum);
    assert!((got_mean - sum / 6.0).abs() <= 1e-13 * sum);
}

#[test]
fn bce_on_probabilities_agrees_with_the_logit_form_and_clamps_at_0_and_1() {
    let mut rng = Rng::new(5);
    let x = Var::constant(rng.normal_tensor(&[4, 7], 0.0, 3.0, DType::F64).unwrap());
    let y = Var::constant(rng.uniform_tensor(&[4, 7], 0.0, 1.0, DType::F64).unwrap());
    let from_probs = binary_cross_entropy(&x.sigmoid().unwrap(), &y, Reduction::Sum).unwrap().value().item().unwrap();
    let from_logits = binary_cross_entropy_with_logits(&x, &y, Reduction::Sum).unwrap().value().item().unwrap();
    // |x| ≤ ~10 here, so σ(x) keeps ~12 significant digits of 1 − σ(x); 1e-9 relative is ample.
    assert!((from_probs - from_logits).abs() <= 1e-9 * from_logits, "{from_probs} vs {from_logits}");

    // p = 0 and p = 1 against the opposite target: ln 0 clamps to −100, finite loss and gradient.
    let p = Var::parameter(Tensor::from_vec(vec![0.0f32, 1.0], &[2]).unwrap());
    let t = Var::constant(Tensor::from_vec(vec![1.0f32, 0.0], &[2]).unwrap());
    let l = binary_cross_entropy(&p, &t, Reduction::Sum).unwrap();
    assert_eq!(l.value().item().unwrap(), 200.0);
    l.backward().unwrap();
    assert!(vals(&p.grad().unwrap()).iter().all(|g| g.is_finite()));
}

#[test]
fn gaussian_kl_matches_the_closed_form_and_is_zero_at_the_prior() {
    // KL(N(μ, σ²) ‖ N(0, 1)) = ln(1/σ) + (σ² + μ²)/2 − 1/2, written here from σ, not log σ².
    let (mu, sigma) = ([0.5f64, -1.0, 2.0], [0.3f64, 1.0, 2.5]);
    let want: f64 = mu.iter().zip(&sigma).map(|(m, s)| -s.ln() + (s * s + m * m) / 2.0 - 0.5).sum();
    let mean = Var::constant(Tensor::from_vec(mu.to_vec(), &[1, 3]).unwrap());
    let log_var = Var::constant(Tensor::from_vec(sigma.iter().map(|s| (s * s).ln()).collect(), &[1, 3]).unwrap());
    let got = gaussian_kl_divergence(&mean, &log_var, Reduction::Sum).unwrap().value().item().unwrap();
    assert!((got - want).abs() <= 1e-14 * want, "{got} vs {want}");
    // The general form with a standard-normal p gives the same, and KL(q ‖ q) = 0.
    let zeros = Var::constant(Tensor::zeros(&[1, 3], DType::F64));
    let between = gaussian_kl_divergence_between((&mean, &log_var), (&zeros, &zeros), Reduction::Sum)
        .unwrap()
        .value()
        .item()
        .unwrap();
    assert!((between - want).abs() <= 1e-14 * want);
    let self_kl = gaussian_kl_divergence_between((&mean, &log_var), (&mean, &log_var), Reduction::Sum)
        .unwrap()
        .value()
        .item()
        .unwrap();
    assert!(self_kl.abs() <= 1e-15, "{self_kl}");
    let at_prior = gaussian_kl_divergence(&zeros, &zeros, Reduction::Mean).unwrap().value().item().unwrap();
    assert_eq!(at_prior, 0.0);
}

#[test]
fn reparameterised_samples_have_the_requested_mean_and_spread() {
    // 20,000 draws of one 2-d Gaussian: sample means within 5 standard errors (σ/√n) of μ, and
    // sample standard deviations within 5·σ/√(2n) of σ.
    let n = 20_000;
    let (mu, sigma) = ([1.5f64, -3.0], [0.5f64, 2.0]);
    let mean = Var::constant(Tensor::from_vec(mu.repeat(n), &[n, 2]).unwrap());
    let log_var = Var::constant(Tensor::from_vec(sigma.map(|s| (s * s).ln()).repeat(n), &[n, 2]).unwrap());
    let z = vals(&reparameterize(&mean, &log_var, &mut Rng::new(3)).unwrap().value());
    for d in 0..2 {
        let xs: Vec<f64> = z.iter().skip(d).step_by(2).copied().collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let s = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
        assert!((m - mu[d]).abs() < 5.0 * sigma[d] / (n as f64).sqrt(), "dim {d}: mean {m}");
        assert!((s - sigma[d]).abs() < 5.0 * sigma[d] / (2.0 * n as f64).sqrt(), "dim {d}: std {s}");
    }
}

#[test]
fn generative_loss_shape_errors_name_the_op() {
    let a = Var::constant(Tensor::ones(&[2, 3], DType::F32));
    let b = Var::constant(Tensor::ones(&[2, 4], DType::F32));
    let mut rng = Rng::new(0);
    for (op, e) in [
        ("binary_cross_entropy", binary_cross_entropy(&a, &b, Reduction::Mean).unwrap_err()),
        ("gaussian_kl_divergence", gaussian_kl_divergence(&a, &b, Reduction::Sum).unwrap_err()),
        (
            "gaussian_kl_divergence_between",
            gaussian_kl_divergence_between((&a, &a), (&a, &b), Reduction::Sum).unwrap_err(),
        ),
        ("reparameterize", reparameterize(&a, &b, &mut rng).unwrap_err()),
    ] {
        assert!(matches!(e, Error::ShapeMismatch { op: o, .. } if o == op), "{op}: {e}");
    }
}
