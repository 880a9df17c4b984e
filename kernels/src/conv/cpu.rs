//! CPU im2col / col2im, parallel over (image, channel) pairs: each pair owns a disjoint block of
//! the output (its `kh·kw` rows of columns, or its `H·W` plane), so threads never share a write.

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

fn checked_output(g: &Window2d) -> (usize, usize) {
    g.output_size().expect("im2col/col2im: the window does not fit (checked by the caller)")
}

/// `cols[n, (c, ki, kj), (oy, ox)] = x[n, c, oy·s + ki·d − p, ox·s + kj·d − p]`, and `pad_value`
/// where that position is in the padding. `x` is a dense `[N, C, H, W]` buffer, `cols` a dense
/// `[N, C·kh·kw, OH·OW]` one (every element written).
pub fn im2col<T: Float, O: Slot<T>>(x: &[T], g: &Window2d, pad_value: T, cols: &mut [O]) {
    let (oh, ow) = checked_output(g);
    let (taps, plane, l) = (g.kernel[0] * g.kernel[1], g.h * g.w, oh * ow);
    assert_eq!(x.len(), g.n * g.c * plane, "im2col: input length");
    assert_eq!(cols.len(), g.n * g.c * taps * l, "im2col: output length");
    if cols.is_empty() {
        return;
    }
    let one = |nc: usize, block: &mut [O]| {
        let img = &x[nc * plane..(nc + 1) * plane];
        for ki in 0..g.kernel[0] {
            for kj in 0..g.kernel[1] {
                let row = &mut block[(ki * g.kernel[1] + kj) * l..][..l];
                let (lo, hi) = valid_range(g, kj, ow);
                for oy in 0..oh {
                    let out = &mut row[oy * ow..(oy + 1) * ow];
                    match input_row(g, ki, oy) {
                        // The whole row is padding (also when no column of it is valid).
                        None => out.iter_mut().for_each(|o| o.set(pad_value)),
                        Some(_) if lo >= hi => out.iter_mut().for_each(|o| o.set(pad_value)),
                        Some(iy) => {
                            // Padding on the left and right, a strided copy in between.
                            out[..lo].iter_mut().for_each(|o| o.set(pad_value));
                            out[hi..].iter_mut().for_each(|o| o.set(pad_value));
                            let src = &img[iy * g.w..(iy + 1) * g.w];
                            let x0 = lo * g.stride[1] + kj * g.dilation[1] - g.padding[1];
                            if g.stride[1] == 1 {
                                for (o, &v) in out[lo..hi].iter_mut().zip(&src[x0..x0 + (hi - lo)]) {
                                    o.set(v);
                                }
                            } else {
                                for (j, o) in out[lo..hi].iter_mut().enumerate() {
                                    o.set(src[x0 + j * g.stride[1]]);
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    if cols.len() < PAR_MIN_ELEMS {
        cols.chunks_mut(taps * l).enumerate().for_each(|(nc, b)| one(nc, b));
    } else {
        cols.par_chunks_mut(taps * l).enumerate().for_each(|(nc, b)| one(nc, b));
    }
}

/// The adjoint of [`im2col`] (with zero padding): every column entry is added back onto the
/// input position it was read from; padding positions are dropped. `cols` is a dense
/// `[N, C·kh·kw, OH·OW]` buffer and `x` a dense `[N, C, H, W]` one (overwritten).
pub fn col2im<T: Float>(cols: &[T], g: &Window2d, x: &mut [T]) {
    let (oh, ow) = checked_output(g);
    let (taps, plane, l) = (g.kernel[0] * g.kernel[1], g.h * g.w, oh * ow);
    assert_eq!(x.len(), g.n * g.c * plane, "col2im: output length");
    assert_eq!(cols.len(), g.n * g.c * taps * l, "col2im: input length");
    let one = |nc: usize, img: &mut [T]| {
        img.fill(T::ZERO);
        let block = &cols[nc * taps * l..(nc + 1) * taps * l];
        for ki in 0..g.kernel[0] {
            for kj in 0..g.kernel[1] {
                let row = &block[(ki * g.kernel[1] + kj) * l..][..l];
                let (lo, hi) = valid_range(g, kj, ow);
                if lo >= hi {
                    continue;
                }
                let x0 = lo * g.stride[1] + kj * g.dilation[1] - g.padding[1];
                for oy in 0..oh {
                    let Some(iy) = input_row(g, ki, oy) else { continue };
                    let dst = &mut img[iy * g.w..(iy + 1) * g.w];
                    let src = &row[oy * ow + lo..oy * ow + hi];
                    if g.stride[1] == 1 {
                        for (d, &v) in dst[x0..x0 + (hi - lo)].iter_mut().zip(src) {
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
    };
    if plane == 0 {
        return;
    }
    if x.len() < PAR_MIN_ELEMS {
        x.chunks_mut(plane).enumerate().for_each(|(nc, img)| one(nc, img));
    } else {
        x.par_chunks_mut(plane).enumerate().for_each(|(nc, img)| one(nc, img));
    }
}
