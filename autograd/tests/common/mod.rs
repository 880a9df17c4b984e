//! Shared helpers for the gradient-check tests: random inputs and the check itself.

#![allow(dead_code)]

use ferrograd_autograd::{gradcheck, gradgradcheck, DType, GradcheckOptions, Result, Rng, Tensor, Var};
use proptest::prelude::*;

/// Fresh random `f64` values uniform in `[lo, hi)`.
pub fn uniform(shape: &[usize], seed: u64, lo: f64, hi: f64) -> Tensor {
    Rng::new(seed).uniform_tensor(shape, lo, hi, DType::F64).unwrap()
}

/// Random values in `±[0.2, 2)`: at least 0.2 from 0, so finite differences (step 1e-6) never
/// straddle the kink of `abs`, `relu` or the pole of `1/x`.
pub fn away_from_zero(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    let n = shape.iter().product();
    let v: Vec<f64> =
        (0..n).map(|_| (0.2 + 1.8 * rng.uniform()) * if rng.uniform() < 0.5 { -1.0 } else { 1.0 }).collect();
    Tensor::from_vec(v, shape).unwrap()
}

/// A shape of rank 1..=3 with dims 1..=4 (at most 64 elements, so that full Jacobians stay
/// cheap).
pub fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=4, 1..=3)
}

/// A shape and a shape that broadcasts against it: some dims set to 1, and possibly some
/// leading dims dropped.
pub fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    shape().prop_flat_map(|s| {
        let n = s.len();
        (Just(s), prop::collection::vec(any::<bool>(), n), 0..n).prop_map(|(s, ones, drop)| {
            let b: Vec<usize> = s.iter().zip(&ones).map(|(&d, &one)| if one { 1 } else { d }).collect();
            (s, b[drop..].to_vec())
        })
    })
}

/// The input as a non-contiguous view: stored with its dims reversed, then permuted back, so
/// the op under test reads it through strides.
pub fn stored_reversed(t: &Tensor) -> Tensor {
    let rev: Vec<usize> = t.shape().iter().rev().copied().collect();
    let perm: Vec<usize> = (0..t.rank()).rev().collect();
    t.permute(&perm).unwrap().contiguous().unwrap().reshape(&rev).unwrap()
}

/// Undoes [`stored_reversed`] inside a checked function: a strided view with the original shape.
pub fn unreverse(v: &Var) -> Result<Var> {
    let perm: Vec<usize> = (0..v.shape().len()).rev().collect();
    v.permute(&perm)
}

/// Runs gradcheck and gradgradcheck (PyTorch's default tolerances, justified in
/// `gradcheck.rs`) and fails with the worst entry if either fails.
pub fn check(name: &str, f: impl Fn(&[Var]) -> Result<Var>, inputs: &[Tensor], seed: u64) {
    let opts = GradcheckOptions::default();
    let r = gradcheck(name, &f, inputs, opts).unwrap();
    assert!(r.passed, "{r}");
    let r = gradgradcheck(name, &f, inputs, opts, seed).unwrap();
    assert!(r.passed, "{r}");
}

/// Proptest configuration: 24 random cases per property keeps the suite fast in release mode.
pub fn config() -> ProptestConfig {
    ProptestConfig { cases: 24, ..ProptestConfig::default() }
}
