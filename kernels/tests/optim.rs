//! Property tests for the fused optimizer steps against a per-element transcription of PyTorch's
//! update rules (`torch.optim.SGD`, `Adam`, `AdamW`, single-tensor, no amsgrad, not maximising).
//!
//! Tolerances use running error bounds: each reference also evaluates its formula with every
//! term replaced by its absolute value (the "magnitude" of the result). A formula evaluated with
//! at most `n` roundings along any path is then within γ_n·magnitude of the exact value
//! (Higham, Accuracy and Stability, §3.3), without cancellation ever making the bound too tight.

mod common;

use common::{gamma, unit_roundoff, Rng, U64};
use ferrograd_kernels::optim::{adam_step, sgd_step, AdamParams, SgdParams};
use ferrograd_kernels::Float;
use proptest::prelude::*;

/// Buffer lengths: short ones, and ones above `PAR_MIN_ELEMS` (split in chunks over threads).
fn len() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 1..300usize, 1 => 32768..45000usize]
}

fn sgd_params() -> impl Strategy<Value = SgdParams> {
    (
        0.001..0.5f64,
        prop_oneof![1 => Just(0.0f64), 3 => 0.5..0.99f64],
        prop_oneof![Just(0.0f64), 0.0..0.5f64],
        prop_oneof![Just(0.0f64), 0.0..0.1f64],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(lr, momentum, dampening, weight_decay, nesterov, first_step)| SgdParams {
            lr,
            momentum,
            dampening,
            weight_decay,
            nesterov,
            first_step,
        })
}

/// PyTorch's SGD for one element, returning `(p, v)` and their magnitudes:
/// ```text
/// g = g + wd·p
/// if momentum ≠ 0:  v = (first step) ? g : μ·v + (1 − dampening)·g
///                   g = nesterov ? g + μ·v : v
/// p = p − lr·g
/// ```
fn sgd_reference(p: f64, g: f64, v: f64, h: &SgdParams) -> [(f64, f64); 2] {
    let (g, g_mag) = (g + h.weight_decay * p, g.abs() + h.weight_decay * p.abs());
    let (mut d, mut d_mag) = (g, g_mag);
    let (mut v_new, mut v_mag) = (v, v.abs());
    if h.momentum != 0.0 {
        (v_new, v_mag) = if h.first_step {
            (g, g_mag)
        } else {
            (h.momentum * v + (1.0 - h.dampening) * g, h.momentum * v.abs() + (1.0 - h.dampening) * g_mag)
        };
        (d, d_mag) = if h.nesterov { (g + h.momentum * v_new, g_mag + h.momentum * v_mag) } else { (v_new, v_mag) };
    }
    [(p - h.lr * d, p.abs() + h.lr * d_mag), (v_new, v_mag)]
}

fn check_sgd<T: Float>(n: usize, h: SgdParams, seed: u64) -> Result<(), TestCaseError> {
    let mut p: Vec<T> = common::uniform(seed, n, -3.0, 3.0);
    let g: Vec<T> = common::uniform(seed ^ 1, n, -3.0, 3.0);
    // Without momentum there is no velocity buffer at all; with it, the buffer holds a previous
    // velocity (ignored, and overwritten with the gradient, on the first step).
    let mut v: Vec<T> = if h.momentum != 0.0 { common::uniform(seed ^ 2, n, -3.0, 3.0) } else { vec![] };
    let (p0, v0) = (p.clone(), v.clone());
    sgd_step(&mut p, &g, &mut v, h);
    // Longest path: the four hyper-parameters rounded to T, then wd·p, +g, μ·v, (1−τ)·g, +,
    // μ·v, +, lr·d, p −: 13 roundings at most.
    let bound = gamma(13, unit_roundoff::<T>()) + gamma(13, U64);
    for i in 0..n {
        let vi = v0.get(i).map_or(0.0, |v| v.to_f64());
        let [(want_p, mag_p), (want_v, mag_v)] = sgd_reference(p0[i].to_f64(), g[i].to_f64(), vi, &h);
        let got_p = p[i].to_f64();
        prop_assert!((got_p - want_p).abs() <= bound * mag_p, "{}: p[{i}] = {got_p}, want {want_p}, {h:?}", T::NAME);
        if h.momentum != 0.0 {
            let got_v = v[i].to_f64();
            prop_assert!(
                (got_v - want_v).abs() <= bound * mag_v,
                "{}: v[{i}] = {got_v}, want {want_v}, {h:?}",
                T::NAME
            );
        }
    }
    Ok(())
}

fn adam_params() -> impl Strategy<Value = AdamParams> {
    (
        1e-4..0.1f64,
        0.8..0.95f64,
        0.9..0.9999f64,
        prop_oneof![Just(1e-8f64), 1e-8..1e-3f64],
        prop_oneof![Just(0.0f64), 0.0..0.1f64],
        any::<bool>(),
        prop_oneof![Just(1u64), 2..2000u64],
    )
        .prop_map(|(lr, beta1, beta2, eps, weight_decay, decoupled, step)| AdamParams {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
            step,
        })
}

/// PyTorch's Adam (`decoupled == false`) or AdamW (`true`) for one element, returning `(p, m, v)`
/// and their magnitudes:
/// ```text
/// Adam:  g = g + wd·p                AdamW:  p = p·(1 − lr·wd)
/// m = β₁·m + (1 − β₁)·g
/// v = β₂·v + (1 − β₂)·g²
/// p = p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
fn adam_reference(p: f64, g: f64, m: f64, v: f64, h: &AdamParams) -> [(f64, f64); 3] {
    let t = h.step as i32;
    let (b1, b2) = (h.beta1, h.beta2);
    let (g, g_mag, p_kept, p_mag) = if h.decoupled {
        let keep = 1.0 - h.lr * h.weight_decay;
        (g, g.abs(), p * keep, p.abs() * keep)
    } else {
        (g + h.weight_decay * p, g.abs() + h.weight_decay * p.abs(), p, p.abs())
    };
    let (m, m_mag) = (b1 * m + (1.0 - b1) * g, b1 * m.abs() + (1.0 - b1) * g_mag);
    // Every term of v is non-negative: its value is its magnitude.
    let v = b2 * v + (1.0 - b2) * g * g;
    let denom = v.sqrt() / (1.0 - b2.powi(t)).sqrt() + h.eps;
    let step_size = h.lr / (1.0 - b1.powi(t));
    [(p_kept - step_size * m / denom, p_mag + step_size * m_mag / denom), (m, m_mag), (v, v)]
}

fn check_adam<T: Float>(n: usize, h: AdamParams, seed: u64) -> Result<(), TestCaseError> {
    let mut rng = Rng::new(seed);
    let mut p: Vec<T> = (0..n).map(|_| T::from_f64(rng.uniform(-3.0, 3.0))).collect();
    let g: Vec<T> = (0..n).map(|_| T::from_f64(rng.uniform(-3.0, 3.0))).collect();
    // Moments as a previous step would leave them: m of either sign, v positive.
    let mut m: Vec<T> = (0..n).map(|_| T::from_f64(rng.uniform(-1.0, 1.0))).collect();
    let mut v: Vec<T> = (0..n).map(|_| T::from_f64(rng.uniform(0.01, 4.0))).collect();
    let (p0, m0, v0) = (p.clone(), m.clone(), v.clone());
    adam_step(&mut p, &g, &mut m, &mut v, h);
    // Longest path: hyper-parameters (β, 1−β, step size, 1/√bc₂, ε, shrink) rounded to T, the
    // L2 term (2), m or v (3 + 1 for g²), √v (1), ·1/√bc₂ (1), +ε (1), step·m (1), /denom (1),
    // p·shrink (1) and the final − (1): within 16 roundings. The denominator is a sum of
    // non-negative terms, so its relative error stays within the same count.
    let bound = gamma(16, unit_roundoff::<T>()) + gamma(16, U64);
    for i in 0..n {
        let want = adam_reference(p0[i].to_f64(), g[i].to_f64(), m0[i].to_f64(), v0[i].to_f64(), &h);
        for (name, got, (w, mag)) in [("p", &p, want[0]), ("m", &m, want[1]), ("v", &v, want[2])] {
            let got = got[i].to_f64();
            prop_assert!(
                (got - w).abs() <= bound * mag,
                "{}: {name}[{i}] = {got}, want {w} (tol {:e}), {h:?}",
                T::NAME,
                bound * mag
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Plain SGD, momentum, Nesterov, dampening and weight decay, on the first and later steps.
    #[test]
    fn sgd_step_matches_pytorch_formula(n in len(), h in sgd_params(), seed in any::<u64>()) {
        check_sgd::<f32>(n, h, seed)?;
        check_sgd::<f64>(n, h, seed)?;
    }

    /// Adam (L2 weight decay on the gradient) and AdamW (decoupled decay), first and later steps.
    #[test]
    fn adam_step_matches_pytorch_formula(n in len(), h in adam_params(), seed in any::<u64>()) {
        check_adam::<f32>(n, h, seed)?;
        check_adam::<f64>(n, h, seed)?;
    }
}

/// PyTorch's first Adam step moves every parameter by almost exactly `lr` against the sign of its
/// gradient (m̂ = g and √v̂ = |g|), whatever the gradient's scale: a hand-checkable anchor for
/// the bias correction.
#[test]
fn adam_first_step_moves_each_parameter_by_lr() {
    let h = AdamParams { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-12, weight_decay: 0.0, decoupled: false, step: 1 };
    let g = [1e-3f64, -2.0, 500.0];
    let mut p = [1.0f64; 3];
    let (mut m, mut v) = ([0.0; 3], [0.0; 3]);
    adam_step(&mut p, &g, &mut m, &mut v, h);
    for (pi, gi) in p.iter().zip(g) {
        assert!((pi - (1.0 - 0.01 * gi.signum())).abs() < 1e-9, "{p:?}");
    }
}
