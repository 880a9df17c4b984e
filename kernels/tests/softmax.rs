//! Property tests for `softmax_rows` (softmax and log-softmax) against the textbook formulas in
//! f64, including rows shifted to ±1000, where computing `exp(x)` directly would overflow (or
//! underflow to 0/0): only the max-subtracting kernel gets them right.

mod common;

use common::{close, gamma, unit_roundoff, Rng, U64};
use ferrograd_kernels::softmax::softmax_rows;
use ferrograd_kernels::Float;
use proptest::prelude::*;

/// `(rows, cols)`: small ones (cols around the kernel's 8 lanes), and large ones above
/// `PAR_MIN_ELEMS` that are split over threads (many rows, or one very long row).
fn dims() -> impl Strategy<Value = (usize, usize)> {
    prop_oneof![
        4 => (1..8usize, 1..70usize),
        1 => (300..400usize, 110..140usize),
        1 => (1..3usize, 33000..40000usize),
    ]
}

fn check<T: Float>((rows, cols): (usize, usize), seed: u64, spread: f64, log: bool) -> Result<(), TestCaseError> {
    let mut rng = Rng::new(seed);
    // Each row gets its own shift: 0, ±1000 (exp would overflow/underflow without the max
    // subtraction), or anything in between.
    let x: Vec<T> = (0..rows)
        .flat_map(|_| {
            let shift = match rng.below(4) {
                0 => 0.0,
                1 => 1000.0,
                2 => -1000.0,
                _ => rng.uniform(-50.0, 50.0),
            };
            (0..cols).map(|_| T::from_f64(shift + rng.uniform(-spread, spread))).collect::<Vec<_>>()
        })
        .collect();
    let mut out = vec![T::from_f64(f64::NAN); x.len()];
    softmax_rows(&x, cols, log, &mut out);
    let u = unit_roundoff::<T>();
    for r in 0..rows {
        let xr: Vec<f64> = x[r * cols..][..cols].iter().map(|v| v.to_f64()).collect();
        let m = xr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = xr.iter().map(|&v| (v - m).exp()).sum();
        // D = max |x_j − m|: an exponent's argument is rounded with error ≤ u·|x_j − m|, which
        // becomes a relative error of the same size in exp(x_j − m).
        let d = xr.iter().map(|&v| (m - v).abs()).fold(0.0, f64::max);
        for (c, &xv) in xr.iter().enumerate() {
            let got = out[r * cols + c].to_f64();
            let (want, tol) = if log {
                let want = xv - m - s.ln();
                // The sum s is off by at most (5 + D + cols)·u relatively (exp within 5u, the
                // argument's rounding, `cols` additions of positive terms); ln turns that into
                // an absolute error, plus ln's own 2 ulp. Then `m + ln s` and `x − shift` each
                // round once, absolutely u·|m + ln s| and u·|y|: with m ≈ 1000 in f32 that is
                // ~6e-5, the spacing of f32 numbers near 1000, and unavoidable.
                let shift = m + s.ln();
                let e = (gamma(8 + cols, u) + d * u) + 4.0 * u * s.ln().abs() + u * (shift.abs() + want.abs());
                (want, e + gamma(cols + 8, U64) * (1.0 + shift.abs() + want.abs() + d))
            } else {
                let want = (xv - m).exp() / s;
                // e_i within (5 + D)·u, s within (5 + D + cols)·u, then 1/s and e_i·(1/s): two
                // more roundings, all relative.
                let rel = gamma(12 + cols, u) + 2.0 * d * u;
                (want, (rel + gamma(cols + 8, U64) + 2.0 * d * U64) * want)
            };
            prop_assert!(
                close(got, want, tol),
                "{}: {} of row {r} (of [{rows}, {cols}]), col {c}: x = {xv}, got {got:e}, want {want:e} (tol {tol:e})",
                T::NAME,
                if log { "log_softmax" } else { "softmax" },
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn softmax_rows_matches_stable_reference(
        dims in dims(),
        seed in any::<u64>(),
        spread in prop_oneof![Just(3.0f64), Just(20.0f64)],
        log in any::<bool>(),
    ) {
        check::<f32>(dims, seed, spread, log)?;
        check::<f64>(dims, seed, spread, log)?;
    }
}

/// −∞ entries (masked positions) get probability 0 (log-probability −∞) and do not disturb the
/// rest; a row of only −∞ has no mass anywhere and gives NaN, as PyTorch does.
#[test]
fn softmax_rows_handles_masked_entries() {
    let ninf = f32::NEG_INFINITY;
    let x = [0.0f32, ninf, 0.0, ninf, ninf, ninf, ninf, ninf];
    let mut out = [0.0f32; 8];
    softmax_rows(&x, 4, false, &mut out);
    assert_eq!(&out[..4], &[0.5, 0.0, 0.5, 0.0]);
    assert!(out[4..].iter().all(|v| v.is_nan()), "{out:?}");
    softmax_rows(&x, 4, true, &mut out);
    assert_eq!(out[1], ninf);
    assert!((out[0] - -std::f32::consts::LN_2).abs() <= f32::EPSILON, "{out:?}");
    assert!(out[4..].iter().all(|v| v.is_nan()), "{out:?}");
}

/// A one-column row is certain: exactly 1 (log: exactly 0), whatever its value.
#[test]
fn softmax_rows_of_one_column_are_exactly_one() {
    let x = [1000.0f64, -1000.0, 3.5];
    let mut out = [f64::NAN; 3];
    softmax_rows(&x, 1, false, &mut out);
    assert_eq!(out, [1.0; 3]);
    softmax_rows(&x, 1, true, &mut out);
    assert_eq!(out, [0.0; 3]);
}
