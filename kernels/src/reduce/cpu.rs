//! CPU reductions.
//!
//! Two loop shapes, both vectorised:
//! - `inner == 1` (reduce along contiguous rows): each row is folded with 16 independent
//!   accumulators. Floating-point addition is not associative, so LLVM will not reorder a single
//!   running sum into SIMD lanes by itself; 16 explicit lanes let it, and also hide the latency
//!   of dependent adds.
//! - `inner > 1`: the output row `out[o, :]` is folded with input rows `x[o, j, :]` one after
//!   another, a unit-stride elementwise loop.

use super::{ArgReduceOp, ReduceOp};
use crate::parallel::{row_blocks, PAR_MIN_ELEMS};
use crate::simd::vectorized;
use crate::Float;
use rayon::prelude::*;

const LANES: usize = 16;

/// `out[o, i] = fold(x[o, 0, i], …, x[o, len-1, i])` for a dense `[outer, len, inner]` buffer.
/// An empty axis gives the op's identity (0 for sum, ∓∞ for max/min).
pub fn reduce<T: Float>(op: ReduceOp, x: &[T], outer: usize, len: usize, inner: usize, out: &mut [T]) {
    assert_eq!(x.len(), outer * len * inner, "reduce: input length");
    assert_eq!(out.len(), outer * inner, "reduce: output length");
    match op {
        ReduceOp::Sum => reduce_with(
            x,
            len,
            inner,
            out,
            T::ZERO,
            #[inline(always)]
            |a, b| a + b,
        ),
        ReduceOp::Max => reduce_with(
            x,
            len,
            inner,
            out,
            T::NEG_INFINITY,
            #[inline(always)]
            |a, b| a.max_v(b),
        ),
        ReduceOp::Min => reduce_with(
            x,
            len,
            inner,
            out,
            T::INFINITY,
            #[inline(always)]
            |a, b| a.min_v(b),
        ),
    }
}

fn reduce_with<T: Float>(
    x: &[T],
    len: usize,
    inner: usize,
    out: &mut [T],
    identity: T,
    f: impl Fn(T, T) -> T + Sync + Copy,
) {
    if out.is_empty() {
        return;
    }
    if len == 0 {
        out.fill(identity);
        return;
    }
    if inner == 1 {
        // Rows of `len` contiguous values; parallel over blocks of rows when the input is large.
        let rows_per = if x.len() < PAR_MIN_ELEMS { out.len() } else { (PAR_MIN_ELEMS / len).max(1) };
        out.par_chunks_mut(rows_per).enumerate().for_each(|(blk, o)| {
            for (r, o) in o.iter_mut().enumerate() {
                let row = &x[(blk * rows_per + r) * len..][..len];
                *o = vectorized(
                    #[inline(always)]
                    || fold_row(row, identity, f),
                );
            }
        });
    } else {
        let slab = len * inner;
        let fold_slab = |o: &mut [T], xs: &[T]| {
            o.copy_from_slice(&xs[..inner]);
            for j in 1..len {
                let xr = &xs[j * inner..(j + 1) * inner];
                vectorized(
                    #[inline(always)]
                    || {
                        for (o, &v) in o.iter_mut().zip(xr) {
                            *o = f(*o, v);
                        }
                    },
                );
            }
        };
        if x.len() < PAR_MIN_ELEMS || out.len() < inner * 2 {
            // One slab, or small: split the columns if there is enough work, else run serially.
            if x.len() >= PAR_MIN_ELEMS && inner >= 256 {
                let cols = inner.div_ceil(rayon::current_num_threads() * 2).div_ceil(64) * 64;
                for (o, xs) in out.chunks_mut(inner).zip(x.chunks(slab)) {
                    o.par_chunks_mut(cols).enumerate().for_each(|(c, oc)| {
                        let c0 = c * cols;
                        oc.copy_from_slice(&xs[c0..c0 + oc.len()]);
                        for j in 1..len {
                            let xr = &xs[j * inner + c0..][..oc.len()];
                            vectorized(
                                #[inline(always)]
                                || {
                                    for (o, &v) in oc.iter_mut().zip(xr) {
                                        *o = f(*o, v);
                                    }
                                },
                            );
                        }
                    });
                }
            } else {
                for (o, xs) in out.chunks_mut(inner).zip(x.chunks(slab)) {
                    fold_slab(o, xs);
                }
            }
        } else {
            out.par_chunks_mut(inner).zip(x.par_chunks(slab)).for_each(|(o, xs)| fold_slab(o, xs));
        }
    }
}

/// Folds one contiguous row with `LANES` independent accumulators (see the module docs).
#[inline(always)]
fn fold_row<T: Float>(row: &[T], identity: T, f: impl Fn(T, T) -> T) -> T {
    let mut acc = [identity; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..LANES {
            acc[l] = f(acc[l], c[l]);
        }
    }
    let mut total = identity;
    for &v in tail {
        total = f(total, v);
    }
    // Combine the lanes pairwise, which also keeps rounding error low for sums.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            acc[l] = f(acc[l], acc[l + width]);
        }
    }
    f(acc[0], total)
}

/// `out[o, i] = argmax_j x[o, j, i]` (or argmin) for a dense `[outer, len, inner]` buffer with
/// `len ≥ 1`. Ties give the first index; a NaN wins (as in PyTorch).
pub fn arg_reduce<T: Float>(op: ArgReduceOp, x: &[T], outer: usize, len: usize, inner: usize, out: &mut [i64]) {
    assert!(len >= 1, "arg_reduce: empty axis");
    assert_eq!(x.len(), outer * len * inner, "arg_reduce: input length");
    assert_eq!(out.len(), outer * inner, "arg_reduce: output length");
    let better = |cand: T, best: T| -> bool {
        if best.is_nan() {
            return false;
        }
        if cand.is_nan() {
            return true;
        }
        match op {
            ArgReduceOp::ArgMax => cand > best,
            ArgReduceOp::ArgMin => cand < best,
        }
    };
    row_blocks(out, inner, |row0, block| {
        for (r, o) in block.chunks_exact_mut(inner).enumerate() {
            let xs = &x[(row0 + r) * len * inner..][..len * inner];
            for (i, o) in o.iter_mut().enumerate() {
                let (mut best, mut at) = (xs[i], 0);
                for j in 1..len {
                    let v = xs[j * inner + i];
                    if better(v, best) {
                        best = v;
                        at = j;
                    }
                }
                *o = at as i64;
            }
        }
    });
}
