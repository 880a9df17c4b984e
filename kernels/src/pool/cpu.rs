//! CPU max pooling, one (image, channel) plane at a time.
//!
//! Each plane is unfolded into a scratch block of columns, `kh·kw` rows of `OH·OW` (the same
//! `im2col` runs as the convolution's, a few kilobytes that stay in L1), and the work is then
//! done down the columns, every output position in one SIMD lane: the maximum is a running
//! `max` over the rows; the backward pass counts the ties per column, hands out the shares,
//! and folds the block back onto the plane's gradient (`col2im`). Nothing of the batch's size
//! is ever allocated besides the output: the composed form's columns are `kh·kw` times the
//! output, and its backward pass makes five passes over them.

use crate::conv::cpu::{checked_output, col2im_columns, im2col_columns, Plan};
use crate::conv::Window2d;
use crate::parallel::{for_each_chunk, PAR_MIN_ELEMS};
use crate::simd::vectorized;
use crate::{Float, Slot};

/// A worker's scratch: one plane's columns, and a few rows of per-position values.
#[derive(Default)]
struct Scratch<T> {
    cols: Vec<T>,
    rows: [Vec<T>; 3],
}

/// `y[n, c, oy, ox] = max` of the window of output position `(oy, ox)` on plane `(n, c)` of
/// `x` (dense `[N, C, H, W]`), padding reading −∞ and a NaN winning (as `Float::max_v`). `y`
/// is dense `[N, C, OH, OW]`, every element written.
pub fn max_pool2d<T: Float, O: Slot<T>>(x: &[T], g: &Window2d, y: &mut [O]) {
    let (oh, ow) = checked_output(g);
    let (plane, l, taps) = (g.h * g.w, oh * ow, g.kernel[0] * g.kernel[1]);
    assert_eq!(x.len(), g.n * g.c * plane, "max_pool2d: input length");
    assert_eq!(y.len(), g.n * g.c * l, "max_pool2d: output length");
    if y.is_empty() {
        return;
    }
    let plan = Plan::new(g, [0, l]);
    for_each_chunk(y, l, y.len() >= PAR_MIN_ELEMS, |nc, out, sc: &mut Scratch<T>| {
        sc.cols.resize(taps * l, T::ZERO);
        im2col_columns(&x[nc * plane..][..plane], g, 1, &plan, T::NEG_INFINITY, &mut sc.cols, l);
        let (cols, best) = (&sc.cols, &mut sc.rows[0]);
        best.clear();
        best.extend_from_slice(&cols[..l]);
        vectorized(
            #[inline(always)]
            || {
                for row in cols.chunks_exact(l).skip(1) {
                    best.iter_mut().zip(row).for_each(|(b, &v)| *b = b.max_v(v));
                }
            },
        );
        out.iter_mut().zip(best.iter()).for_each(|(o, &b)| o.set(b));
    });
}

/// `∂x` of [`max_pool2d`]: each window's gradient `gy` goes to the entries equal to its
/// maximum `y`, split evenly between ties, summed where windows overlap. `x` and `gx` are
/// dense `[N, C, H, W]` (`gx` overwritten), `y` and `gy` dense `[N, C, OH, OW]`.
///
/// Each entry receives `gy · ([x = y] / #ties)`, the composed form's value (padding entries
/// read −∞ and count as ties of a −∞ maximum, then are dropped): a window whose maximum is
/// NaN has no ties and hands NaN to all its entries, and an infinite `gy` hands NaN to the
/// entries that are not the maximum (`∞ · 0`).
pub fn max_pool2d_backward<T: Float>(x: &[T], y: &[T], gy: &[T], g: &Window2d, gx: &mut [T]) {
    let (oh, ow) = checked_output(g);
    let (plane, l, taps) = (g.h * g.w, oh * ow, g.kernel[0] * g.kernel[1]);
    assert_eq!(x.len(), g.n * g.c * plane, "max_pool2d_backward: input length");
    assert_eq!(gx.len(), x.len(), "max_pool2d_backward: input-gradient length");
    assert_eq!(y.len(), g.n * g.c * l, "max_pool2d_backward: output length");
    assert_eq!(gy.len(), y.len(), "max_pool2d_backward: output-gradient length");
    if gx.is_empty() {
        return;
    }
    let plan = Plan::new(g, [0, l]);
    for_each_chunk(gx, plane, gx.len() >= PAR_MIN_ELEMS, |nc, gx, sc: &mut Scratch<T>| {
        sc.cols.resize(taps * l, T::ZERO);
        im2col_columns(&x[nc * plane..][..plane], g, 1, &plan, T::NEG_INFINITY, &mut sc.cols, l);
        let (y, gy) = (&y[nc * l..][..l], &gy[nc * l..][..l]);
        let [ties, hit, miss] = &mut sc.rows;
        for r in [&mut *ties, &mut *hit, &mut *miss] {
            r.clear();
            r.resize(l, T::ZERO);
        }
        let cols = &mut sc.cols;
        vectorized(
            #[inline(always)]
            || {
                for row in cols.chunks_exact(l) {
                    ties.iter_mut()
                        .zip(row)
                        .zip(y)
                        .for_each(|((n, &v), &y)| *n += if v == y { T::ONE } else { T::ZERO });
                }
                // What a maximal and a non-maximal entry receive: g·1/#ties and g·0/#ties.
                for (((h, m), &n), &g) in hit.iter_mut().zip(miss.iter_mut()).zip(ties.iter()).zip(gy) {
                    *h = g * (T::ONE / n);
                    *m = g * (T::ZERO / n);
                }
                for row in cols.chunks_exact_mut(l) {
                    for (((v, &y), &h), &m) in row.iter_mut().zip(y).zip(hit.iter()).zip(miss.iter()) {
                        *v = if *v == y { h } else { m };
                    }
                }
            },
        );
        gx.fill(T::ZERO);
        col2im_columns(cols, g, 1, &plan, gx, l);
    });
}
