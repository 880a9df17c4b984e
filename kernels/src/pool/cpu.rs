//! CPU max pooling, one (image, channel) plane at a time.
//!
//! Each plane is unfolded into a scratch block of columns, `kh·kw` rows of `OH·OW` (the same
//! `im2col` runs as the convolution's, a few kilobytes that stay in L1), and the work is then
//! done down the columns, every output position in one SIMD lane: the maximum is a running
//! `max` over the rows; the backward pass counts the ties per column, hands out the shares,
//! and folds the block back onto the plane's gradient (`col2im`). Nothing of the batch's size
//! is ever allocated besides the output: the composed form's columns are `kh·kw` times the
//! output, and its backward pass makes five passes over them.
//!
//! 2×2 windows that tile the image (stride 2, no padding) — nearly every CNN's pooling — skip
//! the columns: both passes read the two input rows of each output row directly. Unfolding them
//! was the slow part (runs of one value at stride 2). On f32 with AVX-512 the backward pass
//! works on 16 windows at a time in registers (`super::avx512`). On the MNIST CNN's first
//! pooling layer (64 × 32 planes of 26²), `cargo bench --bench conv -- pool` (forward and
//! backward): 1.33–1.52 ms with columns, 0.62–0.69 ms now.

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
    if is_2x2_tiling(g) {
        return max_pool_2x2(x, g, y);
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
    if is_2x2_tiling(g) {
        return max_pool_2x2_backward(x, y, gy, g, gx);
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

/// Whether the windows are 2×2 and tile the image (stride 2, no padding, no dilation): the
/// pooling of almost every CNN, which [`max_pool_2x2`] and [`max_pool_2x2_backward`] compute
/// straight from the rows, without columns. Each input pixel is in one window at most (the
/// last row and column of an odd-sized image in none).
fn is_2x2_tiling(g: &Window2d) -> bool {
    g.kernel == [2, 2] && g.stride == [2, 2] && g.padding == [0, 0] && g.dilation == [1, 1]
}

/// Planes per task for the 2×2 kernels: about 8 Ki input values, so that small planes (a 26²
/// one is 676 values) are not handed to rayon one at a time.
fn planes_per_task(plane: usize) -> usize {
    (8192 / plane.max(1)).max(1)
}

/// [`max_pool2d`] for 2×2 windows tiling the image: each output is the `max_v` of its window's
/// four values in the order the general kernel takes them (row by row), so the two agree to the
/// bit, NaN included.
fn max_pool_2x2<T: Float, O: Slot<T>>(x: &[T], g: &Window2d, y: &mut [O]) {
    let (oh, ow) = checked_output(g);
    let (plane, l, per) = (g.h * g.w, oh * ow, planes_per_task(g.h * g.w));
    for_each_chunk(y, per * l, y.len() >= PAR_MIN_ELEMS, |task, out, _: &mut ()| {
        for (k, out) in out.chunks_exact_mut(l).enumerate() {
            let x = &x[(task * per + k) * plane..][..plane];
            vectorized(
                #[inline(always)]
                || {
                    for (oy, out) in out.chunks_exact_mut(ow).enumerate() {
                        let top = x[2 * oy * g.w..][..2 * ow].chunks_exact(2);
                        let bottom = x[(2 * oy + 1) * g.w..][..2 * ow].chunks_exact(2);
                        for ((o, a), b) in out.iter_mut().zip(top).zip(bottom) {
                            o.set(a[0].max_v(a[1]).max_v(b[0]).max_v(b[1]));
                        }
                    }
                },
            );
        }
    });
}

/// [`max_pool2d_backward`] for 2×2 windows tiling the image: each window's four entries get
/// `gy · ([x = y] / #ties)`, computed as the general kernel does (`g·(1/n)` or `g·(0/n)`), and
/// the pixels outside every window get 0.
fn max_pool_2x2_backward<T: Float>(x: &[T], y: &[T], gy: &[T], g: &Window2d, gx: &mut [T]) {
    let (oh, ow) = checked_output(g);
    let (plane, l, per) = (g.h * g.w, oh * ow, planes_per_task(g.h * g.w));
    for_each_chunk(gx, per * plane, gx.len() >= PAR_MIN_ELEMS, |task, gx, _: &mut ()| {
        for (k, gx) in gx.chunks_exact_mut(plane).enumerate() {
            let nc = task * per + k;
            let (x, y, gy) = (&x[nc * plane..][..plane], &y[nc * l..][..l], &gy[nc * l..][..l]);
            // Rows and columns outside every window (odd sizes) get no gradient.
            gx[2 * oh * g.w..].fill(T::ZERO);
            vectorized(
                #[inline(always)]
                || {
                    for oy in 0..oh {
                        let (top, bottom) = gx[2 * oy * g.w..][..2 * g.w].split_at_mut(g.w);
                        top[2 * ow..].fill(T::ZERO);
                        bottom[2 * ow..].fill(T::ZERO);
                        let (xt, xb) = (&x[2 * oy * g.w..][..2 * ow], &x[(2 * oy + 1) * g.w..][..2 * ow]);
                        let (y, gy) = (&y[oy * ow..][..ow], &gy[oy * ow..][..ow]);
                        if simd_row(xt, xb, y, gy, top, bottom, ow) {
                            continue;
                        }
                        // Portable: one window at a time.
                        let taps = xt.chunks_exact(2).zip(xb.chunks_exact(2));
                        let shares = top[..2 * ow].chunks_exact_mut(2).zip(bottom[..2 * ow].chunks_exact_mut(2));
                        for (((gt, gb), (a, b)), (&y, &g)) in shares.zip(taps).zip(y.iter().zip(gy)) {
                            let is = |v: T| if v == y { T::ONE } else { T::ZERO };
                            let ties = is(a[0]) + is(a[1]) + is(b[0]) + is(b[1]);
                            let (hit, miss) = (g * (T::ONE / ties), g * (T::ZERO / ties));
                            let share = |v: T| if v == y { hit } else { miss };
                            (gt[0], gt[1], gb[0], gb[1]) = (share(a[0]), share(a[1]), share(b[0]), share(b[1]));
                        }
                    }
                },
            );
        }
    });
}

/// One row of [`max_pool_2x2_backward`] on f32 with AVX-512 (see `super::avx512`): whether it
/// was done (not for f64, nor without AVX-512).
#[inline(always)]
fn simd_row<T: Float>(xt: &[T], xb: &[T], y: &[T], gy: &[T], top: &mut [T], bottom: &mut [T], ow: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let (Some(xt), Some(xb), Some(y), Some(gy), true) =
        (T::as_f32(xt), T::as_f32(xb), T::as_f32(y), T::as_f32(gy), crate::simd::has_avx512())
    {
        let (top, bottom) = (T::as_f32_mut(top).expect("f32"), T::as_f32_mut(bottom).expect("f32"));
        // SAFETY: AVX-512 is present (the kernel checks the slices' lengths itself).
        unsafe { super::avx512::backward_row_2x2(xt, xb, y, gy, top, bottom, ow) };
        return true;
    }
    let _ = (xt, xb, y, gy, top, bottom, ow);
    false
}
