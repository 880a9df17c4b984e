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
//! Tiles are handled a chunk of whole images at a time (about 192 tiles), so that the transformed
//! tiles and products stay in L2; each task owns a block of whole images, so no two threads add
//! to the same pixel of `∂x`. Each plane's 4×4 windows are unfolded by `im2col` (kernel 4,
//! stride 2) and folded back by `col2im`, and every transform runs over many tiles at once, one
//! tile per SIMD lane (`transform_streams`).
//!
//! In exact arithmetic this is the convolution; in floating point the transforms' additions (and
//! the halving in `G`) round differently from a direct sum, within a few units of the direct
//! form's error (the kernel tests bound it). It pays on large images only: on small ones the
//! transforms cost more than the multiplications they save (see [`applies`]).

use super::conv2d::Conv2dGeometry;
use super::cpu::{checked_output, col2im_columns, im2col_columns, Plan};
use super::Window2d;
use crate::parallel::{for_each_chunk, sum_into};
use crate::simd::vectorized;
use crate::{Float, Slot};

/// Tiles transformed and multiplied at a time: `16 · (C + O) · 192` values, 1.5 MiB for 64 input
/// and output channels, most of it in L2.
const CHUNK_TILES: usize = 192;

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
/// [`supports`] it, with at least 8 input and 8 output channels and an output of at least 256
/// positions (64 tiles) per image. Below that the transforms cost more than the multiplications
/// they save. Measured with `cargo bench --bench conv -- conv_algorithm` (2-core AMD EPYC,
/// fwd+bwd, Winograd against the blocked GEMMs): 36 tiles per image (N64·C32·13² → 64) 8.4 vs
/// 7.9 ms; 196 tiles (N64·C32·28² → 64, padding 1) 30.8 vs 40.9 ms; 784 tiles (N32·C64·56² →
/// 64, padding 1) 109 vs 154 ms.
pub fn applies(geo: &Conv2dGeometry) -> bool {
    supports(geo)
        && geo.window.c >= 8
        && geo.out_channels >= 8
        && geo.window.output_size().is_some_and(|(oh, ow)| oh * ow >= 256)
}

/// Panics unless Winograd [`supports`] the geometry and the buffers have its lengths (the
/// callers check both; a panic here is a bug in the caller).
fn check(geo: &Conv2dGeometry, lengths: [usize; 3], expected: [usize; 3]) {
    assert!(supports(geo), "winograd: not a 3×3 stride-1 ungrouped convolution: {geo:?}");
    assert_eq!(lengths, expected, "winograd: buffer lengths");
}

/// The tile grid of one geometry, and how the work is cut up.
struct Tiles {
    /// Output height and width.
    oh: usize,
    ow: usize,
    /// Tiles per column and per row of the output (2×2 outputs each), and per image.
    th: usize,
    tw: usize,
    per_image: usize,
    /// Images per task, and per chunk within a task.
    images: usize,
    chunk_images: usize,
    parallel: bool,
    /// The 4×4 input windows as an `im2col` of one plane: kernel 4×4, stride 2, the
    /// convolution's padding, over the plane grown by a row (column) of zeros when the output
    /// height (width) is odd, so that the last tile's window fits. `grown` says whether it is.
    windows: Window2d,
    grown: bool,
    plan: Plan,
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
        let windows = Window2d {
            n: 1,
            c: 1,
            h: g.h + oh % 2,
            w: g.w + ow % 2,
            kernel: [4, 4],
            stride: [2, 2],
            padding: g.padding,
            dilation: [1, 1],
        };
        debug_assert_eq!(windows.output_size(), Some((th, tw)));
        let plan = Plan::new(&windows, [0, th * tw]);
        let grown = oh % 2 == 1 || ow % 2 == 1;
        Tiles { oh, ow, th, tw, per_image: th * tw, images, chunk_images, parallel, windows, grown, plan }
    }

    /// The chunks of a task of `nb` images: image ranges `j0..j1`.
    fn chunks(&self, nb: usize) -> impl Iterator<Item = [usize; 2]> + '_ {
        (0..nb).step_by(self.chunk_images).map(move |j0| [j0, (j0 + self.chunk_images).min(nb)])
    }

    /// One input plane (`h × w`) as `im2col` reads it: itself, or copied into `grown` with the
    /// extra row and column of zeros.
    fn input_plane<'a, T: Float>(&self, plane: &'a [T], w: usize, grown: &'a mut Vec<T>) -> &'a [T] {
        if !self.grown {
            return plane;
        }
        let (gh, gw) = (self.windows.h, self.windows.w);
        grown.clear();
        grown.resize(gh * gw, T::ZERO);
        for (dst, src) in grown.chunks_exact_mut(gw).zip(plane.chunks_exact(w)) {
            dst[..w].copy_from_slice(src);
        }
        grown
    }
}

/// The weights, transformed: `U[ξ][o][c] = (G w[o, c] Gᵀ)[ξ]`, `[16, O, C]`.
fn transform_weights<T: Float>(w: &[T], o: usize, c: usize) -> Vec<T> {
    let mut u = vec![T::ZERO; 16 * o * c];
    for oc in 0..o * c {
        let g = &w[oc * 9..][..9];
        let m = weight_tile(std::array::from_fn(|i| g[i]));
        for (xi, &v) in m.iter().enumerate() {
            u[xi * o * c + oc] = v;
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

/// `Bᵀ d B` for one 4×4 input tile (row-major): `Bᵀ` maps `[a0, a1, a2, a3]` to
/// `[a0 − a2, a1 + a2, a2 − a1, a1 − a3]`, down each column, then along each row.
#[inline(always)]
fn input_tile<T: Float>(d: [T; 16]) -> [T; 16] {
    let mut c = [T::ZERO; 16];
    for j in 0..4 {
        let (a0, a1, a2, a3) = (d[j], d[4 + j], d[8 + j], d[12 + j]);
        (c[j], c[4 + j], c[8 + j], c[12 + j]) = (a0 - a2, a1 + a2, a2 - a1, a1 - a3);
    }
    let mut out = [T::ZERO; 16];
    for i in 0..4 {
        let (a0, a1, a2, a3) = (c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]);
        (out[4 * i], out[4 * i + 1], out[4 * i + 2], out[4 * i + 3]) = (a0 - a2, a1 + a2, a2 - a1, a1 - a3);
    }
    out
}

/// `B ∂V Bᵀ`, the adjoint of [`input_tile`]: `B` maps `[a0, a1, a2, a3]` to `[a0, a1 − a2 + a3,
/// a2 + a1 − a0, −a3]`.
#[inline(always)]
fn input_tile_adjoint<T: Float>(v: [T; 16]) -> [T; 16] {
    let mut c = [T::ZERO; 16];
    for j in 0..4 {
        let (a0, a1, a2, a3) = (v[j], v[4 + j], v[8 + j], v[12 + j]);
        (c[j], c[4 + j], c[8 + j], c[12 + j]) = (a0, a1 - a2 + a3, a2 + a1 - a0, T::ZERO - a3);
    }
    let mut out = [T::ZERO; 16];
    for i in 0..4 {
        let (a0, a1, a2, a3) = (c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]);
        (out[4 * i], out[4 * i + 1], out[4 * i + 2], out[4 * i + 3]) = (a0, a1 - a2 + a3, a2 + a1 - a0, T::ZERO - a3);
    }
    out
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

/// Tiles per block of [`transform_streams`]: one AVX-512 register of f32 per stream.
const LANES: usize = 16;

/// Transforms `len` tiles from streams to streams: value `t` of output stream `k < O` (at
/// `dst[dst_base + k·dst_stride + t]`) is `f`'s `k`-th result for the tile whose values are
/// value `t` of the input streams (at `src[src_base + k·src_stride + t]`, `k < I`). Each tile is
/// one SIMD lane: blocks of [`LANES`] tiles are copied into local arrays of fixed size,
/// transformed lane by lane (which the compiler turns into vector arithmetic over the streams),
/// and copied out.
#[inline(always)]
fn transform_streams<T: Float, const I: usize, const O: usize>(
    src: &[T],
    src_at: [usize; 2],
    dst: &mut [T],
    dst_at: [usize; 2],
    len: usize,
    f: impl Fn([T; I]) -> [T; O],
) {
    vectorized(
        #[inline(always)]
        || {
            let (mut ins, mut outs) = ([[T::ZERO; LANES]; I], [[T::ZERO; LANES]; O]);
            let mut t0 = 0;
            while t0 < len {
                let n = LANES.min(len - t0);
                load_streams(src, src_at, t0, n, &mut ins);
                for l in 0..LANES {
                    let mut tile = [T::ZERO; I];
                    for k in 0..I {
                        tile[k] = ins[k][l];
                    }
                    let r = f(tile);
                    for k in 0..O {
                        outs[k][l] = r[k];
                    }
                }
                store_streams(dst, dst_at, t0, n, &outs);
                t0 += n;
            }
        },
    );
}

/// Lanes `..n` of each of the `N` streams at `src[base + k·stride + t0..]`.
#[inline(always)]
fn load_streams<T: Float, const N: usize>(
    src: &[T],
    [base, stride]: [usize; 2],
    t0: usize,
    n: usize,
    lanes: &mut [[T; LANES]; N],
) {
    for (k, lane) in lanes.iter_mut().enumerate() {
        let from = &src[base + k * stride + t0..];
        if n == LANES {
            lane.copy_from_slice(&from[..LANES]);
        } else {
            lane[..n].copy_from_slice(&from[..n]);
        }
    }
}

/// The inverse of [`load_streams`]: lanes `..n` of each stream to `dst[base + k·stride + t0..]`.
#[inline(always)]
fn store_streams<T: Float, const N: usize>(
    dst: &mut [T],
    [base, stride]: [usize; 2],
    t0: usize,
    n: usize,
    lanes: &[[T; LANES]; N],
) {
    for (k, lane) in lanes.iter().enumerate() {
        let to = &mut dst[base + k * stride + t0..];
        if n == LANES {
            to[..LANES].copy_from_slice(lane);
        } else {
            to[..n].copy_from_slice(&lane[..n]);
        }
    }
}

/// A task's scratch: the chunk's transformed tiles, products and weight-gradient products,
/// and one plane's windows (`cols`) and grown copy.
#[derive(Default)]
struct Scratch<T> {
    v: Vec<T>,
    m: Vec<T>,
    product: Vec<T>,
    cols: Vec<T>,
    plane: Vec<T>,
}

/// The tiles of images `j0..j1` (of `x`, counted from `img0`), transformed: `v[ξ][c][t] =
/// (Bᵀ d B)[ξ]` for the 4×4 input window `d` of the chunk's tile `t` on channel `c`, padding
/// reading 0. The windows of each plane are unfolded by `im2col` (16 rows, one per tap, of one
/// value per tile), the chunk's images side by side, then transformed row-wise.
fn gather_input<T: Float>(
    x: &[T],
    geo: &Conv2dGeometry,
    tiles: &Tiles,
    img0: usize,
    [j0, j1]: [usize; 2],
    sc: &mut Scratch<T>,
) {
    let g = &geo.window;
    let (c, l) = (g.c, tiles.per_image);
    let pb = (j1 - j0) * l;
    sc.v.resize(16 * c * pb, T::ZERO);
    sc.cols.resize(16 * pb, T::ZERO);
    for ch in 0..c {
        // The chunk's windows on this channel, image after image: 16 rows of pb values.
        for j in j0..j1 {
            let plane = &x[((img0 + j) * c + ch) * g.h * g.w..][..g.h * g.w];
            let plane = tiles.input_plane(plane, g.w, &mut sc.plane);
            let out = &mut sc.cols[(j - j0) * l..];
            im2col_columns(plane, &tiles.windows, 1, &tiles.plan, T::ZERO, out, pb);
        }
        transform_streams(&sc.cols, [0, pb], &mut sc.v, [ch * pb, c * pb], pb, input_tile::<T>);
    }
}

/// The output gradient's tiles of images `j0..j1`, through the adjoint of the output transform:
/// `m[ξ][o][t] = (A ∂Y Aᵀ)[ξ]` for the 2×2 tile `∂Y` of tile `t` on channel `o`, outputs past the
/// edge reading 0. The tiles' four values are read a row of tiles at a time (even and odd
/// columns of two output rows).
fn gather_output_grad<T: Float>(
    gy: &[T],
    geo: &Conv2dGeometry,
    tiles: &Tiles,
    img0: usize,
    [j0, j1]: [usize; 2],
    sc: &mut Scratch<T>,
) {
    let (o, l) = (geo.out_channels, tiles.per_image);
    let (oh, ow, tw) = (tiles.oh, tiles.ow, tiles.tw);
    let pb = (j1 - j0) * l;
    sc.m.resize(16 * o * pb, T::ZERO);
    sc.cols.resize(4 * pb, T::ZERO);
    for oc in 0..o {
        for j in j0..j1 {
            let plane = &gy[((img0 + j) * o + oc) * oh * ow..][..oh * ow];
            // cols[2r + s][t] = ∂y[2ty + r, 2tx + s] (0 past the edge), t = (j − j0)·l + ty·tw + tx.
            for ty in 0..tiles.th {
                for r in 0..2 {
                    let (even, rest) = sc.cols[2 * r * pb + (j - j0) * l + ty * tw..].split_at_mut(pb);
                    let (even, odd) = (&mut even[..tw], &mut rest[..tw]);
                    let y = 2 * ty + r;
                    if y >= oh {
                        even.fill(T::ZERO);
                        odd.fill(T::ZERO);
                        continue;
                    }
                    let row = &plane[y * ow..][..ow];
                    let pairs = ow / 2;
                    for ((e, o), p) in even.iter_mut().zip(odd.iter_mut()).zip(row.chunks_exact(2)) {
                        (*e, *o) = (p[0], p[1]);
                    }
                    if pairs < tw {
                        (even[pairs], odd[pairs]) = (row[ow - 1], T::ZERO);
                    }
                }
            }
        }
        transform_streams(&sc.cols, [0, pb], &mut sc.m, [oc * pb, o * pb], pb, output_tile_adjoint::<T>);
    }
}

/// `out[ξ] = a[ξ] · b[ξ]` for the 16 positions: `a[ξ]` is `rows × inner` at `a + ξ·a_step` with
/// strides `a_strides`, `b[ξ]` is `inner × cols` row-major at `b[ξ·inner·cols..]`, `out[ξ]` is
/// `rows × cols` row-major.
fn sixteen_products<T: Float>(
    [rows, inner, cols]: [usize; 3],
    a: &[T],
    a_step: usize,
    a_strides: [isize; 2],
    b: &[T],
    out: &mut Vec<T>,
) {
    out.resize(16 * rows * cols, T::ZERO);
    let last_a = (rows - 1) as isize * a_strides[0] + (inner - 1) as isize * a_strides[1];
    assert!(15 * a_step + (last_a as usize) < a.len() && b.len() >= 16 * inner * cols, "winograd: operands");
    for xi in 0..16 {
        // SAFETY: A's ξ-th matrix lies inside `a` (asserted: its last element is at
        // 15·a_step + last_a at most), B's inside `b` (16 dense inner × cols matrices), and C
        // is the ξ-th dense rows × cols block of `out`.
        unsafe {
            T::gemm(
                rows,
                inner,
                cols,
                a.as_ptr().add(xi * a_step),
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
pub fn forward<T: Float, O: Slot<T>>(x: &[T], w: &[T], geo: &Conv2dGeometry, y: &mut [O]) {
    check(geo, [x.len(), w.len(), y.len()], [geo.input_len(), geo.weight_len(), geo.output_len()]);
    let (c, o) = (geo.window.c, geo.out_channels);
    let tiles = Tiles::new(geo);
    let u = transform_weights(w, o, c);
    let image_len = o * tiles.oh * tiles.ow;
    let (oh, ow, tw, l) = (tiles.oh, tiles.ow, tiles.tw, tiles.per_image);
    for_each_chunk(y, tiles.images * image_len, tiles.parallel, |task, y, sc: &mut Scratch<T>| {
        let (img0, nb) = (task * tiles.images, y.len() / image_len);
        for [j0, j1] in tiles.chunks(nb) {
            let pb = (j1 - j0) * l;
            gather_input(x, geo, &tiles, img0, [j0, j1], sc);
            sixteen_products([o, c, pb], &u, o * c, [c as isize, 1], &sc.v, &mut sc.m);
            sc.cols.resize(4 * pb, T::ZERO);
            for oc in 0..o {
                transform_streams(&sc.m, [oc * pb, o * pb], &mut sc.cols, [0, pb], pb, output_tile::<T>);
                for j in j0..j1 {
                    // Row r of tile row ty is output row 2ty + r: even columns from cols[2r],
                    // odd ones from cols[2r + 1].
                    let plane = &mut y[(j * o + oc) * oh * ow..][..oh * ow];
                    for (yy, row) in plane.chunks_exact_mut(ow).enumerate() {
                        let (ty, r) = (yy / 2, yy % 2);
                        let at = (j - j0) * l + ty * tw;
                        let even = &sc.cols[2 * r * pb + at..][..tw];
                        let odd = &sc.cols[(2 * r + 1) * pb + at..][..tw];
                        for ((p, &e), &o) in row.chunks_exact_mut(2).zip(even).zip(odd) {
                            p[0].set(e);
                            p[1].set(o);
                        }
                        if ow % 2 == 1 {
                            row[ow - 1].set(even[tw - 1]);
                        }
                    }
                }
            }
        }
    });
}

/// `∂x` of `y = conv2d(x, w)` given `∂y` (see [`super::conv2d_input_grad`]), for a geometry
/// Winograd [`supports`].
pub fn input_grad<T: Float>(gy: &[T], w: &[T], geo: &Conv2dGeometry, gx: &mut [T]) {
    check(geo, [gy.len(), w.len(), gx.len()], [geo.output_len(), geo.weight_len(), geo.input_len()]);
    let g = &geo.window;
    let (c, o) = (g.c, geo.out_channels);
    let tiles = Tiles::new(geo);
    let u = transform_weights(w, o, c);
    let image_len = c * g.h * g.w;
    let l = tiles.per_image;
    let plane_len = g.h * g.w;
    for_each_chunk(gx, tiles.images * image_len, tiles.parallel, |task, gx, sc: &mut Scratch<T>| {
        let (img0, nb) = (task * tiles.images, gx.len() / image_len);
        for [j0, j1] in tiles.chunks(nb) {
            let pb = (j1 - j0) * l;
            gather_output_grad(gy, geo, &tiles, img0, [j0, j1], sc);
            // ∂V[ξ] = U[ξ]ᵀ · ∂M[ξ]: U[ξ] read transposed in place (strides 1, C).
            sixteen_products([c, o, pb], &u, o * c, [1, c as isize], &sc.m, &mut sc.v);
            sc.cols.resize(16 * pb, T::ZERO);
            for ch in 0..c {
                transform_streams(&sc.v, [ch * pb, c * pb], &mut sc.cols, [0, pb], pb, input_tile_adjoint::<T>);
                for j in j0..j1 {
                    // Fold the windows back onto the plane (`col2im`, summing their overlaps).
                    let cols = &sc.cols[(j - j0) * l..];
                    let plane = &mut gx[(j * c + ch) * plane_len..][..plane_len];
                    if tiles.grown {
                        let (gh, gw) = (tiles.windows.h, tiles.windows.w);
                        sc.plane.clear();
                        sc.plane.resize(gh * gw, T::ZERO);
                        col2im_columns(cols, &tiles.windows, 1, &tiles.plan, &mut sc.plane, pb);
                        for (dst, src) in plane.chunks_exact_mut(g.w).zip(sc.plane.chunks_exact(gw)) {
                            dst.copy_from_slice(&src[..g.w]);
                        }
                    } else {
                        plane.fill(T::ZERO);
                        col2im_columns(cols, &tiles.windows, 1, &tiles.plan, plane, pb);
                    }
                }
            }
        }
    });
}

/// `∂w` of `y = conv2d(x, w)` given `∂y` (see [`super::conv2d_weight_grad`]), for a
/// geometry Winograd [`supports`].
pub fn weight_grad<T: Float>(x: &[T], gy: &[T], geo: &Conv2dGeometry, gw: &mut [T]) {
    check(geo, [x.len(), gy.len(), gw.len()], [geo.input_len(), geo.output_len(), geo.weight_len()]);
    let (c, o) = (geo.window.c, geo.out_channels);
    let tiles = Tiles::new(geo);
    let tasks = geo.window.n.div_ceil(tiles.images);
    // ∂U summed over every chunk of every task, then taken back through Gᵀ · G once.
    let mut gu = vec![T::ZERO; 16 * o * c];
    sum_into(tasks, tiles.parallel, &mut gu, |task, acc, sc: &mut Scratch<T>| {
        let img0 = task * tiles.images;
        let nb = tiles.images.min(geo.window.n - img0);
        for [j0, j1] in tiles.chunks(nb) {
            let pb = (j1 - j0) * tiles.per_image;
            gather_input(x, geo, &tiles, img0, [j0, j1], sc);
            gather_output_grad(gy, geo, &tiles, img0, [j0, j1], sc);
            // ∂U[ξ] = ∂M[ξ] · V[ξ]ᵀ: V[ξ] read transposed (strides 1, pb).
            sc.product.resize(16 * o * c, T::ZERO);
            for xi in 0..16 {
                // SAFETY: ∂M[ξ] is the dense o × pb block at ξ·o·pb of `m`, V[ξ]ᵀ the pb × c
                // view (strides 1, pb) of the dense c × pb block at ξ·c·pb of `v`, and C the
                // dense o × c block at ξ·o·c of `product`; all three were sized above.
                unsafe {
                    T::gemm(
                        o,
                        pb,
                        c,
                        sc.m.as_ptr().add(xi * o * pb),
                        [pb as isize, 1],
                        sc.v.as_ptr().add(xi * c * pb),
                        [1, pb as isize],
                        sc.product.as_mut_ptr().add(xi * o * c),
                        c as isize,
                    );
                }
            }
            acc.iter_mut().zip(&sc.product).for_each(|(a, &p)| *a += p);
        }
    });
    for oc in 0..o * c {
        let tile: [T; 16] = std::array::from_fn(|xi| gu[xi * o * c + oc]);
        gw[oc * 9..][..9].copy_from_slice(&weight_tile_adjoint(&tile));
    }
}
