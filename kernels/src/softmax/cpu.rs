//! CPU softmax: fused and numerically stable.
//!
//! For each row: `m = max(x)`, then `s = Σ exp(x_i − m)`, then `y_i = exp(x_i − m) / s`
//! (softmax) or `y_i = x_i − m − ln s` (log-softmax). Subtracting the max keeps every exponent
//! ≤ 0, so nothing overflows, and the largest term is exactly 1, so `s ≥ 1` and `ln s` is safe.
//!
//! The input row is read three times but stays in L1/L2 between passes, and the output is only
//! written, once: softmax recomputes `exp` in the last pass rather than storing it in pass 2 and
//! reading it back. With the vectorised `exp` of [`crate::float`] that is cheaper than the extra
//! read-modify-write of the output, and it lets the output buffer start uninitialised (see
//! [`crate::Slot`]). Rows are split over threads in blocks.

use crate::parallel::row_blocks;
use crate::simd::{fold_lanes, vectorized};
use crate::{Float, Slot};

/// Softmax (or log-softmax when `log`) of each `cols`-long row of `x` into `out`. Writes every
/// element of `out`.
pub fn softmax_rows<T: Float, O: Slot<T>>(x: &[T], cols: usize, log: bool, out: &mut [O]) {
    assert_eq!(x.len(), out.len(), "softmax: length mismatch");
    if x.is_empty() {
        return;
    }
    assert!(cols > 0, "softmax: rows of length 0 cannot hold {} elements", x.len());
    assert_eq!(x.len() % cols, 0, "softmax: ragged rows");
    row_blocks(out, cols, |row0, block| {
        for (r, y) in block.chunks_exact_mut(cols).enumerate() {
            let xr = &x[(row0 + r) * cols..][..cols];
            vectorized(
                #[inline(always)]
                || softmax_row(xr, y, log),
            );
        }
    });
}

#[inline(always)]
fn softmax_row<T: Float, O: Slot<T>>(x: &[T], y: &mut [O], log: bool) {
    // Pass 1: the max.
    let mut m = fold_lanes(x, T::NEG_INFINITY, |a, b| a.max_v(b), |v| v);
    if m == T::NEG_INFINITY {
        // Every entry is -inf: no probability mass anywhere. PyTorch gives NaN; so do we.
        m = T::ZERO;
    }
    // Pass 2: s = Σ exp(x_i − m).
    let s = fold_lanes(x, T::ZERO, |a, b| a + b, |v| (v - m).exp());
    // Pass 3: write the output.
    if log {
        let shift = m + s.ln();
        for (yv, &xv) in y.iter_mut().zip(x) {
            yv.set(xv - shift);
        }
    } else {
        let inv = T::ONE / s;
        for (yv, &xv) in y.iter_mut().zip(x) {
            yv.set((xv - m).exp() * inv);
        }
    }
}
