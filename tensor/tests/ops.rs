//! Elementwise ops with broadcasting, comparisons and selection, matmul and softmax, each against
//! a naive reference computed here with explicit index arithmetic.

mod common;

use common::*;
use ferrograd_tensor::{DType, Rng, Tensor};
use proptest::prelude::*;

/// `f(a[ia], b[ib])` for every element of the broadcast result, with the operand positions
/// computed by hand.
fn naive_binary(a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> f64) -> (Vec<usize>, Vec<f64>) {
    let out = naive_broadcast(a.shape(), b.shape());
    let (av, bv) = (vals(a), vals(b));
    let n: usize = out.iter().product();
    let v = (0..n)
        .map(|j| {
            let idx = unravel(j, &out);
            f(av[broadcast_source(&idx, a.shape())], bv[broadcast_source(&idx, b.shape())])
        })
        .collect();
    (out, v)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn broadcasting_arithmetic_matches_naive_reference(
        (sa, sb) in broadcast_shapes3(), dt in float_dtype(), seed in any::<u64>()
    ) {
        let a = randn(&sa, dt, seed);
        let b = randn(&sb, dt, seed.wrapping_add(1));
        // +, −, ×, ÷, max and min of two floats are correctly rounded. For f64 the reference does
        // the very same operation; for f32, computing in f64 and rounding once to f32 gives the
        // correctly rounded f32 result too (f64 has ≥ 2·24 + 2 significand bits, so double
        // rounding is innocuous for these ops). So the results must be equal, not just close.
        type Op = (&'static str, fn(&Tensor, &Tensor) -> ferrograd_tensor::Result<Tensor>, fn(f64, f64) -> f64);
        let ops: [Op; 6] = [
            ("add", Tensor::add, |x, y| x + y),
            ("sub", Tensor::sub, |x, y| x - y),
            ("mul", Tensor::mul, |x, y| x * y),
            ("div", Tensor::div, |x, y| x / y),
            ("maximum", Tensor::maximum, f64::max),
            ("minimum", Tensor::minimum, f64::min),
        ];
        for (name, op, f) in ops {
            let got = op(&a, &b).unwrap();
            let (shape, want) = naive_binary(&a, &b, f);
            prop_assert_eq!(got.shape(), shape.as_slice(), "{} {:?} {:?}", name, sa, sb);
            prop_assert_eq!(got.dtype(), dt);
            let want: Vec<f64> = want.into_iter().map(|v| round_to(v, dt)).collect();
            assert_exact(&format!("{name} {sa:?} {sb:?} {dt}"), &vals(&got), &want);
        }
        // pow with a positive base (so every result is a real number). f32::powf and f64::powf
        // are each within 1 ulp of the exact power, so the f32 result is within 2 f32-ulps of the
        // f64 reference rounded to f32: 2·eps relative.
        let base = a.abs().unwrap().add_scalar(0.5).unwrap();
        let got = base.pow(&b).unwrap();
        let (_, want) = naive_binary(&base, &b, f64::powf);
        let want: Vec<f64> = want.into_iter().map(|v| round_to(v, dt)).collect();
        let tol: Vec<f64> = want.iter().map(|w| 2.0 * eps(dt) * w.abs()).collect();
        assert_close("pow", &vals(&got), &want, &tol);
    }

    #[test]
    fn comparisons_return_zero_one_masks(
        (sa, sb) in broadcast_shapes3(), dt in float_dtype(), seed in any::<u64>()
    ) {
        // Values in {1, 2, 3}, so that ties (where == and <= differ from <) are common.
        let a = small_ints(&sa, 3, dt, seed);
        let b = small_ints(&sb, 3, dt, seed.wrapping_add(1));
        type Cmp = (&'static str, fn(&Tensor, &Tensor) -> ferrograd_tensor::Result<Tensor>, fn(f64, f64) -> bool);
        let ops: [Cmp; 6] = [
            ("eq", Tensor::eq, |x, y| x == y),
            ("ne", Tensor::ne, |x, y| x != y),
            ("lt", Tensor::lt, |x, y| x < y),
            ("le", Tensor::le, |x, y| x <= y),
            ("gt", Tensor::gt, |x, y| x > y),
            ("ge", Tensor::ge, |x, y| x >= y),
        ];
        for (name, op, f) in ops {
            let got = op(&a, &b).unwrap();
            prop_assert_eq!(got.dtype(), dt, "{} returns a mask of the operands' dtype", name);
            let (shape, want) = naive_binary(&a, &b, |x, y| if f(x, y) { 1.0 } else { 0.0 });
            prop_assert_eq!(got.shape(), shape.as_slice());
            assert_exact(&format!("{name} {sa:?} {sb:?}"), &vals(&got), &want);
        }
    }

    #[test]
    fn where_cond_selects_with_three_way_broadcasting(
        (sc, sa) in broadcast_shapes3(), sb_mask in prop::collection::vec(any::<bool>(), 4),
        dt in float_dtype(), int_cond in any::<bool>(), seed in any::<u64>()
    ) {
        // b gets its own unit dims (a subset of a's non-unit dims being 1 is fine).
        let sb: Vec<usize> = sa.iter().zip(&sb_mask).map(|(&d, &one)| if one { 1 } else { d }).collect();
        let mut rng = Rng::new(seed);
        let cond_i = rng.randint(&sc, 2).unwrap();
        let cond = if int_cond { cond_i.clone() } else { cond_i.to_dtype(dt).unwrap() };
        let a = randn(&sa, dt, seed ^ 1);
        let b = randn(&sb, dt, seed ^ 2);
        let got = Tensor::where_cond(&cond, &a, &b).unwrap();
        let out = naive_broadcast(&naive_broadcast(&sc, &sa), &sb);
        prop_assert_eq!(got.shape(), out.as_slice());
        let (cv, av, bv) = (vals(&cond_i), vals(&a), vals(&b));
        let want: Vec<f64> = (0..out.iter().product())
            .map(|j| {
                let idx = unravel(j, &out);
                if cv[broadcast_source(&idx, &sc)] != 0.0 {
                    av[broadcast_source(&idx, &sa)]
                } else {
                    bv[broadcast_source(&idx, &sb)]
                }
            })
            .collect();
        assert_exact("where", &vals(&got), &want);
    }

    #[test]
    fn masked_fill_replaces_where_the_mask_is_set(
        s in shape(0, 4), mask in prop::collection::vec(any::<bool>(), 4), drop in 0usize..=4,
        dt in float_dtype(), seed in any::<u64>()
    ) {
        // The mask broadcasts to the tensor: some dims of size 1, some leading dims dropped.
        let ms: Vec<usize> =
            s.iter().zip(&mask).skip(drop.min(s.len())).map(|(&d, &one)| if one { 1 } else { d }).collect();
        let x = randn(&s, dt, seed);
        let m = Rng::new(seed ^ 3).randint(&ms, 2).unwrap();
        let got = x.masked_fill(&m, -7.25).unwrap();
        prop_assert_eq!(got.shape(), s.as_slice());
        let (xv, mv) = (vals(&x), vals(&m));
        let want: Vec<f64> = (0..x.numel())
            .map(|j| if mv[broadcast_source(&unravel(j, &s), &ms)] != 0.0 { -7.25 } else { xv[j] })
            .collect();
        assert_exact("masked_fill", &vals(&got), &want);
        // A float mask works the same.
        let got_f = x.masked_fill(&m.to_dtype(dt).unwrap(), -7.25).unwrap();
        assert_exact("masked_fill (float mask)", &vals(&got_f), &want);
    }

    #[test]
    fn unary_ops_match_f64_reference(s in shape(0, 3), dt in float_dtype(), seed in any::<u64>()) {
        let x = randn(&s, dt, seed).mul_scalar(3.0).unwrap();
        let xv = vals(&x);
        let e = eps(dt);
        // Exact ops: negation, |x|, relu, clamp, sign, step, leaky_relu by a power of two, x + c
        // and x·c (correctly rounded, the same argument as for binary ops).
        type Exact = (&'static str, Box<dyn Fn(&Tensor) -> Tensor>, fn(f64) -> f64);
        let exact: Vec<Exact> = vec![
            ("neg", Box::new(|t| t.neg().unwrap()), |v| -v),
            ("abs", Box::new(|t| t.abs().unwrap()), f64::abs),
            ("relu", Box::new(|t| t.relu().unwrap()), |v| v.max(0.0)),
            ("clamp", Box::new(|t| t.clamp(-1.0, 2.0).unwrap()), |v| v.clamp(-1.0, 2.0)),
            ("sign", Box::new(|t| t.sign().unwrap()), f64::signum),
            ("step", Box::new(|t| t.step().unwrap()), |v| if v > 0.0 { 1.0 } else { 0.0 }),
            ("leaky_relu", Box::new(|t| t.leaky_relu(0.125).unwrap()), |v| if v > 0.0 { v } else { 0.125 * v }),
            ("add_scalar", Box::new(|t| t.add_scalar(0.75).unwrap()), |v| v + 0.75),
            ("mul_scalar", Box::new(|t| t.mul_scalar(-2.5).unwrap()), |v| v * -2.5),
            ("recip", Box::new(|t| t.recip().unwrap()), |v| 1.0 / v),
        ];
        for (name, f, r) in exact {
            let want: Vec<f64> = xv.iter().map(|&v| round_to(r(v), dt)).collect();
            assert_exact(name, &vals(&f(&x)), &want);
        }
        // Transcendental ops: relative error a few ulp. exp: the f32 kernel is documented < 2 ulp,
        // and |x| ≤ ~15 so exp's condition number |x| adds nothing (x is exact); tanh/ln/sqrt
        // come from the platform libm (≤ 1 ulp); sigmoid/softplus are compositions of ≤ 4
        // correctly rounded or ≤ 2-ulp steps whose errors add: 8 ulp.
        type Approx = (&'static str, Box<dyn Fn(&Tensor) -> Tensor>, fn(f64) -> f64, f64);
        let approx: Vec<Approx> = vec![
            ("exp", Box::new(|t| t.exp().unwrap()), f64::exp, 2.0),
            ("tanh", Box::new(|t| t.tanh().unwrap()), f64::tanh, 2.0),
            ("log|x|", Box::new(|t| t.abs().unwrap().log().unwrap()), |v| v.abs().ln(), 2.0),
            ("sqrt|x|", Box::new(|t| t.abs().unwrap().sqrt().unwrap()), |v| v.abs().sqrt(), 1.0),
            ("sigmoid", Box::new(|t| t.sigmoid().unwrap()), |v| 1.0 / (1.0 + (-v).exp()), 8.0),
            ("softplus", Box::new(|t| t.softplus().unwrap()), |v| v.max(0.0) + (-v.abs()).exp().ln_1p(), 8.0),
        ];
        for (name, f, r, ulps) in approx {
            let want: Vec<f64> = xv.iter().map(|&v| r(v)).collect();
            // log|x| is measured in absolute terms near x = ±1 where the result crosses 0 (its
            // absolute error is what ulps of the *input* produce: ≤ eps).
            let tol: Vec<f64> = want.iter().map(|w| ulps * e * w.abs().max(1.0) + tiny(dt)).collect();
            assert_close(name, &vals(&f(&x)), &want, &tol);
        }
    }

    #[test]
    fn matmul_2d_matches_triple_loop(m in 1usize..=6, k in 1usize..=6, n in 1usize..=6, dt in float_dtype(),
                                     seed in any::<u64>()) {
        let a = randn(&[m, k], dt, seed);
        let b = randn(&[k, n], dt, seed ^ 9);
        let got = a.matmul(&b).unwrap();
        prop_assert_eq!(got.shape(), &[m, n][..]);
        let (want, tol) = naive_matmul(&vals(&a), &vals(&b), 1, m, k, n, &[0], &[0], dt);
        assert_close("matmul", &vals(&got), &want, &tol);
    }

    #[test]
    fn batched_matmul_broadcasts_batch_dims(
        (ba, bb) in broadcast_shapes3().prop_filter("batch rank ≤ 2", |(a, b)| a.len() <= 2 && b.len() <= 2),
        m in 1usize..=4, k in 1usize..=4, n in 1usize..=4, dt in float_dtype(), seed in any::<u64>()
    ) {
        let sa: Vec<usize> = ba.iter().copied().chain([m, k]).collect();
        let sb: Vec<usize> = bb.iter().copied().chain([k, n]).collect();
        let a = randn(&sa, dt, seed);
        let b = randn(&sb, dt, seed ^ 5);
        let got = a.matmul(&b).unwrap();
        let batch = naive_broadcast(&ba, &bb);
        let want_shape: Vec<usize> = batch.iter().copied().chain([m, n]).collect();
        prop_assert_eq!(got.shape(), want_shape.as_slice());
        let nb: usize = batch.iter().product();
        let offs_a: Vec<usize> = (0..nb).map(|i| broadcast_source(&unravel(i, &batch), &ba) * m * k).collect();
        let offs_b: Vec<usize> = (0..nb).map(|i| broadcast_source(&unravel(i, &batch), &bb) * k * n).collect();
        let (want, tol) = naive_matmul(&vals(&a), &vals(&b), nb, m, k, n, &offs_a, &offs_b, dt);
        assert_close(&format!("matmul {sa:?} @ {sb:?}"), &vals(&got), &want, &tol);
    }

    #[test]
    fn softmax_and_log_softmax_along_each_dim(
        s in shape(1, 4), dt in float_dtype(), scale in prop_oneof![Just(1.0), Just(1000.0)], seed in any::<u64>()
    ) {
        // scale 1000 puts logits in the thousands: a naive exp overflows (f32 at 88.7, f64 at
        // 709), the stable form must not.
        let x = randn(&s, dt, seed).mul_scalar(scale).unwrap();
        let xv = vals(&x);
        let e = eps(dt);
        let r = s.len();
        for d in 0..r {
            let (want_sm, want_lsm, tol_sm, tol_lsm, n) = naive_softmax(&xv, &s, d, dt);
            for dim in [d as i64, d as i64 - r as i64] {
                let sm = x.softmax(dim).unwrap();
                let lsm = x.log_softmax(dim).unwrap();
                prop_assert_eq!(sm.shape(), s.as_slice());
                let smv = vals(&sm);
                prop_assert!(smv.iter().all(|v| v.is_finite() && *v >= 0.0 && *v <= 1.0), "softmax {:?}", smv);
                assert_close(&format!("softmax dim {dim} scale {scale}"), &smv, &want_sm, &tol_sm);
                assert_close(&format!("log_softmax dim {dim} scale {scale}"), &vals(&lsm), &want_lsm, &tol_lsm);
                // Rows sum to 1: each y_i has relative error ≤ (|x_i − m| + n + 6)·eps, and
                // Σ y_i·|x_i − m| ≤ n/e, so the sum is within (2n + 6)·eps of 1 (plus the n-term
                // f64 sum here, negligible).
                let sums = vals(&sm.sum([dim], false).unwrap());
                for s in sums {
                    prop_assert!((s - 1.0).abs() <= (2.0 * n as f64 + 6.0) * e * 2.0, "row sum {}", s);
                }
            }
        }
    }
}

/// `c = a @ b` for `nb` batches at the given element offsets, in f64, with each entry's error
/// bound: a k-term dot product computed in floating point is within γ_k·Σ|a||b| ≤ k·eps·Σ|a||b|
/// of the exact value (Higham, Accuracy and Stability, §3.1); the f64 reference adds its own
/// k·eps64·Σ|a||b|.
#[allow(clippy::too_many_arguments)]
fn naive_matmul(
    a: &[f64],
    b: &[f64],
    nb: usize,
    m: usize,
    k: usize,
    n: usize,
    offs_a: &[usize],
    offs_b: &[usize],
    dt: DType,
) -> (Vec<f64>, Vec<f64>) {
    let (mut c, mut tol) = (Vec::new(), Vec::new());
    for batch in 0..nb {
        for i in 0..m {
            for j in 0..n {
                let (mut acc, mut abs) = (0.0, 0.0);
                for p in 0..k {
                    let t = a[offs_a[batch] + i * k + p] * b[offs_b[batch] + p * n + j];
                    acc += t;
                    abs += t.abs();
                }
                c.push(acc);
                tol.push(k as f64 * (eps(dt) + f64::EPSILON) * abs);
            }
        }
    }
    (c, tol)
}

/// Softmax and log-softmax of `x` (shape `s`) along `d` in f64, computed stably, with per-element
/// tolerances for a result in `dt`:
/// - softmax `y_i = e^{x_i − m} / s`: rounding `x_i − m` (relative eps, i.e. absolute
///   eps·|x_i − m| in the exponent), exp (≤ 2 ulp), the n-term sum (≤ n·eps relative) and the
///   division (2 ops): relative (|x_i − m| + n + 6)·eps, doubled for the reference's own error;
///   plus the smallest normal for results that underflow.
/// - log-softmax `x_i − m − ln s`: absolute eps·(|x_i| + |m| + |ln s|) for the two subtractions
///   and ln, plus ln's propagation of the sum's relative error (n + 4)·eps; doubled likewise.
fn naive_softmax(x: &[f64], s: &[usize], d: usize, dt: DType) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, usize) {
    let e = eps(dt);
    let n = s[d];
    let stride = row_major_strides(s)[d];
    let (mut sm, mut lsm, mut tsm, mut tlsm) =
        (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; x.len()]);
    for j in 0..x.len() {
        let idx = unravel(j, s);
        if idx[d] != 0 {
            continue; // visit each row once, from its first element
        }
        let row: Vec<usize> = (0..n).map(|i| j + i * stride).collect();
        let m = row.iter().map(|&p| x[p]).fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|&p| (x[p] - m).exp()).sum();
        let ln_s = sum.ln();
        for &p in &row {
            let y = (x[p] - m).exp() / sum;
            sm[p] = y;
            tsm[p] = 2.0 * y * ((x[p] - m).abs() + n as f64 + 6.0) * e + tiny(dt);
            lsm[p] = x[p] - m - ln_s;
            tlsm[p] = 2.0 * e * (x[p].abs() + m.abs() + ln_s.abs() + n as f64 + 4.0);
        }
    }
    (sm, lsm, tsm, tlsm, n)
}

#[test]
fn softmax_of_a_scalar_is_one_and_rows_with_minus_inf_get_zero() {
    let s = Tensor::scalar(3.5f64).softmax(0).unwrap();
    assert_eq!(s.shape(), &[] as &[usize]);
    assert_eq!(s.item().unwrap(), 1.0);
    for dt in [DType::F32, DType::F64] {
        let x = Tensor::from_vec(vec![0.0, f64::NEG_INFINITY, 0.0, 1e30, -1e30, f64::NEG_INFINITY], &[2, 3])
            .unwrap()
            .to_dtype(dt)
            .unwrap();
        let y = vals(&x.softmax(1).unwrap());
        assert_eq!(y, vec![0.5, 0.0, 0.5, 1.0, 0.0, 0.0], "{dt}");
        let l = vals(&x.log_softmax(1).unwrap());
        // ln 2 rounded to the dtype: the stable form computes 0 − 0 − ln 2.
        let ln2 = round_to(std::f64::consts::LN_2, dt);
        assert!((l[0] + ln2).abs() <= eps(dt), "{dt}: {l:?}");
        assert_eq!(l[1], f64::NEG_INFINITY);
        assert_eq!(l[3], 0.0);
        assert_eq!(l[5], f64::NEG_INFINITY);
    }
}

#[test]
fn large_softmax_and_matmul_use_parallel_paths_correctly() {
    // 256 × 160 = 40960 elements, above the kernels' 32768-element threshold for threads.
    let (r, c) = (256, 160);
    for dt in [DType::F32, DType::F64] {
        let x = randn(&[r, c], dt, 42).mul_scalar(5.0).unwrap();
        let xv = vals(&x);
        for d in 0..2 {
            let (want, _, tol, _, _) = naive_softmax(&xv, &[r, c], d, dt);
            assert_close(&format!("large softmax dim {d} {dt}"), &vals(&x.softmax(d).unwrap()), &want, &tol);
        }
        let b = randn(&[c, 40], dt, 43);
        let (want, tol) = naive_matmul(&xv, &vals(&b), 1, r, c, 40, &[0], &[0], dt);
        assert_close(&format!("large matmul {dt}"), &vals(&x.matmul(&b).unwrap()), &want, &tol);
        // Transposed operand, read in place.
        let bt = randn(&[40, c], dt, 44);
        let (want, tol) = naive_matmul(&xv, &vals(&bt.t().unwrap()), 1, r, c, 40, &[0], &[0], dt);
        assert_close(&format!("large matmul with bᵀ {dt}"), &vals(&x.matmul(&bt.t().unwrap()).unwrap()), &want, &tol);
        // Large broadcasting add: exact.
        let row = randn(&[c], dt, 45);
        let got = vals(&x.add(&row).unwrap());
        let rv = vals(&row);
        let want: Vec<f64> = (0..r * c).map(|j| round_to(xv[j] + rv[j % c], dt)).collect();
        assert_exact(&format!("large add {dt}"), &got, &want);
    }
}

#[test]
fn matmul_with_zero_inner_dim_gives_zeros() {
    let a = Tensor::zeros(&[3, 0], DType::F32);
    let b = Tensor::zeros(&[0, 2], DType::F32);
    let c = a.matmul(&b).unwrap();
    assert_eq!(c.shape(), &[3, 2]);
    assert_eq!(c.to_vec::<f32>().unwrap(), vec![0.0; 6]);
}

/// `matmul_summed_to` is `matmul` followed by the sum over the leading batch dims (f64, so the
/// two orders of summation agree to a few ulps), and refuses a batch that is not a trailing part
/// of the product's.
#[test]
fn matmul_summed_to_is_the_summed_product() {
    let mut rng = Rng::new(3);
    let a = rng.uniform_tensor(&[1, 3, 4], -1.0, 1.0, DType::F64).unwrap();
    let b = rng.uniform_tensor(&[5, 2, 4, 6], -1.0, 1.0, DType::F64).unwrap();
    let summed = a.matmul_summed_to(&b, &[1, 2]).unwrap();
    assert_eq!(summed.shape(), &[1, 2, 3, 6]);
    let want = a.matmul(&b).unwrap().sum([0], true).unwrap();
    for (x, y) in summed.to_vec::<f64>().unwrap().iter().zip(want.to_vec::<f64>().unwrap()) {
        assert!((x - y).abs() <= 1e-13, "{x} vs {y}");
    }
    let all = a.matmul_summed_to(&b, &[]).unwrap();
    assert_eq!(all.shape(), &[3, 6]);
    let err = a.matmul_summed_to(&b, &[5, 1]).unwrap_err().to_string();
    assert!(err.contains("matmul_summed_to") && err.contains("trailing"), "{err}");
}
