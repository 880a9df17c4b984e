//! CPU layer normalisation, fused: each row of `n` values (the normalised dims, flattened) is
//! standardised on its own, then scaled and shifted per column. With the row's mean `μ`,
//! population variance `σ²` and `r = 1/√(σ² + ε)`:
//! ```text
//! forward    x̂ = (x − μ)·r,   y = γ ⊙ x̂ + β
//! backward   ĝ = γ ⊙ g,   ∂x = r·(ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂)),   ∂γ = Σ_rows g ⊙ x̂,   ∂β = Σ_rows g
//! ```
//! It is batch norm's rule (see `cpu.rs`) with rows and columns exchanged: statistics per row,
//! affine parameters per column. `∂x` has three terms because `x` reaches `x̂` three ways:
//! directly, through `μ` and through `σ²`.
//!
//! Forward is one pass per row (the row stays in L1 between its mean, its variance and its
//! output); backward is one pass per row for `∂x` and one reduction over rows for `∂γ`, `∂β`.
//! Rows split over threads.

use crate::parallel::{chunk_len, sum_into, PAR_MIN_ELEMS};
use crate::simd::{fold_lanes, row_sum, row_sum3, vectorized};
use crate::{Float, Slot};
use rayon::prelude::*;

/// Rows per parallel task for rows of `n` values (at least one).
fn rows_per_task(rows: usize, n: usize) -> usize {
    (chunk_len(rows * n) / n.max(1)).max(1)
}

/// Layer norm of each `n`-long row of `x` (`rows·n` values): `y = γ ⊙ (x − μ)·r + β`, with the
/// row's mean and `r = 1/√(σ² + eps)` written to `mean` and `rstd` (one per row). `gamma` and
/// `beta` have `n` values. Every element of `y` is written.
pub fn layer_norm_forward<T: Float, O: Slot<T>>(
    x: &[T],
    n: usize,
    [gamma, beta]: [&[T]; 2],
    eps: f64,
    y: &mut [O],
    mean: &mut [T],
    rstd: &mut [T],
) {
    assert!(n > 0 && x.len().is_multiple_of(n), "layer_norm: {} values are not rows of {n}", x.len());
    let rows = x.len() / n;
    assert!(y.len() == x.len() && mean.len() == rows && rstd.len() == rows, "layer_norm: output lengths");
    assert!(gamma.len() == n && beta.len() == n, "layer_norm: weight and bias need {n} values");
    let inv_n = T::from_f64(1.0 / n as f64);
    let eps = T::from_f64(eps);
    let block = |row0: usize, y: &mut [O], mean: &mut [T], rstd: &mut [T]| {
        vectorized(
            #[inline(always)]
            || {
                for (r, out) in y.chunks_exact_mut(n).enumerate() {
                    let x = &x[(row0 + r) * n..][..n];
                    // Two passes over the row (mean, then the variance about it), so that a
                    // large mean does not cancel the variance's digits as `E[x²] − μ²` would.
                    let mu = fold_lanes(x, T::ZERO, |a, b| a + b, |v| v) * inv_n;
                    let var = fold_lanes(x, T::ZERO, |a, b| a + b, |v| (v - mu) * (v - mu)) * inv_n;
                    let rs = T::ONE / (var + eps).sqrt();
                    for (((o, &v), &g), &b) in out.iter_mut().zip(x).zip(gamma).zip(beta) {
                        o.set(g * ((v - mu) * rs) + b);
                    }
                    mean[r] = mu;
                    rstd[r] = rs;
                }
            },
        )
    };
    if x.len() < PAR_MIN_ELEMS {
        block(0, y, mean, rstd);
    } else {
        let per = rows_per_task(rows, n);
        y.par_chunks_mut(per * n)
            .zip(mean.par_chunks_mut(per))
            .zip(rstd.par_chunks_mut(per))
            .enumerate()
            .for_each(|(i, ((y, m), s))| block(i * per, y, m, s));
    }
}

/// The gradients of [`layer_norm_forward`] given `g = ∂L/∂y` and the saved `mean` and `rstd`:
/// `∂x = r·(ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂))` with `ĝ = γ ⊙ g` into `gx` (every element written),
/// and `∂γ = Σ_rows g ⊙ x̂`, `∂β = Σ_rows g` into `ggamma`, `gbeta` (`n` values each, summed
/// in f64).
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward<T: Float, O: Slot<T>>(
    x: &[T],
    g: &[T],
    n: usize,
    [gamma, mean, rstd]: [&[T]; 3],
    gx: &mut [O],
    ggamma: &mut [T],
    gbeta: &mut [T],
) {
    assert!(n > 0 && x.len().is_multiple_of(n), "layer_norm backward: {} values are not rows of {n}", x.len());
    let rows = x.len() / n;
    assert!(g.len() == x.len() && gx.len() == x.len(), "layer_norm backward: data lengths");
    assert!(mean.len() == rows && rstd.len() == rows, "layer_norm backward: statistics lengths");
    assert!(gamma.len() == n && ggamma.len() == n && gbeta.len() == n, "layer_norm backward: parameter lengths");
    let inv_n = T::from_f64(1.0 / n as f64);
    // Pass 1, per row: ∂x.
    let input_grad = |row0: usize, gx: &mut [O]| {
        vectorized(
            #[inline(always)]
            || {
                for (r, out) in gx.chunks_exact_mut(n).enumerate() {
                    let row = row0 + r;
                    let (x, g) = (&x[row * n..][..n], &g[row * n..][..n]);
                    let (mu, rs) = (mean[row], rstd[row]);
                    let mean_g = row_sum(g, gamma, |g, w| g * w) * inv_n;
                    let mean_gx = row_sum3(g, gamma, x, |g, w, v| g * w * ((v - mu) * rs)) * inv_n;
                    for (((o, &gv), &w), &v) in out.iter_mut().zip(g).zip(gamma).zip(x) {
                        o.set(rs * (gv * w - mean_g - (v - mu) * rs * mean_gx));
                    }
                }
            },
        )
    };
    // Pass 2, over rows: ∂γ and ∂β, accumulated per thread in f64 as [∂γ | ∂β].
    let per = rows_per_task(rows, n);
    let mut sums = vec![0.0f64; 2 * n];
    sum_into(rows.div_ceil(per), x.len() >= PAR_MIN_ELEMS, &mut sums, |task, acc, _: &mut ()| {
        let (acc_gamma, acc_beta) = acc.split_at_mut(n);
        vectorized(
            #[inline(always)]
            || {
                for row in task * per..((task + 1) * per).min(rows) {
                    let (x, g) = (&x[row * n..][..n], &g[row * n..][..n]);
                    let (mu, rs) = (mean[row], rstd[row]);
                    for (((ag, ab), &gv), &v) in acc_gamma.iter_mut().zip(acc_beta.iter_mut()).zip(g).zip(x) {
                        *ag += (gv * ((v - mu) * rs)).to_f64();
                        *ab += gv.to_f64();
                    }
                }
            },
        )
    });
    if x.len() < PAR_MIN_ELEMS {
        input_grad(0, gx);
    } else {
        gx.par_chunks_mut(per * n).enumerate().for_each(|(i, gx)| input_grad(i * per, gx));
    }
    for j in 0..n {
        ggamma[j] = T::from_f64(sums[j]);
        gbeta[j] = T::from_f64(sums[n + j]);
    }
}
