//! CPU im2col / col2im, parallel over (image, channel) pairs: each pair owns a disjoint block of
//! the output (its `kh·kw` rows of columns, or its `H·W` plane), so threads never share a write.

use super::Window2d;
use crate::parallel::PAR_MIN_ELEMS;
use crate::{Float, Slot};
use rayon::prelude::*;

/// For each kernel tap `(ki, kj)` and output position `(oy, ox)`, the input row and column read,
/// or `None` in the padding.
#[inline(always)]
fn source(g: &Window2d, ki: usize, kj: usize, oy: usize, ox: usize) -> Option<(usize, usize)> {
    let iy = (oy * g.stride[0] + ki * g.dilation[0]).checked_sub(g.padding[0])?;
    let ix = (ox * g.stride[1] + kj * g.dilation[1]).checked_sub(g.padding[1])?;
    (iy < g.h && ix < g.w).then_some((iy, ix))
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
                for oy in 0..oh {
                    for ox in 0..ow {
                        row[oy * ow + ox].set(match source(g, ki, kj, oy, ox) {
                            Some((iy, ix)) => img[iy * g.w + ix],
                            None => pad_value,
                        });
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
                for oy in 0..oh {
                    for ox in 0..ow {
                        if let Some((iy, ix)) = source(g, ki, kj, oy, ox) {
                            img[iy * g.w + ix] += row[oy * ow + ox];
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
