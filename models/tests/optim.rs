//! Optimizers against naive re-implementations of PyTorch's update formulas (Muon's with its
//! Newton–Schulz iteration written out in loops), and on a quadratic.
//!
//! Tolerances come from a first-order error analysis run alongside the reference: every
//! floating-point operation of the update contributes at most `eps` (twice the unit roundoff)
//! times the magnitude of its result and operands, and earlier errors propagate through the same
//! linear recurrences as the values. The f64 reference's own errors are covered by using
//! `eps_dtype + eps_f64` as the per-operation bound.

mod common;

use common::*;
use ferrograd_autograd::{DType, Error, Rng, Tensor, Var};
use ferrograd_models::optim::{
    newton_schulz, Adam, AdamConfig, AdamW, AdjustLr, ExponentialMovingAverage, Muon, MuonConfig, Optimizer, Sgd,
    SgdConfig,
};
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

/// `a · b` for row-major `m × k` and `k × n` matrices, in f64 (the reference's matmul).
fn matmul_f64(a: &[f64], b: &[f64], [m, k, n]: [usize; 3]) -> Vec<f64> {
    (0..m * n).map(|ij| (0..k).map(|p| a[ij / n * k + p] * b[p * n + ij % n]).sum()).collect()
}

/// The transpose of a row-major `rows × cols` matrix.
fn transpose_f64(x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..rows * cols).map(|ji| x[ji % rows * cols + ji / rows]).collect()
}

/// Newton–Schulz written out with loops: normalise, then `X ← a·X + (b·A + c·A²)·X`,
/// `A = X·Xᵀ`, on the wide orientation.
fn newton_schulz_reference(m: &[f64], [rows, cols]: [usize; 2], c: &MuonConfig) -> Vec<f64> {
    let tall = rows > cols;
    let (r, k) = if tall { (cols, rows) } else { (rows, cols) };
    let mut x = if tall { transpose_f64(m, rows, cols) } else { m.to_vec() };
    let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt().max(c.eps);
    x.iter_mut().for_each(|v| *v /= norm);
    let (a, b, cc) = c.ns_coefficients;
    for _ in 0..c.ns_steps {
        let gram = matmul_f64(&x, &transpose_f64(&x, r, k), [r, k, r]);
        let gram2 = matmul_f64(&gram, &gram, [r, r, r]);
        let poly: Vec<f64> = gram.iter().zip(&gram2).map(|(g, g2)| b * g + cc * g2).collect();
        let px = matmul_f64(&poly, &x, [r, r, k]);
        x = x.iter().zip(&px).map(|(x, p)| a * x + p).collect();
    }
    if tall {
        transpose_f64(&x, r, k)
    } else {
        x
    }
}

/// `torch.optim.Muon`'s step, by hand, `steps` times with the fixed gradient `g`.
fn muon_reference(p0: &[f64], g: &[f64], shape: [usize; 2], c: &MuonConfig, steps: usize) -> Vec<f64> {
    let (mut p, mut buf) = (p0.to_vec(), vec![0.0; g.len()]);
    for _ in 0..steps {
        buf.iter_mut().zip(g).for_each(|(b, g)| *b = c.momentum * *b + (1.0 - c.momentum) * g);
        let m: Vec<f64> = if c.nesterov {
            g.iter().zip(&buf).map(|(g, b)| (1.0 - c.momentum) * g + c.momentum * b).collect()
        } else {
            buf.clone()
        };
        let o = newton_schulz_reference(&m, shape, c);
        let step = c.lr * c.adjust_lr.ratio(shape[0], shape[1]);
        p.iter_mut().zip(&o).for_each(|(p, o)| *p = *p * (1.0 - c.lr * c.weight_decay) - step * o);
    }
    p
}

proptest! {
    #![proptest_config(config())]

    /// Muon against the hand-written step, in f64 (the ops are the same sums in another order,
    /// so they agree to a few units of f64 rounding), wide, tall and square matrices, every
    /// option.
    #[test]
    fn muon_matches_pytorch_formulas(rows in 1usize..=6, cols in 1usize..=6, steps in 1usize..=3, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let p0 = rng.normal_tensor(&[rows, cols], 0.0, 1.0, DType::F64).unwrap();
        let g = rng.normal_tensor(&[rows, cols], 0.0, 1.0, DType::F64).unwrap();
        let base = MuonConfig { lr: 0.05, ..MuonConfig::default() };
        for c in [
            base,
            MuonConfig { nesterov: false, momentum: 0.5, ..base },
            MuonConfig { adjust_lr: AdjustLr::MatchRmsAdamW, weight_decay: 0.0, ..base },
            MuonConfig { ns_steps: 2, ..base },
        ] {
            let p = Var::parameter(p0.clone());
            let mut opt = Muon::new(vec![p.clone()], c).unwrap();
            run(&mut opt, &p, &g, steps);
            let want = muon_reference(&vals(&p0), &vals(&g), [rows, cols], &c, steps);
            for (i, (got, want)) in vals(&p.value()).iter().zip(&want).enumerate() {
                prop_assert!((got - want).abs() <= 1e-10 * (1.0 + want.abs()), "{:?}: p[{}] = {}, want {}", c, i, got, want);
            }
        }
    }
}

/// On `m = U·diag(s)·Vᵀ` with signed permutations for `U` and `V` (orthogonal, and exact in
/// floating point), `newton_schulz` must give `U·diag(p⁵(s/‖s‖))·Vᵀ`: the same singular vectors,
/// each singular value through the quintic five times. This is the whole idea of the iteration.
#[test]
fn newton_schulz_maps_each_singular_value_through_the_quintic() {
    let c = MuonConfig::default();
    let (a, b, cc) = c.ns_coefficients;
    let quintic = |s: f64| (0..c.ns_steps).fold(s, |s, _| a * s + b * s.powi(3) + cc * s.powi(5));
    for (rows, cols) in [(3usize, 5usize), (5, 3), (4, 4)] {
        let s = [2.0, 0.5, 0.05, 1.0];
        let r = rows.min(cols);
        let norm = s[..r].iter().map(|s| s * s).sum::<f64>().sqrt();
        // U: rows reversed with alternating signs; V: columns rotated by one.
        let u = |i: usize| (rows - 1 - i, if i.is_multiple_of(2) { 1.0 } else { -1.0 });
        let v = |j: usize| (j + 1) % cols;
        let mut m = vec![0.0; rows * cols];
        let mut want = vec![0.0; rows * cols];
        for (k, &sk) in s[..r].iter().enumerate() {
            let ((i, sign), j) = (u(k), v(k));
            m[i * cols + j] = sign * sk;
            want[i * cols + j] = sign * quintic(sk / norm);
        }
        for dt in [DType::F64, DType::F32] {
            let got = newton_schulz(
                &Tensor::from_vec(m.clone(), &[rows, cols]).unwrap().to_dtype(dt).unwrap(),
                c.ns_steps,
                c.ns_coefficients,
                c.eps,
            )
            .unwrap();
            assert_eq!(got.shape(), &[rows, cols]);
            let tol = if dt == DType::F32 { 1e-5 } else { 1e-12 };
            for (i, (g, w)) in vals(&got).iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= tol, "{rows}×{cols} {dt}: [{i}] = {g}, want {w}");
            }
        }
        // Every singular value, even 0.05/‖s‖ ≈ 0.02, ends in roughly [0.7, 1.2].
        assert!(
            s[..r].iter().all(|&sk| (0.6..1.25).contains(&quintic(sk / norm))),
            "{:?}",
            s.map(|x| quintic(x / norm))
        );
    }
}

#[test]
fn muon_rejects_vectors_and_bad_hyper_parameters() {
    let vector = Var::parameter(Tensor::ones(&[3], DType::F32));
    match Muon::new(vec![vector], MuonConfig::default()) {
        Err(Error::ShapeMismatch { op: "Muon", shapes, .. }) => assert_eq!(shapes, vec![vec![3]]),
        other => panic!("expected a shape error naming Muon, got {:?}", other.err()),
    }
    let p = || vec![Var::parameter(Tensor::ones(&[2, 2], DType::F32))];
    for bad in [
        MuonConfig { momentum: 1.0, ..Default::default() },
        MuonConfig { lr: -1.0, ..Default::default() },
        MuonConfig { weight_decay: -0.1, ..Default::default() },
        MuonConfig { eps: 0.0, ..Default::default() },
        MuonConfig { ns_steps: 0, ..Default::default() },
        MuonConfig { ns_steps: 100, ..Default::default() },
        MuonConfig { lr: f64::NAN, ..Default::default() },
    ] {
        assert!(matches!(Muon::new(p(), bad), Err(Error::InvalidArgument { op: "Muon", .. })), "{bad:?}");
    }
    assert!(newton_schulz(&Tensor::ones(&[2, 2, 2], DType::F32), 5, (3.4445, -4.775, 2.0315), 1e-7).is_err());
}

/// The moving average against the formula written out over a run of parameter values, in f64:
/// the first update copies, each later one is `decay·avg + (1 − decay)·p`. Evaluating with the
/// averages puts the trained values back afterwards; `copy_to_params` keeps the averages.
#[test]
fn the_exponential_moving_average_follows_its_recurrence() {
    let mut rng = Rng::new(11);
    let params: Vec<Var> =
        [[3, 4], [5, 1]].iter().map(|s| Var::parameter(rng.normal_tensor(s, 0.0, 1.0, DType::F64).unwrap())).collect();
    let decay = 0.9;
    let mut ema = ExponentialMovingAverage::new(params.clone(), decay).unwrap();
    assert!(ema.copy_to_params().is_err(), "nothing to copy before the first update");
    // The first average shares the parameters' buffers; an in-place optimizer step on them must
    // copy on write and leave the average alone.
    ema.update().unwrap();
    let first: Vec<Vec<f64>> = params.iter().map(|p| vals(&p.value())).collect();
    let mut sgd = Sgd::new(params.clone(), SgdConfig { lr: 0.5, ..Default::default() }).unwrap();
    params.iter().for_each(|p| p.sum_all().unwrap().backward().unwrap());
    sgd.step().unwrap();
    assert_ne!(vals(&params[0].value()), first[0], "the step moved the parameters");
    assert_eq!(ema.averages().iter().map(|a| vals(a.as_ref().unwrap())).collect::<Vec<_>>(), first);
    let mut ema = ExponentialMovingAverage::new(params.clone(), decay).unwrap();
    let mut expected: Vec<Vec<f64>> = Vec::new();
    for step in 0..6 {
        if step > 0 {
            for p in &params {
                p.set_value(rng.normal_tensor(&p.shape(), 0.0, 1.0, DType::F64).unwrap()).unwrap();
            }
        }
        ema.update().unwrap();
        for (i, p) in params.iter().enumerate() {
            let now = vals(&p.value());
            match expected.get_mut(i) {
                None => expected.push(now),
                Some(avg) => avg.iter_mut().zip(&now).for_each(|(a, x)| *a = decay * *a + (1.0 - decay) * x),
            }
        }
    }
    for (avg, want) in ema.averages().iter().zip(&expected) {
        let got = vals(avg.as_ref().unwrap());
        // Six updates of two roundings each on values below 4 in magnitude.
        assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-14), "{got:?} vs {want:?}");
    }
    let trained: Vec<Vec<f64>> = params.iter().map(|p| vals(&p.value())).collect();
    let seen = ema.with_averages(|| Ok(params.iter().map(|p| vals(&p.value())).collect::<Vec<_>>())).unwrap();
    assert_eq!(seen, ema.averages().iter().map(|a| vals(a.as_ref().unwrap())).collect::<Vec<_>>());
    assert_eq!(params.iter().map(|p| vals(&p.value())).collect::<Vec<_>>(), trained, "trained values restored");
    ema.copy_to_params().unwrap();
    assert_eq!(params.iter().map(|p| vals(&p.value())).collect::<Vec<_>>(), seen);
    assert!(ExponentialMovingAverage::new(params.clone(), 1.0).is_err());
    assert!(ExponentialMovingAverage::new(params, -0.1).is_err());
}
