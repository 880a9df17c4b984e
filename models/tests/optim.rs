//! Optimizers against naive re-implementations of PyTorch's update formulas, and on a quadratic.
//!
//! Tolerances come from a first-order error analysis run alongside the reference: every
//! floating-point operation of the update contributes at most `eps` (twice the unit roundoff)
//! times the magnitude of its result and operands, and earlier errors propagate through the same
//! linear recurrences as the values. The f64 reference's own errors are covered by using
//! `eps_dtype + eps_f64` as the per-operation bound.

mod common;

use common::*;
use ferrograd_autograd::{DType, Error, Rng, Tensor, Var};
use ferrograd_models::optim::{Adam, AdamConfig, AdamW, Optimizer, Sgd, SgdConfig};
use proptest::prelude::*;

/// Runs `steps` optimizer steps on `p` with the fixed gradient `g` (the loss is `Σ p·g`, whose
/// gradient is exactly `g`).
fn run(opt: &mut dyn Optimizer, p: &Var, g: &Tensor, steps: usize) {
    let g = Var::constant(g.clone());
    for _ in 0..steps {
        opt.zero_grad();
        p.mul(&g).unwrap().sum_all().unwrap().backward().unwrap();
        assert_eq!(vals(&p.grad().unwrap()), vals(&g.value()), "the gradient of Σ p·g is g");
        opt.step().unwrap();
    }
}

/// `torch.optim.SGD`: `g ← g + λp;  b ← g (first step) or μb + (1−τ)g;  g ← g + μb (nesterov)
/// or b;  p ← p − lr·g`. Returns the final parameters and an error bound for each.
fn sgd_reference(p0: &[f64], g: &[f64], c: SgdConfig, steps: usize, e: f64) -> (Vec<f64>, Vec<f64>) {
    let (lr, mu, damp, wd) = (c.lr, c.momentum, 1.0 - c.dampening, c.weight_decay);
    let mut out = (Vec::new(), Vec::new());
    for (&p0, &g) in p0.iter().zip(g) {
        let (mut p, mut ep) = (p0, 0.0);
        let (mut b, mut eb) = (0.0f64, 0.0);
        for t in 0..steps {
            let gi = g + wd * p;
            let egi = wd * ep + e * (g.abs() + 2.0 * wd * p.abs());
            let (d, ed) = if mu != 0.0 {
                if t == 0 {
                    b = gi;
                    eb = egi;
                } else {
                    let nb = mu * b + damp * gi;
                    eb = mu * eb + damp * egi + e * (2.0 * mu * b.abs() + 2.0 * damp * gi.abs() + nb.abs());
                    b = nb;
                }
                if c.nesterov {
                    let d = gi + mu * b;
                    (d, egi + mu * eb + e * (2.0 * mu * b.abs() + d.abs()))
                } else {
                    (b, eb)
                }
            } else {
                (gi, egi)
            };
            let np = p - lr * d;
            ep += lr * ed + e * (2.0 * lr * d.abs() + np.abs());
            p = np;
        }
        out.0.push(p);
        out.1.push(ep);
    }
    out
}

/// `torch.optim.Adam` / `AdamW`: `g ← g + λp (Adam);  p ← p(1 − lr·λ) (AdamW);
/// m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  p ← p − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε)`.
fn adam_reference(p0: &[f64], g: &[f64], c: AdamConfig, steps: usize, e: f64) -> (Vec<f64>, Vec<f64>) {
    let (b1, b2) = c.betas;
    let (l2, shrink) =
        if c.decoupled_weight_decay { (0.0, 1.0 - c.lr * c.weight_decay) } else { (c.weight_decay, 1.0) };
    let mut out = (Vec::new(), Vec::new());
    for (&p0, &g) in p0.iter().zip(g) {
        let (mut p, mut ep) = (p0, 0.0);
        let (mut m, mut em, mut v, mut ev) = (0.0f64, 0.0, 0.0f64, 0.0);
        for t in 1..=steps as i32 {
            let gi = g + l2 * p;
            let egi = l2 * ep + e * (g.abs() + 2.0 * l2 * p.abs());
            let nm = b1 * m + (1.0 - b1) * gi;
            em = b1 * em + (1.0 - b1) * egi + e * (2.0 * b1 * m.abs() + 2.0 * (1.0 - b1) * gi.abs() + nm.abs());
            let nv = b2 * v + (1.0 - b2) * gi * gi;
            ev = b2 * ev + (1.0 - b2) * 2.0 * gi.abs() * egi + e * (2.0 * b2 * v + 3.0 * (1.0 - b2) * gi * gi + nv);
            m = nm;
            v = nv;
            let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
            let denom = v.sqrt() / bc2.sqrt() + c.eps;
            let upd = c.lr / bc1 * m / denom;
            // m's error scaled by the step, plus the relative errors of √v (half of v's) and of
            // the five operations forming the update (step size, ·, /, √, ·√bc2⁻¹, + ε).
            let eupd = c.lr / bc1 * em / denom + upd.abs() * (ev / (2.0 * v) + 7.0 * e);
            let np = p * shrink - upd;
            ep = ep * shrink + eupd + e * (2.0 * p.abs() + upd.abs() + np.abs());
            p = np;
        }
        out.0.push(p);
        out.1.push(ep);
    }
    out
}

fn sgd_configs() -> Vec<SgdConfig> {
    let base = SgdConfig { lr: 0.1, ..SgdConfig::default() };
    vec![
        base,
        SgdConfig { momentum: 0.9, ..base },
        SgdConfig { momentum: 0.9, dampening: 0.5, ..base },
        SgdConfig { momentum: 0.9, nesterov: true, ..base },
        SgdConfig { weight_decay: 0.1, ..base },
        SgdConfig { momentum: 0.8, weight_decay: 0.3, nesterov: true, ..base },
        SgdConfig { momentum: 0.5, dampening: 0.2, weight_decay: 0.05, lr: 0.7, ..base },
    ]
}

fn adam_configs() -> Vec<AdamConfig> {
    let base = AdamConfig { lr: 0.1, ..AdamConfig::default() };
    vec![
        base,
        AdamConfig { weight_decay: 0.1, ..base },
        AdamConfig { lr: 0.1, ..AdamConfig::adamw() },
        AdamConfig { weight_decay: 0.5, decoupled_weight_decay: true, ..base },
        AdamConfig { betas: (0.5, 0.9), eps: 1e-3, ..base },
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sgd_matches_pytorch_formulas(n in 1usize..=6, steps in 1usize..=6, dt in float_dtype(), seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let p0 = rng.normal_tensor(&[n], 0.0, 1.0, dt).unwrap();
        let g = rng.normal_tensor(&[n], 0.0, 1.0, dt).unwrap();
        for c in sgd_configs() {
            let p = Var::parameter(p0.clone());
            let mut opt = Sgd::new(vec![p.clone()], c).unwrap();
            run(&mut opt, &p, &g, steps);
            let (want, tol) = sgd_reference(&vals(&p0), &vals(&g), c, steps, eps(dt) + f64::EPSILON);
            let got = vals(&p.value());
            for i in 0..n {
                prop_assert!((got[i] - want[i]).abs() <= tol[i], "{:?} after {} steps ({}): p[{}] = {}, want {} ± {}",
                    c, steps, dt, i, got[i], want[i], tol[i]);
            }
        }
    }

    #[test]
    fn adam_and_adamw_match_pytorch_formulas(
        n in 1usize..=6, steps in 1usize..=6, dt in float_dtype(), seed in any::<u64>()
    ) {
        let mut rng = Rng::new(seed);
        let p0 = rng.normal_tensor(&[n], 0.0, 1.0, dt).unwrap();
        let g = rng.normal_tensor(&[n], 0.0, 1.0, dt).unwrap();
        for c in adam_configs() {
            let p = Var::parameter(p0.clone());
            let mut opt: AdamW = Adam::new(vec![p.clone()], c).unwrap();
            run(&mut opt, &p, &g, steps);
            let (want, tol) = adam_reference(&vals(&p0), &vals(&g), c, steps, eps(dt) + f64::EPSILON);
            let got = vals(&p.value());
            for i in 0..n {
                prop_assert!((got[i] - want[i]).abs() <= tol[i], "{:?} after {} steps ({}): p[{}] = {}, want {} ± {}",
                    c, steps, dt, i, got[i], want[i], tol[i]);
            }
        }
    }
}

#[test]
fn first_adam_step_moves_every_coordinate_by_lr() {
    // With bias correction, step 1 is p − lr·g/(|g| + ε'): each coordinate moves by lr·sign(g)
    // up to ε/|g| ≈ 1e-8 relative (|g| ≥ 0.5 here).
    let p0 = Tensor::from_vec(vec![1.0f64, -2.0, 0.5], &[3]).unwrap();
    let g = Tensor::from_vec(vec![0.5f64, -3.0, 2.0], &[3]).unwrap();
    let p = Var::parameter(p0);
    let mut opt = Adam::new(vec![p.clone()], AdamConfig { lr: 0.01, ..Default::default() }).unwrap();
    run(&mut opt, &p, &g, 1);
    let got = vals(&p.value());
    for (x, want) in got.iter().zip([0.99, -1.99, 0.49]) {
        assert!((x - want).abs() < 1e-9, "{got:?}");
    }
}

#[test]
fn optimizers_minimize_a_quadratic() {
    // f(p) = Σ aᵢ(pᵢ − cᵢ)² with aᵢ ∈ [0.5, 2]: Hessian eigenvalues 2aᵢ ∈ [1, 4].
    let mut rng = Rng::new(21);
    let n = 10;
    let a = Var::constant(rng.uniform_tensor(&[n], 0.5, 2.0, DType::F64).unwrap());
    let c = Var::constant(rng.normal_tensor(&[n], 0.0, 1.0, DType::F64).unwrap());
    let p0 = rng.normal_tensor(&[n], 0.0, 3.0, DType::F64).unwrap();
    let loss = |p: &Var| {
        let d = p.sub(&c).unwrap();
        d.mul(&d).unwrap().mul(&a).unwrap().sum_all().unwrap()
    };
    let train = |opt: &mut dyn Optimizer, p: &Var, steps: usize| -> f64 {
        for _ in 0..steps {
            opt.zero_grad();
            loss(p).backward().unwrap();
            opt.step().unwrap();
        }
        loss(p).value().item().unwrap()
    };
    let initial = loss(&Var::constant(p0.clone())).value().item().unwrap();
    assert!(initial > 1.0);

    // Plain SGD, lr 0.1: each coordinate contracts by |1 − 0.2·aᵢ| ≤ 0.9 per step, so after 200
    // steps the loss has shrunk by at least 0.9^400 ≈ 5e-19 (times the condition number 4).
    let p = Var::parameter(p0.clone());
    let mut sgd = Sgd::new(vec![p.clone()], SgdConfig { lr: 0.1, ..Default::default() }).unwrap();
    let l = train(&mut sgd, &p, 200);
    assert!(l <= 1e-12 * initial, "SGD: {l} from {initial}");

    // Heavy ball, μ = 0.9, lr 0.05: lr·h ∈ [0.05, 0.2] lies in the under-damped regime
    // ((1 + μ − lr·h)² < 4μ), where the iteration matrix has spectral radius √μ ≈ 0.949; with
    // the at most linear growth factor of a near-double root, 300 steps shrink the distance by
    // ≤ 300·0.949^300 ≈ 4e-5, the loss by ≤ 4·(4e-5)² ≈ 7e-9.
    for nesterov in [false, true] {
        let p = Var::parameter(p0.clone());
        let cfg = SgdConfig { lr: 0.05, momentum: 0.9, nesterov, ..Default::default() };
        let mut opt = Sgd::new(vec![p.clone()], cfg).unwrap();
        let l = train(&mut opt, &p, 300);
        assert!(l <= 1e-6 * initial, "momentum (nesterov {nesterov}): {l} from {initial}");
    }

    // Adam has no such linear rate; with a constant lr it settles within O(lr) of the minimum.
    // From a distance of ~3 with lr 0.05, 600 steps is enough to arrive (≥ 60 steps of ≤ lr).
    for cfg in [AdamConfig { lr: 0.05, ..Default::default() }, AdamConfig { lr: 0.05, ..AdamConfig::adamw() }] {
        let p = Var::parameter(p0.clone());
        let mut opt = Adam::new(vec![p.clone()], cfg).unwrap();
        let l = train(&mut opt, &p, 600);
        assert!(l <= 1e-3 * initial, "{cfg:?}: {l} from {initial}");
        // AdamW's decay pulls towards 0 with strength lr·λ = 5e-4 per step: a bias of
        // O(λ·|c|/(2a)) ≤ 0.01·3, well within 10·lr.
        let dist: Vec<f64> = vals(&p.value().sub(&c.value()).unwrap());
        assert!(dist.iter().all(|d| d.abs() < 10.0 * cfg.lr), "{cfg:?}: p − c = {dist:?}");
    }
}

#[test]
fn steps_skip_parameters_without_gradients_and_never_touch_shared_data() {
    let a = Var::parameter(Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap());
    let b = Var::parameter(Tensor::from_vec(vec![3.0f32], &[1]).unwrap());
    let snapshot = a.value(); // shares a's buffer
    let mut opt = Sgd::new(vec![a.clone(), b.clone()], SgdConfig { lr: 0.5, ..Default::default() }).unwrap();
    a.sum_all().unwrap().backward().unwrap(); // only a gets a gradient (ones)
    opt.step().unwrap();
    assert_eq!(a.value().to_vec::<f32>().unwrap(), vec![0.5, 1.5]);
    assert_eq!(b.value().to_vec::<f32>().unwrap(), vec![3.0], "b has no gradient and must not move");
    // The update is copy-on-write: a value taken before the step is unchanged.
    assert_eq!(snapshot.to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
    // lr is adjustable; lr 0 freezes the parameters.
    assert_eq!(opt.lr(), 0.5);
    opt.set_lr(0.0);
    assert_eq!(opt.lr(), 0.0);
    opt.step().unwrap();
    assert_eq!(a.value().to_vec::<f32>().unwrap(), vec![0.5, 1.5]);
    // zero_grad clears the gradients of all the optimizer's parameters.
    opt.zero_grad();
    assert!(a.grad().is_none());
    assert_eq!(opt.params().len(), 2);

    // Adam likewise leaves a parameter without gradient alone, and counts steps per parameter.
    let c = Var::parameter(Tensor::from_vec(vec![1.0f64], &[1]).unwrap());
    let d = Var::parameter(Tensor::from_vec(vec![1.0f64], &[1]).unwrap());
    let mut adam = Adam::new(vec![c.clone(), d.clone()], AdamConfig { lr: 0.1, ..Default::default() }).unwrap();
    c.sum_all().unwrap().backward().unwrap();
    adam.step().unwrap();
    assert_eq!(vals(&d.value()), vec![1.0]);
    // d's first step is a bias-corrected first step (moves by ≈ lr), even though c is at step 2.
    adam.zero_grad();
    c.add(&d).unwrap().sum_all().unwrap().backward().unwrap();
    adam.step().unwrap();
    assert!((vals(&d.value())[0] - 0.9).abs() < 1e-7, "{:?}", vals(&d.value()));
}

#[test]
fn invalid_hyper_parameters_are_rejected() {
    let p = || vec![Var::parameter(Tensor::ones(&[1], DType::F32))];
    let nesterov_without_momentum = SgdConfig { nesterov: true, ..Default::default() };
    assert!(matches!(Sgd::new(p(), nesterov_without_momentum), Err(Error::InvalidArgument { op: "Sgd", .. })));
    let nesterov_with_dampening = SgdConfig { nesterov: true, momentum: 0.9, dampening: 0.1, ..Default::default() };
    assert!(matches!(Sgd::new(p(), nesterov_with_dampening), Err(Error::InvalidArgument { .. })));
    assert!(matches!(Sgd::new(p(), SgdConfig { lr: -0.1, ..Default::default() }), Err(Error::InvalidArgument { .. })));
    for bad in [
        AdamConfig { betas: (1.0, 0.999), ..Default::default() },
        AdamConfig { betas: (0.9, -0.1), ..Default::default() },
        AdamConfig { lr: -1.0, ..Default::default() },
        AdamConfig { eps: -1e-8, ..Default::default() },
        AdamConfig { weight_decay: -0.1, ..Default::default() },
    ] {
        assert!(matches!(Adam::new(p(), bad), Err(Error::InvalidArgument { op: "Adam", .. })), "{bad:?}");
    }
    let w = AdamConfig::adamw();
    assert!(w.decoupled_weight_decay && w.weight_decay == 0.01 && w.lr == 1e-3 && w.betas == (0.9, 0.999));
}
