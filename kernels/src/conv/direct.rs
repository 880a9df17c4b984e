//! Convolutions with one output channel per group (an image-producing last layer, or a
//! depthwise convolution), computed directly: unfolding would write `cg·kh·kw` column values per
//! output value only for a one-row product to read them once. Instead each kernel tap adds its
//! weight times the input run it sees straight into the output (forward), the output gradient
//! into the input gradient (input gradient), over the runs of a [`Plan`] of the whole image:
//! ```text
//! forward        y[o, l]          += w[o, c, t] · x[c, src_t(l)]
//! input grad     ∂x[c, src_t(l)]  += w[o, c, t] · ∂y[o, l]
//! ```
//! (`o` the group's one output channel, `src_t(l)` the input pixel tap `t` reads at output
//! position `l`, padding contributing nothing). Parallel over images.
//!
//! The weight gradient, `∂w[o, c, t] = Σ_l ∂y[o, l] · x[c, src_t(l)]`, is a row of dot
//! products, which `super::narrow` computes.

use super::conv2d::{for_each_chunk, Conv2dGeometry, Scratch, Sizes};
use super::cpu::Plan;
use crate::{Float, Slot};

/// `out[dst + j] += w · src[x0 + j·stride]` over the runs of tap `t` (padding skipped).
#[inline(always)]
fn gather_axpy<T: Float>(plan: &Plan, t: usize, stride: usize, w: T, src: &[T], out: &mut [T]) {
    for run in plan.tap(t) {
        let Some(x0) = run.src else { continue };
        let out = &mut out[run.dst..run.dst + run.len];
        if stride == 1 {
            out.iter_mut().zip(&src[x0..x0 + run.len]).for_each(|(o, &v)| *o += w * v);
        } else {
            out.iter_mut().zip(src[x0..].iter().step_by(stride)).for_each(|(o, &v)| *o += w * v);
        }
    }
}

/// `dst[x0 + j·stride] += w · g[dst + j]` over the runs of tap `t`: the adjoint of
/// [`gather_axpy`].
#[inline(always)]
fn scatter_axpy<T: Float>(plan: &Plan, t: usize, stride: usize, w: T, g: &[T], img: &mut [T]) {
    for run in plan.tap(t) {
        let Some(x0) = run.src else { continue };
        let g = &g[run.dst..run.dst + run.len];
        if stride == 1 {
            img[x0..x0 + run.len].iter_mut().zip(g).for_each(|(d, &v)| *d += w * v);
        } else {
            img[x0..].iter_mut().step_by(stride).zip(g).for_each(|(d, &v)| *d += w * v);
        }
    }
}

fn taps(geo: &Conv2dGeometry) -> usize {
    geo.window.kernel[0] * geo.window.kernel[1]
}

pub(super) fn forward<T: Float, O: Slot<T>>(x: &[T], w: &[T], geo: &Conv2dGeometry, s: &Sizes, y: &mut [O]) {
    let (plan, taps, stride) = (Plan::new(&geo.window, [0, s.l]), taps(geo), geo.window.stride[1]);
    let c_all = geo.window.c;
    for_each_chunk(y, geo.out_channels * s.l, s.parallel, |n, y, sc: &mut Scratch<T>| {
        // The output row is summed in the worker's scratch, then written once.
        let acc = &mut sc.out;
        for grp in 0..geo.groups {
            acc.clear();
            acc.resize(s.l, T::ZERO);
            for c in 0..s.cg {
                let img = &x[(n * c_all + grp * s.cg + c) * s.plane..][..s.plane];
                for t in 0..taps {
                    let wv = w[(grp * s.cg + c) * taps + t];
                    gather_axpy(&plan, t, stride, wv, img, acc);
                }
            }
            y[grp * s.l..][..s.l].iter_mut().zip(acc.iter()).for_each(|(o, &v)| o.set(v));
        }
    });
}

pub(super) fn input_grad<T: Float>(gy: &[T], w: &[T], geo: &Conv2dGeometry, s: &Sizes, gx: &mut [T]) {
    let (plan, taps, stride) = (Plan::new(&geo.window, [0, s.l]), taps(geo), geo.window.stride[1]);
    let c_all = geo.window.c;
    for_each_chunk(gx, c_all * s.plane, s.parallel, |n, gx, _: &mut ()| {
        gx.fill(T::ZERO);
        for grp in 0..geo.groups {
            let g = &gy[(n * geo.out_channels + grp) * s.l..][..s.l];
            for c in 0..s.cg {
                let img = &mut gx[(grp * s.cg + c) * s.plane..][..s.plane];
                for t in 0..taps {
                    let wv = w[(grp * s.cg + c) * taps + t];
                    scatter_axpy(&plan, t, stride, wv, g, img);
                }
            }
        }
    });
}
