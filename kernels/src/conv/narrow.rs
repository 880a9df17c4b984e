//! The weight gradient of a convolution with a narrow receptive field (`C/groups · kh · kw ≤
//! 32` values: a first layer over one- or three-channel images), or with one output channel per
//! group (an image-producing last layer, a depthwise convolution), as dot products.
//!
//! For one image and group, `∂W[O/g, K] += ∂y[O/g, L] · cols(x)[K, L]ᵀ`: every entry is the dot
//! product of a row of `∂y` with a row of the columns, both contiguous. The blocked GEMM would
//! read the columns transposed (a copy per image) and fill an `8 × 48` register tile from a
//! product only `K` wide (9 for a 3×3 kernel over one channel: 19% of each tile used). Here a
//! block of 4 rows of `∂y` and 3 rows of columns keeps 12 dot products in registers, one SIMD
//! lane per position `l`, and adds the lanes up at the end: 7 loads for 12 fused
//! multiply-adds.
//!
//! On the MNIST CNN's first layer (64 images, 1 → 32 channels, 26² outputs), called on buffers,
//! the weight gradient takes 0.26–0.32 ms against the blocked GEMMs' 0.35–0.46 ms: it reads the
//! 5.5 MB output gradient once, near the memory's speed.

use super::conv2d::{planned_blocks, Conv2dGeometry, Sizes};
use super::cpu::im2col_columns;
use crate::parallel::sum_into;
use crate::Float;

/// The widest receptive field (values per output position and group) taken here.
pub const MAX_TAPS: usize = 32;

/// Output positions per image below which a SIMD register of positions would be mostly empty.
const LANES: usize = 16;

/// Whether `conv2d_weight_grad` computes this geometry's weight gradient with the dot products
/// of this module: at most [`MAX_TAPS`] values per receptive field and group, and at least 16
/// output positions per image (a whole SIMD register of them).
pub fn applies(geo: &Conv2dGeometry) -> bool {
    let g = &geo.window;
    let k = g.c / geo.groups.max(1) * g.kernel[0] * g.kernel[1];
    k <= MAX_TAPS && g.output_size().is_some_and(|(oh, ow)| oh * ow >= LANES)
}

/// `count` rows of a matrix inside `data`, row `i` starting at `data[i·stride]`.
#[derive(Clone, Copy)]
struct Rows<'a, T> {
    data: &'a [T],
    count: usize,
    stride: usize,
}

/// `out[i·b.count + j] += Σ_{l < len} a_i[l] · b_j[l]`: the dot product of every row of `a` with
/// every row of `b`. On f32 with AVX-512, register blocks of 4 × 3 dot products
/// ([`avx512::dot_rows`]); otherwise one dot product at a time.
fn dot_rows<T: Float>(a: Rows<'_, T>, b: Rows<'_, T>, len: usize, out: &mut [T]) {
    let fits = |m: &Rows<'_, T>| m.count == 0 || (m.count - 1) * m.stride + len <= m.data.len();
    assert!(fits(&a) && fits(&b) && out.len() >= a.count * b.count, "narrow: dot_rows operands");
    #[cfg(target_arch = "x86_64")]
    if let (Some(ad), Some(bd), true) = (T::as_f32(a.data), T::as_f32(b.data), crate::simd::has_avx512()) {
        let out = T::as_f32_mut(out).expect("T is f32");
        let a = Rows { data: ad, count: a.count, stride: a.stride };
        let b = Rows { data: bd, count: b.count, stride: b.stride };
        // SAFETY: AVX-512 is present, and every row read lies inside its operand, the output
        // holds a.count × b.count values (asserted above).
        return unsafe { avx512::dot_rows(a, b, len, out) };
    }
    for i in 0..a.count {
        for j in 0..b.count {
            let (p, q) = (&a.data[i * a.stride..][..len], &b.data[j * b.stride..][..len]);
            out[i * b.count + j] += p.iter().zip(q).fold(T::ZERO, |s, (&x, &y)| s + x * y);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Rows;
    use std::arch::x86_64::*;

    /// [`super::dot_rows`] in registers: blocks of `R × C` dot products (4 × 3, then the edges),
    /// each a vector of 16 partial sums over the positions, added up at the end.
    ///
    /// # Safety
    /// AVX-512F must be present; every row's `len` values lie inside its operand, and `out`
    /// holds `a.count × b.count` values.
    #[target_feature(enable = "avx512f,fma")]
    pub(super) unsafe fn dot_rows(a: Rows<'_, f32>, b: Rows<'_, f32>, len: usize, out: &mut [f32]) {
        let mut i = 0;
        while i < a.count {
            let r = if a.count - i >= 4 { 4 } else { 1 };
            let mut j = 0;
            while j < b.count {
                let c = if b.count - j >= 3 { 3 } else { 1 };
                // SAFETY: rows i..i + r of a and j..j + c of b exist (the counts bound them).
                unsafe {
                    match (r, c) {
                        (4, 3) => block::<4, 3>(a, i, b, j, len, out),
                        (4, _) => block::<4, 1>(a, i, b, j, len, out),
                        (_, 3) => block::<1, 3>(a, i, b, j, len, out),
                        _ => block::<1, 1>(a, i, b, j, len, out),
                    }
                }
                j += c;
            }
            i += r;
        }
    }

    /// Rows `i..i + R` of `a` against rows `j..j + C` of `b`, added into `out`.
    ///
    /// # Safety
    /// As [`dot_rows`], for these rows.
    #[inline]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn block<const R: usize, const C: usize>(
        a: Rows<'_, f32>,
        i: usize,
        b: Rows<'_, f32>,
        j: usize,
        len: usize,
        out: &mut [f32],
    ) {
        let mut acc = [[_mm512_setzero_ps(); C]; R];
        // SAFETY: rows i and j start inside their operands (the caller's contract).
        let (pa, pb) = unsafe { (a.data.as_ptr().add(i * a.stride), b.data.as_ptr().add(j * b.stride)) };
        let mut at = 0;
        while at < len {
            // The last block of positions is masked to those that exist.
            let n = (len - at).min(16);
            let mask = if n == 16 { 0xffff } else { ((1u32 << n) - 1) as __mmask16 };
            // SAFETY: positions at..at + n of each row are inside it; masked lanes are not read.
            let va: [__m512; R] =
                std::array::from_fn(|r| unsafe { _mm512_maskz_loadu_ps(mask, pa.add(r * a.stride + at)) });
            let vb: [__m512; C] =
                std::array::from_fn(|c| unsafe { _mm512_maskz_loadu_ps(mask, pb.add(c * b.stride + at)) });
            for r in 0..R {
                for c in 0..C {
                    acc[r][c] = _mm512_fmadd_ps(va[r], vb[c], acc[r][c]);
                }
            }
            at += 16;
        }
        for r in 0..R {
            for c in 0..C {
                out[(i + r) * b.count + j + c] += _mm512_reduce_add_ps(acc[r][c]);
            }
        }
    }
}

/// `∂w` of `y = conv2d(x, w)` given `∂y` (see [`super::conv2d_weight_grad`]): image by image
/// and block of output positions (the blocked GEMMs' blocks, so that the columns stay within
/// 1 MiB however wide the field), the columns of each group dotted with the rows of `∂y`.
pub(super) fn weight_grad<T: Float>(x: &[T], gy: &[T], geo: &Conv2dGeometry, s: &Sizes, gw: &mut [T]) {
    let plans = planned_blocks(geo, s);
    let c_all = geo.window.c;
    sum_into(geo.window.n, s.parallel, gw, |n, acc, cols: &mut Vec<T>| {
        for grp in 0..geo.groups {
            let img = &x[(n * c_all + grp * s.cg) * s.plane..][..s.cg * s.plane];
            let first = (n * geo.out_channels + grp * s.og) * s.l;
            for plan in &plans {
                let (l0, width) = (plan.columns()[0], plan.width());
                cols.resize(s.k * width, T::ZERO);
                im2col_columns(img, &geo.window, s.cg, plan, T::ZERO, cols, width);
                let g = Rows { data: &gy[first + l0..], count: s.og, stride: s.l };
                let c = Rows { data: cols, count: s.k, stride: width };
                dot_rows(g, c, width, &mut acc[grp * s.og * s.k..][..s.og * s.k]);
            }
        }
    });
}
