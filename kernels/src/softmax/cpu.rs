//! CPU softmax: fused and numerically stable.
//!
//! For each row: `m = max(x)`, then `e_i = exp(x_i − m)` with their sum `s`, then
//! `y_i = e_i / s` (softmax) or `y_i = x_i − m − ln s` (log-softmax). Subtracting the max keeps
//! every exponent ≤ 0, so nothing overflows, and the largest term is exactly 1, so `s ≥ 1` and
//! `ln s` is safe. A row is read three times but stays in L1/L2 between passes; rows are split
//! over threads in blocks. The `exp` is the branch-free, vectorised one from [`crate::float`].

use crate::parallel::row_blocks;
use crate::simd::vectorized;
use crate::Float;

/// Softmax (or log-softmax when `log`) of each `cols`-long row of `x` into `out`.
pub fn softmax_rows<T: Float>(x: &[T], cols: usize, log: bool, out: &mut [T]) {
    assert_eq!(x.len(), out.len(), "softmax: length mismatch");
    if cols == 0 || x.is_empty() {
        return;
    }
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
fn softmax_row<T: Float>(x: &[T], y: &mut [T], log: bool) {
    // Pass 1: the max, with independent lanes so it vectorises.
    let mut lanes = [T::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let mut m = T::NEG_INFINITY;
    for &v in chunks.remainder() {
        m = m.max_v(v);
    }
    for c in chunks {
        for l in 0..8 {
            lanes[l] = lanes[l].max_v(c[l]);
        }
    }
    for l in lanes {
        m = m.max_v(l);
    }
    if m == T::NEG_INFINITY {
        // Every entry is -inf: no probability mass anywhere. PyTorch gives NaN; so do we.
        m = T::ZERO;
    }
    // Pass 2: e_i = exp(x_i - m) into y (a plain map: it vectorises), then their sum in lanes.
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv = (xv - m).exp();
    }
    let mut sums = [T::ZERO; 8];
    let chunks = y.chunks_exact(8);
    let mut tail = T::ZERO;
    for &v in chunks.remainder() {
        tail += v;
    }
    for c in chunks {
        for l in 0..8 {
            sums[l] += c[l];
        }
    }
    let s = sums.iter().fold(tail, |a, &b| a + b);
    // Pass 3: normalise.
    if log {
        let shift = m + s.ln();
        for (yv, &xv) in y.iter_mut().zip(x) {
            *yv = xv - shift;
        }
    } else {
        let inv = T::ONE / s;
        for yv in y.iter_mut() {
            *yv *= inv;
        }
    }
}
