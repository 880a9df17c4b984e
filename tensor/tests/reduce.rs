//! Reductions over every subset of dims, with and without `keepdim`, against naive references.

mod common;

use common::*;
use ferrograd_tensor::{DType, Tensor};
use proptest::prelude::*;

/// The shape of a reduction over `dims` (sorted), with reduced dims kept as 1 or removed.
fn reduced_shape(s: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    (0..s.len())
        .filter_map(|d| {
            if !dims.contains(&d) {
                Some(s[d])
            } else if keepdim {
                Some(1)
            } else {
                None
            }
        })
        .collect()
}

/// Groups the elements of `x` (shape `s`) by their output position when `dims` are reduced.
/// The output order is row-major over the kept dims (the same with and without keepdim).
fn groups(x: &[f64], s: &[usize], dims: &[usize]) -> Vec<Vec<f64>> {
    let kept = reduced_shape(s, dims, true);
    let mut out = vec![Vec::new(); kept.iter().product()];
    for (j, &v) in x.iter().enumerate() {
        let mut idx = unravel(j, s);
        for &d in dims {
            idx[d] = 0;
        }
        out[ravel(&idx, &kept)].push(v);
    }
    out
}

/// Stable log Σ exp in f64: `m + ln Σ exp(x − m)`, with −∞ for an all −∞ group.
fn lse(g: &[f64]) -> f64 {
    let m = g.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    if m == f64::INFINITY {
        return m;
    }
    m + g.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sum_mean_max_min_over_every_subset_of_dims(s in shape(0, 4), dt in float_dtype(), seed in any::<u64>()) {
        let x = randn(&s, dt, seed);
        let xv = vals(&x);
        let e = eps(dt);
        for dims in subsets(s.len()) {
            let g = groups(&xv, &s, &dims);
            for keepdim in [false, true] {
                let shape = reduced_shape(&s, &dims, keepdim);
                let ctx = format!("{s:?} dims {dims:?} keepdim {keepdim} {dt}");
                let sum = x.sum(&dims, keepdim).unwrap();
                let mean = x.mean(&dims, keepdim).unwrap();
                let max = x.max(&dims, keepdim).unwrap();
                let min = x.min(&dims, keepdim).unwrap();
                for t in [&sum, &mean, &max, &min] {
                    prop_assert_eq!(t.shape(), shape.as_slice(), "{}", ctx);
                    prop_assert_eq!(t.dtype(), dt);
                }
                // Recursive summation of n terms (any order) is within γ_{n−1}·Σ|x| ≤ n·eps·Σ|x| of
                // the exact sum (Higham §4.2); the f64 reference adds n·eps64·Σ|x|. The mean adds
                // the rounding of 1/n and of the product: two more eps relative.
                let want_sum: Vec<f64> = g.iter().map(|g| g.iter().sum()).collect();
                let tol: Vec<f64> = g
                    .iter()
                    .map(|g| (g.len() as f64 * (e + f64::EPSILON)) * g.iter().map(|v| v.abs()).sum::<f64>())
                    .collect();
                assert_close(&format!("sum {ctx}"), &vals(&sum), &want_sum, &tol);
                let want_mean: Vec<f64> = g.iter().map(|g| g.iter().sum::<f64>() / g.len() as f64).collect();
                let tol_mean: Vec<f64> = g
                    .iter()
                    .zip(&tol)
                    .zip(&want_mean)
                    .map(|((g, t), m)| t / g.len() as f64 + 2.0 * e * m.abs())
                    .collect();
                assert_close(&format!("mean {ctx}"), &vals(&mean), &want_mean, &tol_mean);
                // Max and min pick one of the inputs: exact.
                let want_max: Vec<f64> = g.iter().map(|g| g.iter().copied().fold(f64::NEG_INFINITY, f64::max)).collect();
                let want_min: Vec<f64> = g.iter().map(|g| g.iter().copied().fold(f64::INFINITY, f64::min)).collect();
                assert_exact(&format!("max {ctx}"), &vals(&max), &want_max);
                assert_exact(&format!("min {ctx}"), &vals(&min), &want_min);
            }
        }
        // The whole-tensor forms are 0-dimensional.
        let all = x.sum_all().unwrap();
        prop_assert_eq!(all.shape(), &[] as &[usize]);
        prop_assert_eq!(vals(&all), vals(&x.sum((0..s.len()).collect::<Vec<_>>(), false).unwrap()));
        prop_assert_eq!(x.mean_all().unwrap().shape().to_vec(), Vec::<usize>::new());
    }

    #[test]
    fn var_with_correction_0_and_1(s in shape(1, 4), dt in float_dtype(), seed in any::<u64>()) {
        let x = randn(&s, dt, seed);
        let xv = vals(&x);
        let e = eps(dt);
        for dims in subsets(s.len()) {
            let g = groups(&xv, &s, &dims);
            let n = g[0].len();
            for correction in [0usize, 1] {
                for keepdim in [false, true] {
                    let ctx = format!("var {s:?} dims {dims:?} correction {correction} keepdim {keepdim} {dt}");
                    let r = x.var(&dims, correction, keepdim);
                    if n <= correction {
                        prop_assert!(r.is_err(), "{}: {} elements with correction {} must be an error", ctx, n, correction);
                        continue;
                    }
                    let got = r.unwrap();
                    prop_assert_eq!(got.shape().to_vec(), reduced_shape(&s, &dims, keepdim));
                    let (mut want, mut tol) = (Vec::new(), Vec::new());
                    for g in &g {
                        let nf = g.len() as f64;
                        let mu = g.iter().sum::<f64>() / nf;
                        let ss: f64 = g.iter().map(|v| (v - mu) * (v - mu)).sum();
                        want.push(ss / (nf - correction as f64));
                        // Two-pass variance: the computed mean is off by δ ≤ (n + 2)·eps·Σ|x|/n;
                        // Σ(x − μ − δ)² = Σ(x − μ)² + n·δ² exactly (the cross term vanishes); the
                        // subtraction, square and n-term sum add (n + 3)·eps relative, the final
                        // scaling 2·eps. Doubled for the f64 reference's own error.
                        let delta = (nf + 2.0) * e * g.iter().map(|v| v.abs()).sum::<f64>() / nf;
                        tol.push(2.0 * ((nf + 5.0) * e * (ss + nf * delta * delta) + nf * delta * delta)
                            / (nf - correction as f64));
                    }
                    assert_close(&ctx, &vals(&got), &want, &tol);
                }
            }
        }
    }

    #[test]
    fn logsumexp_over_every_subset_incl_minus_inf_and_huge_values(
        s in shape(1, 3), dt in float_dtype(), seed in any::<u64>(),
        special in prop::collection::vec(prop_oneof![Just(None), Just(Some(f64::NEG_INFINITY)), Just(Some(1e30)),
            Just(Some(-1e30))], 64)
    ) {
        // Normal values with some entries replaced by −∞ or ±1e30 (exp(1e30) overflows in any
        // float type; the stable form must still be exact-ish).
        let base = vals(&randn(&s, dt, seed));
        let xv: Vec<f64> = base.iter().zip(&special).map(|(&v, sp)| sp.unwrap_or(v)).collect();
        let x = Tensor::from_vec(xv.clone(), &s).unwrap().to_dtype(dt).unwrap();
        let e = eps(dt);
        for dims in subsets(s.len()) {
            let g = groups(&xv, &s, &dims);
            for keepdim in [false, true] {
                let ctx = format!("logsumexp {s:?} dims {dims:?} keepdim {keepdim} {dt} x={xv:?}");
                let got = x.logsumexp(&dims, keepdim).unwrap();
                prop_assert_eq!(got.shape().to_vec(), reduced_shape(&s, &dims, keepdim), "{}", ctx);
                let want: Vec<f64> = g.iter().map(|g| lse(g)).collect();
                // y = m + ln Σ e^{x−m}: each exponent x − m is rounded (absolute eps·|x − m| in
                // the exponent) and exp adds ≤ 2 ulp, the n-term sum n·eps relative, so ln Σ is
                // within (max|x − m| + n + 3)·eps absolute (terms with x − m < −1/eps vanish
                // either way and are excluded from max|x − m|); ln itself and the final add
                // contribute eps·|y| + eps·|m|. Doubled for the reference.
                let tol: Vec<f64> = g.iter().zip(&want).map(|(g, &y)| {
                    let m = g.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let spread = g.iter().map(|v| (v - m).abs()).filter(|d| *d * e < 1.0).fold(0.0, f64::max);
                    2.0 * e * (spread + g.len() as f64 + 3.0 + y.abs() + m.abs())
                }).collect();
                assert_close(&ctx, &vals(&got), &want, &tol);
            }
        }
    }

    #[test]
    fn argmax_argmin_pick_the_first_of_ties(s in shape(1, 4), dt in float_dtype(), seed in any::<u64>()) {
        // Values in {1, 2, 3}: most rows contain ties for the max and the min.
        let x = small_ints(&s, 3, dt, seed);
        let xv = vals(&x);
        let r = s.len();
        for d in 0..r {
            let stride = row_major_strides(&s)[d];
            let out_shape = reduced_shape(&s, &[d], true);
            let mut want_max = vec![0i64; out_shape.iter().product()];
            let mut want_min = want_max.clone();
            for (j, _) in xv.iter().enumerate() {
                let mut idx = unravel(j, &s);
                if idx[d] != 0 {
                    continue;
                }
                let row: Vec<f64> = (0..s[d]).map(|i| xv[j + i * stride]).collect();
                let mx = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mn = row.iter().copied().fold(f64::INFINITY, f64::min);
                idx[d] = 0;
                let o = ravel(&idx, &out_shape);
                want_max[o] = row.iter().position(|&v| v == mx).unwrap() as i64;
                want_min[o] = row.iter().position(|&v| v == mn).unwrap() as i64;
            }
            for dim in [d as i64, d as i64 - r as i64] {
                for keepdim in [false, true] {
                    let amax = x.argmax(dim, keepdim).unwrap();
                    let amin = x.argmin(dim, keepdim).unwrap();
                    prop_assert_eq!(amax.dtype(), DType::I64);
                    prop_assert_eq!(amax.shape().to_vec(), reduced_shape(&s, &[d], keepdim));
                    prop_assert_eq!(amax.to_vec::<i64>().unwrap(), want_max.clone(), "argmax dim {} of {:?}", dim, xv);
                    prop_assert_eq!(amin.to_vec::<i64>().unwrap(), want_min.clone(), "argmin dim {} of {:?}", dim, xv);
                }
            }
        }
    }
}

#[test]
fn empty_dim_set_reduces_nothing() {
    let x = randn(&[2, 3], DType::F64, 1);
    for t in [
        x.sum(Vec::<usize>::new(), false).unwrap(),
        x.mean(Vec::<usize>::new(), true).unwrap(),
        x.max(Vec::<usize>::new(), false).unwrap(),
        x.logsumexp(Vec::<usize>::new(), false).unwrap(),
    ] {
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(vals(&t), vals(&x));
    }
    // The population variance of one element is 0.
    assert_eq!(vals(&x.var(Vec::<usize>::new(), 0, false).unwrap()), vec![0.0; 6]);
}

#[test]
fn logsumexp_edge_cases() {
    for dt in [DType::F32, DType::F64] {
        let inf = f64::INFINITY;
        let x = Tensor::from_vec(vec![-inf, -inf, -inf, 0.0, -inf, 0.0, 1e30, 1e30, -1e30, inf, 1.0, 2.0], &[4, 3])
            .unwrap()
            .to_dtype(dt)
            .unwrap();
        let got = vals(&x.logsumexp([1], false).unwrap());
        // An all −∞ row: −∞ (not NaN). ln(e^0 + e^0) = ln 2. 1e30 + ln 2 rounds to 1e30 in the
        // dtype. A +∞ entry gives +∞.
        assert_eq!(got[0], f64::NEG_INFINITY, "{dt}: {got:?}");
        assert!((got[1] - std::f64::consts::LN_2).abs() <= 4.0 * eps(dt), "{dt}: {got:?}");
        assert_eq!(got[2], round_to(1e30, dt), "{dt}: {got:?}");
        assert_eq!(got[3], inf, "{dt}: {got:?}");
    }
}

#[test]
fn large_reductions_use_parallel_paths_correctly() {
    // 400 × 150 = 60000 elements (> 32768, the kernels' threshold for threads), reduced along
    // rows (inner = 1), along columns (inner > 1) and fully.
    let s = [400usize, 150];
    for dt in [DType::F32, DType::F64] {
        let x = randn(&s, dt, 11);
        let xv = vals(&x);
        let e = eps(dt);
        for dims in [vec![0], vec![1], vec![0, 1]] {
            let g = groups(&xv, &s, &dims);
            let want: Vec<f64> = g.iter().map(|g| g.iter().sum()).collect();
            // As above: n·(eps + eps64)·Σ|x|.
            let tol: Vec<f64> = g
                .iter()
                .map(|g| g.len() as f64 * (e + f64::EPSILON) * g.iter().map(|v| v.abs()).sum::<f64>())
                .collect();
            assert_close(&format!("large sum {dims:?} {dt}"), &vals(&x.sum(&dims, false).unwrap()), &want, &tol);
            let want_max: Vec<f64> = g.iter().map(|g| g.iter().copied().fold(f64::NEG_INFINITY, f64::max)).collect();
            assert_exact(&format!("large max {dims:?} {dt}"), &vals(&x.max(&dims, false).unwrap()), &want_max);
        }
        let am = x.argmax(0, false).unwrap().to_vec::<i64>().unwrap();
        for (c, &a) in am.iter().enumerate() {
            let col: Vec<f64> = (0..s[0]).map(|r| xv[r * s[1] + c]).collect();
            let m = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(col[a as usize], m, "argmax column {c}");
        }
    }
}

#[test]
fn reductions_of_non_adjacent_dims_on_transposed_input() {
    // dims {0, 2} of a permuted view: needs the permute-and-copy path.
    let base = randn(&[3, 4, 2], DType::F64, 5);
    let x = base.permute(&[2, 0, 1]).unwrap(); // shape [2, 3, 4]
    let xc = x.contiguous().unwrap();
    let xv = vals(&xc);
    let g = groups(&xv, &[2, 3, 4], &[0, 2]);
    let want: Vec<f64> = g.iter().map(|g| g.iter().sum()).collect();
    let tol: Vec<f64> = g.iter().map(|g| 16.0 * f64::EPSILON * g.iter().map(|v| v.abs()).sum::<f64>()).collect();
    assert_close("sum {0,2} of permuted", &vals(&x.sum([0, 2], true).unwrap()), &want, &tol);
    assert_eq!(x.sum([0, 2], true).unwrap().shape(), &[1, 3, 1]);
    assert_eq!(x.sum([-1i64, 0], false).unwrap().shape(), &[3]);
}

#[test]
fn nan_propagates_through_max_min_and_wins_argmax() {
    // As in PyTorch: max/min of a slice containing NaN is NaN, and argmax/argmin point at the
    // (first) NaN.
    for dt in [DType::F32, DType::F64] {
        let x = Tensor::from_vec(vec![1.0, f64::NAN, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap().to_dtype(dt).unwrap();
        for (name, got) in [("max", x.max([1], false).unwrap()), ("min", x.min([1], false).unwrap())] {
            let v = vals(&got);
            assert!(v[0].is_nan(), "{name} {dt}: {v:?}");
        }
        assert_eq!(vals(&x.max([1], false).unwrap())[1], 6.0);
        assert_eq!(x.argmax(1, false).unwrap().to_vec::<i64>().unwrap(), vec![1, 2], "{dt}");
        assert_eq!(x.argmin(1, false).unwrap().to_vec::<i64>().unwrap(), vec![1, 0], "{dt}");
        // Along dim 0 (the strided, inner > 1 path) too.
        let v = vals(&x.max([0], false).unwrap());
        assert!(v[1].is_nan() && v[0] == 4.0 && v[2] == 6.0, "{dt}: {v:?}");
        assert_eq!(x.argmax(0, false).unwrap().to_vec::<i64>().unwrap(), vec![1, 0, 1], "{dt}");
    }
}
