//! Property tests for `reduce` (sum, max, min) and `arg_reduce` (argmax, argmin) over a dense
//! `[outer, len, inner]` buffer, against plain loops over the reduced axis. The sizes reach every
//! loop shape of the kernel: `inner == 1` rows (serial and in parallel blocks of rows) and
//! `inner > 1` slabs (serial, split by columns when there is one large slab, and in parallel
//! slabs).

mod common;

use common::{gamma, unit_roundoff, Rng, U64};
use ferrograd_kernels::reduce::{arg_reduce, reduce, ArgReduceOp, ReduceOp};
use ferrograd_kernels::Float;
use proptest::prelude::*;

/// `(outer, len, inner)` covering each loop shape; the large ones have more than
/// `PAR_MIN_ELEMS` (32768) elements.
fn dims() -> impl Strategy<Value = (usize, usize, usize)> {
    prop_oneof![
        // Small, inner == 1 and inner > 1 (including len 1 and lengths around the 16 lanes).
        3 => (1..6usize, 1..40usize, Just(1usize)),
        3 => (1..6usize, 1..40usize, 2..20usize),
        // Large, inner == 1: a few long rows, and many short rows split into blocks.
        1 => (1..3usize, 32768..50000usize, Just(1usize)),
        1 => (330..600usize, 100..130usize, Just(1usize)),
        // Large, inner > 1: one slab wide enough to split by columns (inner ≥ 256) or not, and
        // several slabs in parallel.
        1 => (Just(1usize), 130..160usize, 256..400usize),
        1 => (Just(1usize), 330..400usize, 100..200usize),
        1 => (3..6usize, 100..130usize, 110..150usize),
    ]
}

/// Folds `x[o, :, i]` in order with the naive definition. Max/min propagate NaN, as documented.
fn reference(op: ReduceOp, x: &[f64], (outer, len, inner): (usize, usize, usize)) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let col = (0..len).map(|j| x[(o * len + j) * inner + i]);
            // (value, Σ|x|) — the second is the scale of a sum's rounding error.
            let r = match op {
                ReduceOp::Sum => col.fold((0.0, 0.0), |(s, a), v| (s + v, a + v.abs())),
                ReduceOp::Max => (
                    col.fold(f64::NEG_INFINITY, |m, v| if m.is_nan() || v.is_nan() { f64::NAN } else { m.max(v) }),
                    0.0,
                ),
                ReduceOp::Min => {
                    (col.fold(f64::INFINITY, |m, v| if m.is_nan() || v.is_nan() { f64::NAN } else { m.min(v) }), 0.0)
                }
            };
            out.push(r);
        }
    }
    out
}

fn check_reduce<T: Float>(dims: (usize, usize, usize), seed: u64, nan_at: Option<usize>) -> Result<(), TestCaseError> {
    let (outer, len, inner) = dims;
    let mut x: Vec<T> = common::uniform(seed, outer * len * inner, -3.0, 3.0);
    if let Some(p) = nan_at {
        let p = p % x.len();
        x[p] = T::from_f64(f64::NAN);
    }
    let xf = common::to_f64(&x);
    for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
        let mut out = vec![T::from_f64(12345.0); outer * inner];
        reduce(op, &x, outer, len, inner, &mut out);
        for (k, (&got, (want, abs))) in out.iter().zip(reference(op, &xf, dims)).enumerate() {
            let got = got.to_f64();
            // A sum of `len` terms in any order (the kernel uses 16 lanes and a pairwise
            // combine) is within γ_(len−1)·Σ|x| of the exact sum; the f64 reference adds its
            // own γ_len at f64 precision. Max and min select a value: exact.
            let tol = match op {
                ReduceOp::Sum => (gamma(len, unit_roundoff::<T>()) + gamma(len, U64)) * abs,
                ReduceOp::Max | ReduceOp::Min => 0.0,
            };
            prop_assert!(
                common::close(got, want, tol),
                "{}: {op:?} over [{outer}, {len}, {inner}], out[{k}] = {got}, want {want} (tol {tol:e})",
                T::NAME
            );
        }
    }
    Ok(())
}

/// The naive argmax/argmin: a NaN wins (the first one); otherwise the first index holding the
/// extreme value. Written as "find the extreme, then find where it first occurs", which is a
/// different route from the kernel's single running comparison.
fn arg_reference(op: ArgReduceOp, col: &[f64]) -> i64 {
    if let Some(j) = col.iter().position(|v| v.is_nan()) {
        return j as i64;
    }
    let extreme = match op {
        ArgReduceOp::ArgMax => col.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        ArgReduceOp::ArgMin => col.iter().cloned().fold(f64::INFINITY, f64::min),
    };
    col.iter().position(|&v| v == extreme).expect("non-empty column") as i64
}

fn check_arg_reduce<T: Float>(
    dims: (usize, usize, usize),
    seed: u64,
    ties: bool,
    nans: usize,
) -> Result<(), TestCaseError> {
    let (outer, len, inner) = dims;
    let n = outer * len * inner;
    // Few distinct values make ties (first index must win) the common case.
    let mut x: Vec<T> = if ties { common::quantized(seed, n) } else { common::uniform(seed, n, -3.0, 3.0) };
    let mut rng = Rng::new(!seed);
    for _ in 0..nans {
        let p = rng.below(n);
        x[p] = T::from_f64(f64::NAN);
    }
    let xf = common::to_f64(&x);
    for op in [ArgReduceOp::ArgMax, ArgReduceOp::ArgMin] {
        let mut out = vec![-1i64; outer * inner];
        arg_reduce(op, &x, outer, len, inner, &mut out);
        for o in 0..outer {
            for i in 0..inner {
                let col: Vec<f64> = (0..len).map(|j| xf[(o * len + j) * inner + i]).collect();
                let want = arg_reference(op, &col);
                let got = out[o * inner + i];
                prop_assert_eq!(
                    got,
                    want,
                    "{}: {:?} over [{}, {}, {}] at ({}, {}): {:?}",
                    T::NAME,
                    op,
                    outer,
                    len,
                    inner,
                    o,
                    i,
                    col
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn reduce_matches_naive_fold(dims in dims(), seed in any::<u64>(), nan_at in prop::option::weighted(0.15, any::<usize>())) {
        check_reduce::<f32>(dims, seed, nan_at)?;
        check_reduce::<f64>(dims, seed, nan_at)?;
    }

    /// Includes outputs of more than `PAR_MIN_ELEMS` elements (rows split over threads).
    #[test]
    fn arg_reduce_matches_naive_first_extreme_index(
        dims in prop_oneof![4 => dims(), 1 => (220..300usize, 1..4usize, 160..200usize)],
        seed in any::<u64>(),
        ties in any::<bool>(),
        nans in prop_oneof![3 => Just(0usize), 1 => 1..4usize],
    ) {
        check_arg_reduce::<f32>(dims, seed, ties, nans)?;
        check_arg_reduce::<f64>(dims, seed, ties, nans)?;
    }
}

/// An empty reduced axis gives each op's identity: 0, −∞, +∞.
#[test]
fn reduce_over_an_empty_axis_gives_the_identity() {
    for (op, want) in [(ReduceOp::Sum, 0.0), (ReduceOp::Max, f32::NEG_INFINITY), (ReduceOp::Min, f32::INFINITY)] {
        let mut out = [7.0f32; 6];
        reduce(op, &[], 2, 0, 3, &mut out);
        assert!(out.iter().all(|&v| v == want), "{op:?}: {out:?}");
    }
}

/// The reduced axis must not be empty for an index to exist.
#[test]
#[should_panic(expected = "empty axis")]
fn arg_reduce_rejects_an_empty_axis() {
    let mut out = [0i64; 2];
    arg_reduce(ArgReduceOp::ArgMax, &[] as &[f64], 2, 0, 1, &mut out);
}
