//! CPU im2col / col2im. Both are built on one routine per direction that handles a *range of
//! columns* of one image (`im2col_columns`, `col2im_columns`): the whole-batch versions run it
//! over every (image, channel) pair in parallel, and the convolution kernels (`conv2d.rs`) run it
//! on blocks of columns small enough to stay in L2 between being written and being multiplied.

use super::Window2d;
use crate::parallel::PAR_MIN_ELEMS;
use crate::{Float, Slot};
use rayon::prelude::*;

/// The input row read by kernel row `ki` at output row `oy`, or `None` in the padding.
#[inline(always)]
fn input_row(g: &Window2d, ki: usize, oy: usize) -> Option<usize> {
    (oy * g.stride[0] + ki * g.dilation[0]).checked_sub(g.padding[0]).filter(|&iy| iy < g.h)
}

/// The output columns `lo..hi` whose input column for kernel column `kj` lies inside the image
/// (`ix = ox·s + kj·d − p ∈ [0, W)`); the others read padding.
#[inline(always)]
fn valid_range(g: &Window2d, kj: usize, ow: usize) -> (usize, usize) {
    let (s, off) = (g.stride[1], kj * g.dilation[1]);
    // ix ≥ 0  ⇔  ox·s ≥ p − off
    let lo = g.padding[1].saturating_sub(off).div_ceil(s).min(ow);
    // ix < W  ⇔  ox·s < W + p − off
    let hi = (g.w + g.padding[1]).checked_sub(off).map_or(0, |lim| lim.div_ceil(s)).min(ow);
    (lo, hi.max(lo))
}

pub(crate) fn checked_output(g: &Window2d) -> (usize, usize) {
    g.output_size().expect("im2col/col2im: the window does not fit (checked by the caller)")
}

/// One run of columns inside one output row: output row `oy`, output columns `a..b`, stored
/// from `dst` on in the block. `valid` is the part of `a..b` whose input column is inside the
/// image for the current kernel column.
struct RowSegment {
    oy: usize,
    a: usize,
    b: usize,
    dst: usize,
}

/// The output-row segments that make up columns `l0..l1` (column `l = oy·OW + ox`).
fn segments(ow: usize, l0: usize, l1: usize) -> impl Iterator<Item = RowSegment> {
    let first = l0 / ow;
    let last = if l1 > l0 { (l1 - 1) / ow + 1 } else { first };
    (first..last).map(move |oy| {
        let a = l0.saturating_sub(oy * ow);
        let b = (l1 - oy * ow).min(ow);
        RowSegment { oy, a, b, dst: oy * ow + a - l0 }
    })
}

/// Columns `l0..l1` of the im2col matrix of `channels` channels of one image: `img` is a dense
/// `[channels, H, W]` slice; `out` holds `channels·kh·kw` rows of `l1 − l0` values, row `r`
/// starting at `r · ld` (every one of those elements written; `pad_value` where the window
/// reaches into the padding).
pub(crate) fn im2col_columns<T: Float, O: Slot<T>>(
    img: &[T],
    g: &Window2d,
    channels: usize,
    [l0, l1]: [usize; 2],
    pad_value: T,
    out: &mut [O],
    ld: usize,
) {
    let (_, ow) = checked_output(g);
    let (plane, width) = (g.h * g.w, l1 - l0);
    let rows = channels * g.kernel[0] * g.kernel[1];
    assert!(width <= ld && (rows == 0 || out.len() >= (rows - 1) * ld + width), "im2col: output too short");
    let mut r = 0;
    for c in 0..channels {
        let img = &img[c * plane..(c + 1) * plane];
        for ki in 0..g.kernel[0] {
            for kj in 0..g.kernel[1] {
                let row = &mut out[r * ld..r * ld + width];
                r += 1;
                let (lo, hi) = valid_range(g, kj, ow);
                for s in segments(ow, l0, l1) {
                    let out = &mut row[s.dst..s.dst + (s.b - s.a)];
                    let (vlo, vhi) = (lo.clamp(s.a, s.b), hi.clamp(s.a, s.b));
                    let Some(iy) = input_row(g, ki, s.oy).filter(|_| vlo < vhi) else {
                        // The whole segment reads padding.
                        out.iter_mut().for_each(|o| o.set(pad_value));
                        continue;
                    };
                    // Padding on the left and right, a strided copy in between.
                    out[..vlo - s.a].iter_mut().for_each(|o| o.set(pad_value));
                    out[vhi - s.a..].iter_mut().for_each(|o| o.set(pad_value));
                    let src = &img[iy * g.w..(iy + 1) * g.w];
                    let x0 = vlo * g.stride[1] + kj * g.dilation[1] - g.padding[1];
                    let out = &mut out[vlo - s.a..vhi - s.a];
                    if g.stride[1] == 1 {
                        for (o, &v) in out.iter_mut().zip(&src[x0..x0 + (vhi - vlo)]) {
                            o.set(v);
                        }
                    } else {
                        for (j, o) in out.iter_mut().enumerate() {
                            o.set(src[x0 + j * g.stride[1]]);
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col_columns`]: adds columns `l0..l1` (`channels·kh·kw` rows of
/// `l1 − l0` values, row `r` starting at `r · ld`) onto the `[channels, H, W]` image they were
/// read from. Padding entries are dropped; `img` is accumulated into, not overwritten.
pub(crate) fn col2im_columns<T: Float>(
    cols: &[T],
    g: &Window2d,
    channels: usize,
    [l0, l1]: [usize; 2],
    img: &mut [T],
    ld: usize,
) {
    let (_, ow) = checked_output(g);
    let (plane, width) = (g.h * g.w, l1 - l0);
    let rows = channels * g.kernel[0] * g.kernel[1];
    assert!(width <= ld && (rows == 0 || cols.len() >= (rows - 1) * ld + width), "col2im: input too short");
    let mut r = 0;
    for c in 0..channels {
        let img = &mut img[c * plane..(c + 1) * plane];
        for ki in 0..g.kernel[0] {
            for kj in 0..g.kernel[1] {
                let row = &cols[r * ld..r * ld + width];
                r += 1;
                let (lo, hi) = valid_range(g, kj, ow);
                for s in segments(ow, l0, l1) {
                    let (vlo, vhi) = (lo.clamp(s.a, s.b), hi.clamp(s.a, s.b));
                    let Some(iy) = input_row(g, ki, s.oy).filter(|_| vlo < vhi) else { continue };
                    let x0 = vlo * g.stride[1] + kj * g.dilation[1] - g.padding[1];
                    let dst = &mut img[iy * g.w..(iy + 1) * g.w];
                    let src = &row[s.dst + (vlo - s.a)..s.dst + (vhi - s.a)];
                    if g.stride[1] == 1 {
                        for (d, &v) in dst[x0..x0 + (vhi - vlo)].iter_mut().zip(src) {
                            *d += v;
                        }
                    } else {
                        for (j, &v) in src.iter().enumerate() {
                            dst[x0 + j * g.stride[1]] += v;
                        }
                    }
                }
            }
        }
    }
}

/// `cols[n, (c, ki, kj), (oy, ox)] = x[n, c, oy·s + ki·d − p, ox·s + kj·d − p]`, and `pad_value`
/// where that position is in the padding. `x` is a dense `[N, C, H, W]` buffer, `cols` a dense
/// `[N, C·kh·kw, OH·OW]` one (every element written). Parallel over (image, channel) pairs: each
/// owns a disjoint block of `cols`.
pub fn im2col<T: Float, O: Slot<T>>(x: &[T], g: &Window2d, pad_value: T, cols: &mut [O]) {
    let (oh, ow) = checked_output(g);
    let (taps, plane, l) = (g.kernel[0] * g.kernel[1], g.h * g.w, oh * ow);
    assert_eq!(x.len(), g.n * g.c * plane, "im2col: input length");
    assert_eq!(cols.len(), g.n * g.c * taps * l, "im2col: output length");
    if cols.is_empty() {
        return;
    }
    let one = |nc: usize, block: &mut [O]| im2col_columns(&x[nc * plane..][..plane], g, 1, [0, l], pad_value, block, l);
    if cols.len() < PAR_MIN_ELEMS {
        cols.chunks_mut(taps * l).enumerate().for_each(|(nc, b)| one(nc, b));
    } else {
        cols.par_chunks_mut(taps * l).enumerate().for_each(|(nc, b)| one(nc, b));
    }
}

/// The adjoint of [`im2col`] (with zero padding): every column entry is added back onto the
/// input position it was read from; padding positions are dropped. `cols` is a dense
/// `[N, C·kh·kw, OH·OW]` buffer and `x` a dense `[N, C, H, W]` one (overwritten). Parallel over
/// (image, channel) planes: each owns its plane of `x`.
pub fn col2im<T: Float>(cols: &[T], g: &Window2d, x: &mut [T]) {
    let (oh, ow) = checked_output(g);
    let (taps, plane, l) = (g.kernel[0] * g.kernel[1], g.h * g.w, oh * ow);
    assert_eq!(x.len(), g.n * g.c * plane, "col2im: output length");
    assert_eq!(cols.len(), g.n * g.c * taps * l, "col2im: input length");
    if plane == 0 {
        return;
    }
    let one = |nc: usize, img: &mut [T]| {
        img.fill(T::ZERO);
        col2im_columns(&cols[nc * taps * l..][..taps * l], g, 1, [0, l], img, l);
    };
    if x.len() < PAR_MIN_ELEMS {
        x.chunks_mut(plane).enumerate().for_each(|(nc, img)| one(nc, img));
    } else {
        x.par_chunks_mut(plane).enumerate().for_each(|(nc, img)| one(nc, img));
    }
}
