//! Winograd's minimal filtering F(2×2, 3×3): a 3×3, stride-1 convolution with 2.25× fewer
//! multiplications (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).
//!
//! In one dimension, two outputs of a 3-tap correlation, `y0 = d0·g0 + d1·g1 + d2·g2` and
//! `y1 = d1·g0 + d2·g1 + d3·g2`, take six multiplications. Winograd's identity takes four:
//! ```text
//! m1 = (d0 − d2)·g0            m2 = (d1 + d2)·(g0 + g1 + g2)/2
//! m4 = (d1 − d3)·g2            m3 = (d2 − d1)·(g0 − g1 + g2)/2
//! y0 = m1 + m2 + m3            y1 = m2 − m3 − m4
//! ```
//! The sums of `g` depend on the weights only and are made once. In matrix form, `y = Aᵀ[(G g) ⊙
//! (Bᵀ d)]` with the 4×3 `G`, 4×4 `Bᵀ` and 2×4 `Aᵀ` below; nested in two dimensions, a 2×2 output
//! tile is `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A` from a 4×4 input tile `d`: 16 multiplications instead
//! of 36. Summed over input channels, the 16 element-wise products become 16 matrix products, one
//! per position `ξ` of the 4×4 tile:
//! ```text
//! U[ξ] = (G w[o, c] Gᵀ)[ξ]        [O × C]   the weights, transformed once
//! V[ξ] = (Bᵀ d[c, tile] B)[ξ]     [C × P]   the input tiles (P tiles)
//! M[ξ] = U[ξ] · V[ξ]              [O × P]
//! y[o, tile] = Aᵀ M[o, tile] A    (2×2, cut at the image's edge)
//! ```
//! The map from `x` to `y` is linear, and so is the map from `w` to `y`; the gradients are the
//! adjoints of the same steps taken in reverse (each transform's adjoint is its transpose):
//! ```text
//! ∂M[o, tile] = A ∂Y Aᵀ                         (∂Y: the 2×2 tile of ∂y, zero past the edge)
//! ∂V[ξ] = U[ξ]ᵀ · ∂M[ξ]     ∂x += B ∂V Bᵀ       (tiles overlap by two pixels: summed)
//! ∂U[ξ] = ∂M[ξ] · V[ξ]ᵀ     ∂w = Gᵀ ∂U G
//! ```
//! **Layout: channels last, one channel per SIMD lane.** Each image is first transposed to
//! `[H·W, C]` (16 × 16 blocks in registers), so that a tap of a 4×4 window is one contiguous run
//! of channels. A tile's 16 taps for 16 channels are then 16 vector loads, its transform 32
//! vector additions, and its 16 results 16 vector stores into `V[ξ]` laid out `[P, C]` (a row
//! per tile). The products are taken in that orientation, `Mᵀ[ξ] = V[ξ] · U[ξ]ᵀ` (`[P, O]`),
//! whose second operand is the small transformed weight, read in place; `∂U[ξ] = ∂Mᵀ[ξ]ᵀ ·
//! V[ξ]` reads its first operand transposed, which the few-rows GEMM allows. The outputs come
//! back channels last and are transposed to `[O, OH·OW]`. Channel counts are padded with zero
//! channels to whole SIMD blocks. An earlier layout (one *tile* per lane, the windows unfolded
//! by `im2col` with stride 2) spent most of its time gathering runs of 6–14 values; this one
//! took the 13² layer of the MNIST CNN from 5.6 to 3.7–4.4 ms and the 56² one from 110 to 81 ms.
//!
//! Tiles are handled a chunk of whole images at a time (about 128 tiles), so that the
//! transformed tiles and products stay in L2; each task owns a block of whole images, so no two
//! threads add to the same pixel of `∂x`.
//!
//! In exact arithmetic this is the convolution; in floating point the transforms' additions (and

use super::conv2d::Conv2dGeometry;
use super::cpu::checked_output;
use crate::parallel::{for_each_chunk, sum_into, Scratch as Cached};
use crate::simd::vectorized;
use crate::{Float, Slot};
use rayon::prelude::*;

/// Channels transformed together, one per SIMD lane (one AVX-512 register of f32).
const LANES: usize = 16;

/// Tiles transformed and multiplied at a time (whole images, at least one): the chunk's
/// transformed tiles and products, `16 · 128 · (C + O)` values, are 768 KiB for 32 input and 64
/// output channels, so they stay in L2 between the transforms and the products.
const CHUNK_TILES: usize = 128;

/// Multiply-adds (of the direct form) below which the work stays on the calling thread.
const PAR_MIN_MACS: usize = 1 << 22;

/// Whether [`forward`], [`input_grad`] and [`weight_grad`] can compute this convolution: a 3×3
/// kernel, stride 1, no dilation, one group (any size, padding and channel count).
pub fn supports(geo: &Conv2dGeometry) -> bool {
    let g = &geo.window;
    g.kernel == [3, 3]
        && g.stride == [1, 1]
        && g.dilation == [1, 1]
        && geo.groups == 1
        && g.output_size().is_some_and(|(oh, ow)| oh > 0 && ow > 0)
}

/// Whether the kernels of [`super::conv2d`] use Winograd for this convolution: where it
/// [`supports`] it, with at least 16 input and 16 output channels (a whole SIMD block: fewer
/// are padded to 16 with zeros, and the padding costs more than Winograd saves). Measured with
/// `cargo bench --bench conv -- conv_algorithm` (2-core AMD EPYC, fwd+bwd, Winograd against the
/// blocked GEMMs): N64·C32 → 64 on 7² 1.28–1.41 vs 1.62–1.65 ms, on 13² 3.7–4.4 vs 6.9–7.3 ms;
/// N64·C16·13² → 16 0.89–1.03 vs 1.63–1.81 ms; N64·C8·13² → 8 0.91–1.04 vs 0.67–0.71 ms (not
/// taken); N32·C64·56² → 64, padding 1, 81–104 vs 136–140 ms.
pub fn applies(geo: &Conv2dGeometry) -> bool {
    supports(geo) && geo.window.c >= LANES && geo.out_channels >= LANES
}

/// Panics unless Winograd [`supports`] the geometry and the buffers have its lengths (the
/// callers check both; a panic here is a bug in the caller).
fn check(geo: &Conv2dGeometry, lengths: [usize; 3], expected: [usize; 3]) {
    assert!(supports(geo), "winograd: not a 3×3 stride-1 ungrouped convolution: {geo:?}");
    assert_eq!(lengths, expected, "winograd: buffer lengths");
}

/// The tile grid of one geometry, and how the work is cut up.
struct Tiles {
    /// Input height and width, and padding per axis.
    h: usize,
    w: usize,
    pad: [usize; 2],
    /// Output height and width.
    oh: usize,
    ow: usize,
    /// Tiles per column and per row of the output (2×2 outputs each), and per image.
    th: usize,
    tw: usize,
    per_image: usize,
    /// Input and output channels, and both rounded up to whole SIMD blocks ([`LANES`]): the
    /// channels-last buffers and the products are padded with zero channels to these.
    c: usize,
    o: usize,
    cp: usize,
    op: usize,
    /// Images per task, and per chunk within a task.
    images: usize,
    chunk_images: usize,
    parallel: bool,
}

impl Tiles {
    fn new(geo: &Conv2dGeometry) -> Tiles {
        let g = &geo.window;
        let (oh, ow) = checked_output(g);
        let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
        let macs = g.n.saturating_mul(g.c).saturating_mul(geo.out_channels).saturating_mul(9 * oh * ow);
        let threads = rayon::current_num_threads();
        let parallel = macs >= PAR_MIN_MACS && threads > 1;
        // Two tasks per thread share the images out.
        let images = if parallel { g.n.div_ceil(2 * threads) } else { g.n }.max(1);
        let chunk_images = (CHUNK_TILES / (th * tw)).clamp(1, images);
        let (c, o) = (g.c, geo.out_channels);
        Tiles {
            h: g.h,
            w: g.w,
            pad: g.padding,
            oh,
            ow,
            th,
            tw,
            per_image: th * tw,
            c,
            o,
            cp: c.next_multiple_of(LANES),
            op: o.next_multiple_of(LANES),
            images,
            chunk_images,
            parallel,
        }
    }

    /// The chunks of a task of `nb` images: image ranges `j0..j1`.
    fn chunks(&self, nb: usize) -> impl Iterator<Item = [usize; 2]> + '_ {
        (0..nb).step_by(self.chunk_images).map(move |j0| [j0, (j0 + self.chunk_images).min(nb)])
    }

    /// The input pixel under tap `k` (row-major in the 4×4 window) of tile `(ty, tx)`, if it is
    /// inside the image (padding reads 0): its index `y·W + x`.
    #[inline(always)]
    fn input_pixel(&self, ty: usize, tx: usize, k: usize) -> Option<usize> {
        let y = (2 * ty + k / 4).checked_sub(self.pad[0]).filter(|&y| y < self.h)?;
        let x = (2 * tx + k % 4).checked_sub(self.pad[1]).filter(|&x| x < self.w)?;
        Some(y * self.w + x)
    }

    /// The output position `r·2 + s` of tile `(ty, tx)`, if it is inside the output (the last
    /// row or column of tiles is cut when the output's size is odd): its index `y·OW + x`.
    #[inline(always)]
    fn output_pixel(&self, ty: usize, tx: usize, k: usize) -> Option<usize> {
        let (y, x) = (2 * ty + k / 2, 2 * tx + k % 2);
        (y < self.oh && x < self.ow).then(|| y * self.ow + x)
    }
}

/// The weights, transformed and padded with zero channels: `U[ξ][o][c] = (G w[o, c] Gᵀ)[ξ]`,
/// `[16, op, cp]`, or with `transposed` `U[ξ]ᵀ`, `[16, cp, op]`.
fn transform_weights<T: Float>(w: &[T], tiles: &Tiles, transposed: bool) -> Vec<T> {
    let (o, c, op, cp) = (tiles.o, tiles.c, tiles.op, tiles.cp);
    let mut u = vec![T::ZERO; 16 * op * cp];
    for oi in 0..o {
        for ci in 0..c {
            let g = &w[(oi * c + ci) * 9..][..9];
            let m = weight_tile(std::array::from_fn(|i| g[i]));
            let at = if transposed { ci * op + oi } else { oi * cp + ci };
            for (xi, &v) in m.iter().enumerate() {
                u[xi * op * cp + at] = v;
            }
        }
    }
    u
}

/// `G g Gᵀ` for one 3×3 kernel `g` (row-major), as 16 values: `G` maps a column `[a0, a1, a2]`
/// to `[a0, (a0 + a1 + a2)/2, (a0 − a1 + a2)/2, a2]`.
#[inline(always)]
fn weight_tile<T: Float>(g: [T; 9]) -> [T; 16] {
    let half = T::from_f64(0.5);
    let col = |a: [T; 3]| [a[0], (a[0] + a[1] + a[2]) * half, (a[0] - a[1] + a[2]) * half, a[2]];
    // G g: each column of g through G (4 × 3), then each row of that through G (4 × 4).
    let gg: [[T; 3]; 4] = {
        let cols: [[T; 4]; 3] = std::array::from_fn(|j| col([g[j], g[3 + j], g[6 + j]]));
        std::array::from_fn(|i| [cols[0][i], cols[1][i], cols[2][i]])
    };
    let mut out = [T::ZERO; 16];
    for (i, row) in gg.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&col(*row));
    }
    out
}

/// `Gᵀ ∂U G` for one 4×4 gradient tile (row-major), the adjoint of [`weight_tile`]: `Gᵀ` maps
/// `[a0, a1, a2, a3]` to `[a0 + (a1 + a2)/2, (a1 − a2)/2, (a1 + a2)/2 + a3]`.
#[inline(always)]
fn weight_tile_adjoint<T: Float>(u: &[T]) -> [T; 9] {
    let half = T::from_f64(0.5);
    let col = |a: [T; 4]| [a[0] + (a[1] + a[2]) * half, (a[1] - a[2]) * half, (a[1] + a[2]) * half + a[3]];
    let rows: [[T; 3]; 4] = std::array::from_fn(|i| col([u[4 * i], u[4 * i + 1], u[4 * i + 2], u[4 * i + 3]]));
    let mut out = [T::ZERO; 9];
    for j in 0..3 {
        let c = col([rows[0][j], rows[1][j], rows[2][j], rows[3][j]]);
        for i in 0..3 {
            out[3 * i + j] = c[i];
        }
    }
    out
}

/// A 1-D map `f` of 4 values applied down each column of a 4×4 tile (row-major), then along
/// each row of the result: `F d Fᵀ` for the matrix `F` of `f`.
#[inline(always)]
fn nested_4x4<T: Float>(d: [T; 16], f: impl Fn([T; 4]) -> [T; 4]) -> [T; 16] {
    let mut c = [T::ZERO; 16];
    for j in 0..4 {
        let col = f([d[j], d[4 + j], d[8 + j], d[12 + j]]);
        (c[j], c[4 + j], c[8 + j], c[12 + j]) = (col[0], col[1], col[2], col[3]);
    }
    let mut out = [T::ZERO; 16];
    for i in 0..4 {
        out[4 * i..4 * i + 4].copy_from_slice(&f([c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]]));
    }
    out
}

/// `Bᵀ d B` for one 4×4 input tile (row-major): `Bᵀ` maps `[a0, a1, a2, a3]` to
/// `[a0 − a2, a1 + a2, a2 − a1, a1 − a3]`, down each column, then along each row.
#[inline(always)]
fn input_tile<T: Float>(d: [T; 16]) -> [T; 16] {
    nested_4x4(d, |[a0, a1, a2, a3]| [a0 - a2, a1 + a2, a2 - a1, a1 - a3])
}

/// `B ∂V Bᵀ`, the adjoint of [`input_tile`]: `B` maps `[a0, a1, a2, a3]` to `[a0, a1 − a2 + a3,
/// a2 + a1 − a0, −a3]`.
#[inline(always)]
fn input_tile_adjoint<T: Float>(v: [T; 16]) -> [T; 16] {
    nested_4x4(v, |[a0, a1, a2, a3]| [a0, a1 - a2 + a3, a2 + a1 - a0, T::ZERO - a3])
}

/// `Aᵀ M A`, the 2×2 output tile of a 4×4 product tile: `Aᵀ` maps `[a0, a1, a2, a3]` to
/// `[a0 + a1 + a2, a1 − a2 − a3]`.
#[inline(always)]
fn output_tile<T: Float>(m: [T; 16]) -> [T; 4] {
    let mut c = [T::ZERO; 8];
    for j in 0..4 {
        let (a0, a1, a2, a3) = (m[j], m[4 + j], m[8 + j], m[12 + j]);
        (c[j], c[4 + j]) = (a0 + a1 + a2, a1 - a2 - a3);
    }
    let mut out = [T::ZERO; 4];
    for i in 0..2 {
        let (a0, a1, a2, a3) = (c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]);
        (out[2 * i], out[2 * i + 1]) = (a0 + a1 + a2, a1 - a2 - a3);
    }
    out
}

/// `A ∂Y Aᵀ`, the adjoint of [`output_tile`]: `A` maps `[a0, a1]` to `[a0, a0 + a1, a0 − a1, −a1]`.
#[inline(always)]
fn output_tile_adjoint<T: Float>(y: [T; 4]) -> [T; 16] {
    let mut c = [T::ZERO; 8];
    for j in 0..2 {
        let (a0, a1) = (y[j], y[2 + j]);
        (c[j], c[2 + j], c[4 + j], c[6 + j]) = (a0, a0 + a1, a0 - a1, T::ZERO - a1);
    }
    let mut out = [T::ZERO; 16];
    for i in 0..4 {
        let (a0, a1) = (c[2 * i], c[2 * i + 1]);
        (out[4 * i], out[4 * i + 1], out[4 * i + 2], out[4 * i + 3]) = (a0, a0 + a1, a0 - a1, T::ZERO - a1);
    }
    out
}

/// One SIMD block of [`LANES`] channels' values.
type Lanes<T> = [T; LANES];

/// A tile transform applied lane by lane: lane `l` of output `k` is `f`'s `k`-th result for the
/// tile made of lane `l` of each input (one channel per lane). Inlined into a [`vectorized`]
/// loop, the lanes become the lanes of vector instructions.
#[inline(always)]
fn per_lane<T: Float, const I: usize, const O: usize>(
    ins: &[Lanes<T>; I],
    f: impl Fn([T; I]) -> [T; O],
) -> [Lanes<T>; O] {
    let mut outs = [[T::ZERO; LANES]; O];
    for l in 0..LANES {
        let r = f(std::array::from_fn(|k| ins[k][l]));
        for k in 0..O {
            outs[k][l] = r[k];
        }
    }
    outs
}

/// `dst[q·dst_stride + j] = src[j·src_stride + q]` for `j < rows`, `q < cols`: on f32 with
/// AVX-512, 16 × 16 blocks at a time in registers.
fn transpose<T: Float, O: Slot<T>>(
    [rows, cols]: [usize; 2],
    src: &[T],
    src_stride: usize,
    dst: &mut [O],
    dst_stride: usize,
) {
    if rows == 0 || cols == 0 {
        return;
    }
    assert!(
        (rows - 1) * src_stride + cols <= src.len() && (cols - 1) * dst_stride + rows <= dst.len(),
        "winograd: transpose out of bounds"
    );
    #[cfg(target_arch = "x86_64")]
    if let (Some(src), true) = (T::as_f32(src), crate::simd::has_avx512()) {
        // SAFETY: AVX-512 is present; every index read and written is inside `src` and `dst`
        // (asserted above). `T` is f32 (`as_f32` said so), and `O` is `T` or `MaybeUninit<T>`
        // (`Slot` is sealed), laid out as f32, so `dst` may be written as f32s.
        unsafe {
            crate::matmul::avx512_rows::transpose(
                rows,
                cols,
                src.as_ptr(),
                src_stride,
                dst.as_mut_ptr() as *mut f32,
                dst_stride,
            )
        };
        return;
    }
    for j in 0..rows {
        for q in 0..cols {
            dst[q * dst_stride + j].set(src[j * src_stride + q]);
        }
    }
}

/// One image's `c` planes of `hw` values (`src`, channel-major) laid out channels last in
/// `dst`: `hw` rows of `cp` channels, `dst[p·cp + ch] = src[ch·hw + p]`, channels `c..cp` zero.
fn to_channels_last<T: Float>(src: &[T], c: usize, hw: usize, cp: usize, dst: &mut Vec<T>) {
    dst.resize(hw * cp, T::ZERO);
    transpose([c, hw], src, hw, dst, cp);
    if c < cp {
        dst.chunks_exact_mut(cp).for_each(|row| row[c..].fill(T::ZERO));
    }
}

/// The inverse of [`to_channels_last`]: channels `..c` of the `hw × cp` rows of `src` back to
/// `c` planes of `hw` values in `dst`.
fn from_channels_last<T: Float, O: Slot<T>>(src: &[T], c: usize, hw: usize, cp: usize, dst: &mut [O]) {
    transpose([hw, c], src, cp, dst, hw);
}

/// A task's scratch: the chunk's transformed tiles (`v`), products (`m`) and weight-gradient
/// products, and one image laid out channels last (`image`).
#[derive(Default)]
struct Scratch<T> {
    v: Vec<T>,
    m: Vec<T>,
    product: Vec<T>,
    image: Vec<T>,
}

/// The tiles of one image, read from pixels and written as transformed blocks: for each tile
/// `t` and block of [`LANES`] channels, the `I` vectors at the pixels `pixel(ty, tx, k)` of
/// `src` (channels last, `width` channels per pixel; zeros where a tap is off the image), through
/// `f` lane by lane, to `dst[ξ][t0 + t]` (16 blocks of `pb × width`). The input transform and the
/// output transform's adjoint.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pixels_to_blocks<T: Float, const I: usize>(
    src: &[T],
    tiles: &Tiles,
    width: usize,
    pixel: impl Fn(usize, usize, usize) -> Option<usize>,
    f: impl Fn([T; I]) -> [T; 16],
    dst: &mut [T],
    pb: usize,
    t0: usize,
) {
    vectorized(
        #[inline(always)]
        || {
            for ty in 0..tiles.th {
                for tx in 0..tiles.tw {
                    let t = t0 + ty * tiles.tw + tx;
                    let pixels: [Option<usize>; I] = std::array::from_fn(|k| pixel(ty, tx, k));
                    for c0 in (0..width).step_by(LANES) {
                        let mut ins = [[T::ZERO; LANES]; I];
                        for (lanes, p) in ins.iter_mut().zip(pixels) {
                            if let Some(p) = p {
                                lanes.copy_from_slice(&src[p * width + c0..][..LANES]);
                            }
                        }
                        for (xi, r) in per_lane(&ins, &f).iter().enumerate() {
                            dst[(xi * pb + t) * width + c0..][..LANES].copy_from_slice(r);
                        }
                    }
                }
            }
        },
    );
}

/// The reverse of [`pixels_to_blocks`]: for each tile `t` and block of channels, the 16 vectors
/// of `src[ξ][t0 + t]` through `f`, each of the `O` results handed to `put(lanes at its pixel,
/// result, c0)` in `dst` (channels last), those off the image or output dropped. The output
/// transform and the input transform's adjoint.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn blocks_to_pixels<T: Float, const O: usize>(
    src: &[T],
    tiles: &Tiles,
    width: usize,
    pb: usize,
    t0: usize,
    f: impl Fn([T; 16]) -> [T; O],
    pixel: impl Fn(usize, usize, usize) -> Option<usize>,
    dst: &mut [T],
    put: impl Fn(&mut [T], &[T; LANES], usize),
) {
    vectorized(
        #[inline(always)]
        || {
            for ty in 0..tiles.th {
                for tx in 0..tiles.tw {
                    let t = t0 + ty * tiles.tw + tx;
                    for c0 in (0..width).step_by(LANES) {
                        let mut ins = [[T::ZERO; LANES]; 16];
                        for (xi, lanes) in ins.iter_mut().enumerate() {
                            lanes.copy_from_slice(&src[(xi * pb + t) * width + c0..][..LANES]);
                        }
                        for (k, r) in per_lane(&ins, &f).iter().enumerate() {
                            if let Some(p) = pixel(ty, tx, k) {
                                put(&mut dst[p * width + c0..][..LANES], r, c0);
                            }
                        }
                    }
                }
            }
        },
    );
}

/// The input transform of one image's tiles: `v[ξ][t0 + t][c] = (Bᵀ d B)[ξ]` for the 4×4 window
/// `d` of tile `t` on channel `c` of `xt` (the image channels last, `H·W × cp`), padding reading
/// 0; `v` holds `16` blocks of `pb × cp`.
fn transform_input<T: Float>(xt: &[T], tiles: &Tiles, v: &mut [T], pb: usize, t0: usize) {
    let pixel = |ty, tx, k| tiles.input_pixel(ty, tx, k);
    pixels_to_blocks::<T, 16>(xt, tiles, tiles.cp, pixel, input_tile::<T>, v, pb, t0);
}

/// The adjoint of [`transform_input`]: adds `B ∂V Bᵀ` of each of one image's tiles (`∂V[ξ]` at
/// `v[ξ][t0 + t]`) onto the 4×4 window it came from in `gxt` (`H·W × cp`, channels last),
/// dropping the taps on padding; windows overlap by two pixels, and their parts add up.
fn transform_input_grad<T: Float>(v: &[T], tiles: &Tiles, pb: usize, t0: usize, gxt: &mut [T]) {
    let pixel = |ty, tx, k| tiles.input_pixel(ty, tx, k);
    let add = |d: &mut [T], r: &[T; LANES], _| d.iter_mut().zip(r).for_each(|(d, &g)| *d += g);
    blocks_to_pixels::<T, 16>(v, tiles, tiles.cp, pb, t0, input_tile_adjoint::<T>, pixel, gxt, add);
}

/// The output transform of one image's tiles: `yt[y·OW + x][o]` for the 2×2 outputs `Aᵀ M A` of
/// each tile's product (`M[ξ]` at `m[ξ][t0 + t]`, `op` channels) plus `bias[o]`, those past the
/// output's edge dropped; `yt` is `OH·OW × op`, channels last.
fn transform_output<T: Float>(m: &[T], tiles: &Tiles, bias: &[T], pb: usize, t0: usize, yt: &mut [T]) {
    let pixel = |ty, tx, k| tiles.output_pixel(ty, tx, k);
    let set = |d: &mut [T], r: &[T; LANES], c0: usize| {
        d.iter_mut().zip(r.iter().zip(&bias[c0..c0 + LANES])).for_each(|(d, (&v, &b))| *d = v + b)
    };
    blocks_to_pixels::<T, 4>(m, tiles, tiles.op, pb, t0, output_tile::<T>, pixel, yt, set);
}

/// The adjoint of [`transform_output`]: `m[ξ][t0 + t][o] = (A ∂Y Aᵀ)[ξ]` for the 2×2 tile `∂Y`
/// of one image's tile `t` in `gyt` (`OH·OW × op`, channels last), outputs past the edge
/// reading 0.
fn transform_output_grad<T: Float>(gyt: &[T], tiles: &Tiles, m: &mut [T], pb: usize, t0: usize) {
    let pixel = |ty, tx, k| tiles.output_pixel(ty, tx, k);
    pixels_to_blocks::<T, 4>(gyt, tiles, tiles.op, pixel, output_tile_adjoint::<T>, m, pb, t0);
}

/// The transformed input tiles of images `j0..j1` of a task starting at image `img0`:
/// `sc.v`, 16 blocks of `pb × cp`, image `j`'s tiles from row `(j − j0)·tiles per image`.
fn gather_input<T: Float>(x: &[T], tiles: &Tiles, img0: usize, [j0, j1]: [usize; 2], sc: &mut Scratch<T>) {
    let (hw, l) = (tiles.h * tiles.w, tiles.per_image);
    let pb = (j1 - j0) * l;
    sc.v.resize(16 * pb * tiles.cp, T::ZERO);
    for j in j0..j1 {
        let image = &x[(img0 + j) * tiles.c * hw..][..tiles.c * hw];
        to_channels_last(image, tiles.c, hw, tiles.cp, &mut sc.image);
        transform_input(&sc.image, tiles, &mut sc.v, pb, (j - j0) * l);
    }
}

/// The output gradient's tiles of images `j0..j1`, through the adjoint of the output transform:
/// `sc.m`, 16 blocks of `pb × op`.
fn gather_output_grad<T: Float>(gy: &[T], tiles: &Tiles, img0: usize, [j0, j1]: [usize; 2], sc: &mut Scratch<T>) {
    let (ohw, l) = (tiles.oh * tiles.ow, tiles.per_image);
    let pb = (j1 - j0) * l;
    sc.m.resize(16 * pb * tiles.op, T::ZERO);
    for j in j0..j1 {
        let image = &gy[(img0 + j) * tiles.o * ohw..][..tiles.o * ohw];
        to_channels_last(image, tiles.o, ohw, tiles.op, &mut sc.image);
        transform_output_grad(&sc.image, tiles, &mut sc.m, pb, (j - j0) * l);
    }
}

/// `out[ξ] = a[ξ] · b[ξ]` for the 16 positions: `a[ξ]` is `rows × inner` at `a[ξ·rows·inner..]`
/// read with strides `a_strides`, `b[ξ]` the dense `inner × cols` matrix at `b[ξ·inner·cols..]`,
/// `out[ξ]` the dense `rows × cols` block at `out[ξ·rows·cols..]`.
fn sixteen_products<T: Float>(
    [rows, inner, cols]: [usize; 3],
    a: &[T],
    a_strides: [isize; 2],
    b: &[T],
    out: &mut Vec<T>,
) {
    out.resize(16 * rows * cols, T::ZERO);
    let last_a = (rows - 1) as isize * a_strides[0] + (inner - 1) as isize * a_strides[1];
    assert!(
        a.len() >= 16 * rows * inner && last_a < (rows * inner) as isize && b.len() >= 16 * inner * cols,
        "winograd: operands"
    );
    for xi in 0..16 {
        // SAFETY: A's ξ-th matrix is the block of rows·inner values at ξ·rows·inner, read with
        // strides whose last element lies inside it (asserted); B's is the dense inner × cols
        // block at ξ·inner·cols, and C the dense rows × cols block at ξ·rows·cols of `out`
        // (resized above).
        unsafe {
            T::gemm(
                rows,
                inner,
                cols,
                a.as_ptr().add(xi * rows * inner),
                a_strides,
                b.as_ptr().add(xi * inner * cols),
                [cols as isize, 1],
                out.as_mut_ptr().add(xi * rows * cols),
                cols as isize,
            );
        }
    }
}

/// `y = conv2d(x, w)` (see [`super::conv2d`]) for a geometry Winograd [`supports`].
/// With `bias` (`[O]`), `b[o]` is added to every output of channel `o` by the output transform.
pub fn forward<T: Float, O: Slot<T>>(x: &[T], w: &[T], bias: Option<&[T]>, geo: &Conv2dGeometry, y: &mut [O]) {
    check(geo, [x.len(), w.len(), y.len()], [geo.input_len(), geo.weight_len(), geo.output_len()]);
    assert!(bias.is_none_or(|b| b.len() == geo.out_channels), "winograd: bias length");
    let tiles = Tiles::new(geo);
    let ut = transform_weights(w, &tiles, true);
    // The bias padded with zeros to the output's SIMD blocks.
    let mut padded_bias = vec![T::ZERO; tiles.op];
    if let Some(b) = bias {
        padded_bias[..b.len()].copy_from_slice(b);
    }
    let (ohw, l) = (tiles.oh * tiles.ow, tiles.per_image);
    let image_len = tiles.o * ohw;
    for_each_chunk(y, tiles.images * image_len, tiles.parallel, |task, y, sc: &mut Scratch<T>| {
        let (img0, nb) = (task * tiles.images, y.len() / image_len);
        for [j0, j1] in tiles.chunks(nb) {
            let pb = (j1 - j0) * l;
            gather_input(x, &tiles, img0, [j0, j1], sc);
            // M[ξ] = V[ξ] · U[ξ]ᵀ: pb × op, one row per tile.
            sixteen_products([pb, tiles.cp, tiles.op], &sc.v, [tiles.cp as isize, 1], &ut, &mut sc.m);
            for j in j0..j1 {
                sc.image.resize(ohw * tiles.op, T::ZERO);
                transform_output(&sc.m, &tiles, &padded_bias, pb, (j - j0) * l, &mut sc.image);
                from_channels_last(&sc.image, tiles.o, ohw, tiles.op, &mut y[j * image_len..][..image_len]);
            }
        }
    });
}

/// The input-gradient step of one chunk (images `j0..j1` of a task, their `∂M` in `sc.m`):
/// `∂V[ξ] = ∂M[ξ] · U[ξ]` (`pb × cp`), each image's tiles folded back onto its pixels and
/// transposed to channel-major planes in the task's `gx`.
fn fold_input_grad<T: Float>(u: &[T], tiles: &Tiles, [j0, j1]: [usize; 2], sc: &mut Scratch<T>, gx: &mut [T]) {
    let (hw, l, cp) = (tiles.h * tiles.w, tiles.per_image, tiles.cp);
    let (pb, image_len) = ((j1 - j0) * l, tiles.c * hw);
    sixteen_products([pb, tiles.op, cp], &sc.m, [tiles.op as isize, 1], u, &mut sc.v);
    for j in j0..j1 {
        sc.image.clear();
        sc.image.resize(hw * cp, T::ZERO);
        transform_input_grad(&sc.v, tiles, pb, (j - j0) * l, &mut sc.image);
        from_channels_last(&sc.image, tiles.c, hw, cp, &mut gx[j * image_len..][..image_len]);
    }
}

/// The weight-gradient step of one chunk (its `∂M` in `sc.m`, its `V` in `sc.v`): `∂U[ξ] +=
/// ∂M[ξ]ᵀ · V[ξ]` (`op × cp`), `∂M[ξ]` (`pb × op`) read transposed (strides 1, op).
fn add_weight_grad<T: Float>(tiles: &Tiles, pb: usize, sc: &mut Scratch<T>, acc: &mut [T]) {
    let (op, cp) = (tiles.op, tiles.cp);
    sixteen_products([op, pb, cp], &sc.m, [1, op as isize], &sc.v, &mut sc.product);
    acc.iter_mut().zip(&sc.product).for_each(|(a, &p)| *a += p);
}

/// `∂w = Gᵀ ∂U G` for every (output, input) channel pair, from the summed `∂U` (`[16, op, cp]`).
fn weights_from_transformed<T: Float>(gu: &[T], tiles: &Tiles, gw: &mut [T]) {
    let (o, c, op, cp) = (tiles.o, tiles.c, tiles.op, tiles.cp);
    for oi in 0..o {
        for ci in 0..c {
            let tile: [T; 16] = std::array::from_fn(|xi| gu[xi * op * cp + oi * cp + ci]);
            gw[(oi * c + ci) * 9..][..9].copy_from_slice(&weight_tile_adjoint(&tile));
        }
    }
}

/// `∂x` of `y = conv2d(x, w)` given `∂y` (see [`super::conv2d_input_grad`]), for a geometry
/// Winograd [`supports`].
pub fn input_grad<T: Float>(gy: &[T], w: &[T], geo: &Conv2dGeometry, gx: &mut [T]) {
    check(geo, [gy.len(), w.len(), gx.len()], [geo.output_len(), geo.weight_len(), geo.input_len()]);
    let tiles = Tiles::new(geo);
    let u = transform_weights(w, &tiles, false);
    let image_len = tiles.c * tiles.h * tiles.w;
    for_each_chunk(gx, tiles.images * image_len, tiles.parallel, |task, gx, sc: &mut Scratch<T>| {
        let (img0, nb) = (task * tiles.images, gx.len() / image_len);
        for chunk in tiles.chunks(nb) {
            gather_output_grad(gy, &tiles, img0, chunk, sc);
            fold_input_grad(&u, &tiles, chunk, sc, gx);
        }
    });
}

/// `∂w` of `y = conv2d(x, w)` given `∂y` (see [`super::conv2d_weight_grad`]), for a
/// geometry Winograd [`supports`].
pub fn weight_grad<T: Float>(x: &[T], gy: &[T], geo: &Conv2dGeometry, gw: &mut [T]) {
    check(geo, [x.len(), gy.len(), gw.len()], [geo.input_len(), geo.output_len(), geo.weight_len()]);
    let tiles = Tiles::new(geo);
    let tasks = geo.window.n.div_ceil(tiles.images);
    // ∂U summed over every chunk of every task, then taken back through Gᵀ · G once.
    let mut gu = vec![T::ZERO; 16 * tiles.op * tiles.cp];
    sum_into(tasks, tiles.parallel, &mut gu, |task, acc, sc: &mut Scratch<T>| {
        let img0 = task * tiles.images;
        let nb = tiles.images.min(geo.window.n - img0);
        for [j0, j1] in tiles.chunks(nb) {
            gather_input(x, &tiles, img0, [j0, j1], sc);
            gather_output_grad(gy, &tiles, img0, [j0, j1], sc);
            add_weight_grad(&tiles, (j1 - j0) * tiles.per_image, sc, acc);
        }
    });
    weights_from_transformed(&gu, &tiles, gw);
}

/// Both gradients at once (see [`super::conv2d_backward`]): each chunk's output gradient is
/// transformed once (`∂M`) and used for `∂V = ∂M · U` (then `∂x`) and for `∂U += ∂Mᵀ · V`. The
/// weight gradient's partial sums are kept per task and added in task order, as
/// [`weight_grad`] adds them (`sum_into` with one range per task): the two give the same bits.
pub fn backward<T: Float>(x: &[T], gy: &[T], w: &[T], geo: &Conv2dGeometry, gx: &mut [T], gw: &mut [T]) {
    check(geo, [x.len(), gy.len(), w.len()], [geo.input_len(), geo.output_len(), geo.weight_len()]);
    check(geo, [gx.len(), gw.len(), 0], [geo.input_len(), geo.weight_len(), 0]);
    let tiles = Tiles::new(geo);
    let u = transform_weights(w, &tiles, false);
    let image_len = tiles.c * tiles.h * tiles.w;
    let (task_len, u_len) = (tiles.images * image_len, 16 * tiles.op * tiles.cp);
    let mut partials = vec![T::ZERO; geo.window.n.div_ceil(tiles.images) * u_len];
    let task = |task: usize, gx: &mut [T], acc: &mut [T]| {
        let mut sc = Cached::<Scratch<T>>::take();
        let sc = &mut *sc;
        let (img0, nb) = (task * tiles.images, gx.len() / image_len);
        for [j0, j1] in tiles.chunks(nb) {
            gather_output_grad(gy, &tiles, img0, [j0, j1], sc);
            fold_input_grad(&u, &tiles, [j0, j1], sc, gx);
            // The same ∂M with the chunk's transformed input (which overwrites ∂V in sc.v).
            gather_input(x, &tiles, img0, [j0, j1], sc);
            add_weight_grad(&tiles, (j1 - j0) * tiles.per_image, sc, acc);
        }
    };
    if tiles.parallel {
        gx.par_chunks_mut(task_len)
            .zip(partials.par_chunks_mut(u_len))
            .enumerate()
            .for_each(|(i, (gx, acc))| task(i, gx, acc));
    } else {
        gx.chunks_mut(task_len).zip(partials.chunks_mut(u_len)).enumerate().for_each(|(i, (gx, acc))| task(i, gx, acc));
    }
    let mut gu = vec![T::ZERO; u_len];
    for partial in partials.chunks_exact(u_len) {
        gu.iter_mut().zip(partial).for_each(|(g, &p)| *g += p);
    }
    weights_from_transformed(&gu, &tiles, gw);
}
