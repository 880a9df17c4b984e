//! 2-D convolution and its two gradients as matrix products over blocks of im2col columns.
//!
//! For one image and one group, with `K = C/groups · kh · kw` and `L = OH · OW`:
//! ```text
//! forward        y[O/g, L]  =  W[O/g, K] · cols(x)[K, L]
//! input grad     ∂x         =  col2im( Wᵀ[K, O/g] · ∂y[O/g, L] )
//! weight grad    ∂W[O/g, K] += ∂y[O/g, L] · cols(x)ᵀ[L, K]        (summed over images)
//! ```
//! The column matrix `cols(x)` is never built whole (it is `kh·kw` times larger than the
//! image: 231 MB for a batch of 32 64-channel 56² images). Instead, columns are produced
//! [`BLOCK_BYTES`] at a time into a per-thread scratch buffer that stays in L2 while the GEMM
//! reads it; the input gradient likewise computes one block of `Wᵀ · ∂y` and folds it back
//! (`col2im`) before the next.
//!
//! Small images are put side by side: when one image's columns fill less than a block, a block
//! holds the columns of several images (`k × nb·L`), so that each product is wide enough to run
//! at speed; the outputs are then copied out to each image. A window that covers the whole
//! image (one output position) needs no columns at all: see [`dense`].
//!
//! Work is split over blocks of images with rayon: a task owns its images' outputs (forward) or
//! input-gradient planes, so no two threads write the same element; for the weight gradient
//! each thread sums into its own accumulator, added up at the end (no lock per element).

use super::cpu::{checked_output, col2im_columns, im2col_columns, Plan};
use super::Window2d;
use super::{dense, direct, narrow, winograd};
pub(super) use crate::parallel::for_each_chunk;
use crate::parallel::sum_into;
use crate::{Float, Slot};

/// Bytes of columns produced at a time: half of a 2 MiB L2, leaving room for the GEMM's packed
/// panels.
const BLOCK_BYTES: usize = 1 << 20;

/// Multiply-adds below which a convolution runs on the calling thread.
const PAR_MIN_MACS: usize = 1 << 22;

/// The geometry of a grouped 2-D convolution: the input window (`n`, `c`, `h`, `w`, kernel,
/// stride, padding, dilation), the number of output channels and of groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// The sliding window over the `[N, C, H, W]` input.
    pub window: Window2d,
    /// Output channels `O` (a multiple of `groups`).
    pub out_channels: usize,
    /// Channel groups: input channel block `i` only feeds output channel block `i`.
    pub groups: usize,
}

/// Sizes derived from a [`Conv2dGeometry`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Sizes {
    /// Input channels per group.
    pub(super) cg: usize,
    /// Output channels per group.
    pub(super) og: usize,
    /// Rows of the column matrix per group: `cg · kh · kw`.
    pub(super) k: usize,
    /// Output positions per image: `OH · OW`.
    pub(super) l: usize,
    /// Input pixels per channel: `H · W`.
    pub(super) plane: usize,
    /// Columns per block and image (`l` when whole images fit in a block).
    pub(super) block: usize,
    /// Images per block: more than one only when a whole image's columns are small, so that
    /// the products are wide enough to run at speed (an image of 7×7 outputs gives 49 columns;
    /// a transposed convolution from a 1×1 input gives one).
    pub(super) images: usize,
    /// Whether the work is split over threads.
    pub(super) parallel: bool,
    /// Whether the window is the whole unpadded image (one output position): then the columns
    /// are the images themselves and the convolution is a dense layer (see [`dense`]).
    pub(super) whole_window: bool,
}

impl Conv2dGeometry {
    fn sizes<T>(&self) -> Sizes {
        let g = &self.window;
        assert!(
            self.groups > 0 && g.c.is_multiple_of(self.groups) && self.out_channels.is_multiple_of(self.groups),
            "conv2d: channels must divide into groups (checked by the caller)"
        );
        let (oh, ow) = checked_output(g);
        let (cg, og) = (g.c / self.groups, self.out_channels / self.groups);
        let k = cg * g.kernel[0] * g.kernel[1];
        let l = oh * ow;
        let macs = g.n.saturating_mul(self.out_channels).saturating_mul(k).saturating_mul(l);
        let threads = rayon::current_num_threads();
        let parallel = macs >= PAR_MIN_MACS && threads > 1;
        // As many columns as fit in BLOCK_BYTES: whole images side by side when one image's
        // columns fit (leaving at least two blocks per thread to share out), else blocks of one
        // image's columns in multiples of 32 (the widest GEMM tile).
        let fit = BLOCK_BYTES / std::mem::size_of::<T>() / k.max(1);
        // A narrow receptive field over a large image (the first layer of an image model):
        // one image's product is wide enough by itself, and goes straight into the output
        // instead of being copied out of a block of several images.
        let alone = k <= narrow::MAX_TAPS && l >= 256;
        let (block, images) = if fit >= l {
            let most = if alone {
                1
            } else if parallel {
                g.n.div_ceil(2 * threads)
            } else {
                g.n
            };
            (l, (fit / l.max(1)).clamp(1, most.max(1)))
        } else {
            ((fit / 32 * 32).max(32), 1)
        };
        let whole_window = g.kernel == [g.h, g.w] && g.padding == [0, 0];
        Sizes { cg, og, k, l, plane: g.h * g.w, block: block.max(1), images, parallel, whole_window }
    }

    /// Output elements `N · O · OH · OW`.
    pub fn output_len(&self) -> usize {
        let (oh, ow) = checked_output(&self.window);
        self.window.n * self.out_channels * oh * ow
    }

    /// Weight elements `O · C/groups · kh · kw`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * (self.window.c / self.groups.max(1)) * self.window.kernel[0] * self.window.kernel[1]
    }

    /// Input elements `N · C · H · W`.
    pub fn input_len(&self) -> usize {
        let g = &self.window;
        g.n * g.c * g.h * g.w
    }
}

/// The plans of the column blocks `[l0, l1)` covering `0..L` (one block when whole images
/// fit), made once per call and shared by every task.
pub(super) fn planned_blocks(geo: &Conv2dGeometry, s: &Sizes) -> Vec<Plan> {
    let (l, block) = (s.l, s.block);
    (0..l.div_ceil(block)).map(|b| Plan::new(&geo.window, [b * block, (b * block + block).min(l)])).collect()
}

/// A worker's reusable buffers.
#[derive(Default)]
pub(super) struct Scratch<T> {
    /// A block of im2col columns, `k × width`.
    cols: Vec<T>,
    /// A block of output values (or output gradients), `og × width`, images side by side.
    pub(super) out: Vec<T>,
    /// One block's weight-gradient product (weight gradient only).
    product: Vec<T>,
}

/// The im2col columns of `plan` (`l0..l1`) of the images `n0..n0 + nb`, group `grp`, side by
/// side into `cols` (resized to `k × nb·(l1 − l0)`): image `j`'s start at column `j·(l1 − l0)`.
fn fill_columns<T: Float>(
    x: &[T],
    geo: &Conv2dGeometry,
    s: &Sizes,
    [n0, nb, grp]: [usize; 3],
    plan: &Plan,
    cols: &mut Vec<T>,
) {
    let width = plan.width();
    cols.resize(s.k * nb * width, T::ZERO);
    for j in 0..nb {
        let img = &x[((n0 + j) * geo.window.c + grp * s.cg) * s.plane..][..s.cg * s.plane];
        im2col_columns(img, &geo.window, s.cg, plan, T::ZERO, &mut cols[j * width..], nb * width);
    }
}

/// Group `grp`'s output(-gradient) rows, columns `l0..l1`, of images `n0..n0 + nb` of `ys`
/// (`[N, O, L]`) as a GEMM operand `og × nb·(l1 − l0)`: `(pointer, row stride)`. One image's
/// rows are read in place (row stride L); several images' are copied side by side into `block`.
fn output_rows<T: Float>(
    ys: &[T],
    block: &mut Vec<T>,
    geo: &Conv2dGeometry,
    s: &Sizes,
    [n0, nb, grp]: [usize; 3],
    [l0, l1]: [usize; 2],
) -> (*const T, usize) {
    let first = |j: usize| ((n0 + j) * geo.out_channels + grp * s.og) * s.l + l0;
    if nb == 1 {
        return (ys[first(0)..].as_ptr(), s.l);
    }
    let width = l1 - l0;
    block.resize(s.og * nb * width, T::ZERO);
    for j in 0..nb {
        for o in 0..s.og {
            block[(o * nb + j) * width..][..width].copy_from_slice(&ys[first(j) + o * s.l..][..width]);
        }
    }
    (block.as_ptr(), nb * width)
}

/// `y = conv2d(x, w)`: `x` dense `[N, C, H, W]`, `w` dense `[O, C/groups, kh, kw]`, `y` dense
/// `[N, O, OH, OW]` (every element written, so it may be uninitialised).
pub fn conv2d<T: Float, O: Slot<T>>(x: &[T], w: &[T], geo: &Conv2dGeometry, y: &mut [O]) {
    conv2d_bias(x, w, None, geo, y);
}

/// `y = conv2d(x, w) + b`, `b[o]` added to every output of channel `o` (`bias`: `[O]`, or none).
/// The blocked GEMMs and Winograd add it to each image's outputs as they write them, while they
/// are in cache: a separate broadcast add would read and write the whole output once more (on
/// the MNIST CNN's first layer, 5.5 MB each way).
pub fn conv2d_bias<T: Float, O: Slot<T>>(x: &[T], w: &[T], bias: Option<&[T]>, geo: &Conv2dGeometry, y: &mut [O]) {
    let s = geo.sizes::<T>();
    assert_eq!(x.len(), geo.input_len(), "conv2d: input length");
    assert_eq!(w.len(), geo.weight_len(), "conv2d: weight length");
    assert_eq!(y.len(), geo.output_len(), "conv2d: output length");
    assert!(bias.is_none_or(|b| b.len() == geo.out_channels), "conv2d: bias length");
    if y.is_empty() {
        return;
    }
    if s.whole_window {
        dense::forward(x, w, geo, &s, y);
        return add_bias_after(y, bias, s.l);
    }
    if s.og == 1 {
        direct::forward(x, w, geo, &s, y);
        return add_bias_after(y, bias, s.l);
    }
    if winograd::applies(geo) {
        return winograd::forward(x, w, bias, geo, y);
    }
    conv2d_gemm_bias(x, w, bias, geo, y);
}

/// Adds `b[o]` to the `l` outputs of every channel `o` of `y` (`[N, O, L]`, every element
/// already written): for the kernels that do not add the bias themselves.
fn add_bias_after<T: Float, O: Slot<T>>(y: &mut [O], bias: Option<&[T]>, l: usize) {
    let Some(b) = bias else { return };
    // SAFETY: every element of `y` has been written (the kernels above write the whole output),
    // and `O` is `T` or `MaybeUninit<T>` (`Slot` is sealed), laid out as `T`: an initialised
    // buffer of `T`s.
    let y = unsafe { std::slice::from_raw_parts_mut(y.as_mut_ptr() as *mut T, y.len()) };
    crate::parallel::row_blocks(y, l, |row0, rows| {
        for (r, row) in rows.chunks_exact_mut(l.max(1)).enumerate() {
            let v = b[(row0 + r) % b.len()];
            row.iter_mut().for_each(|y| *y += v);
        }
    });
}

/// [`conv2d`] always as blocked GEMMs over im2col columns (what it does for every geometry its
/// special cases do not take): any geometry.
pub fn conv2d_gemm<T: Float, O: Slot<T>>(x: &[T], w: &[T], geo: &Conv2dGeometry, y: &mut [O]) {
    conv2d_gemm_bias(x, w, None, geo, y);
}

/// [`conv2d_bias`] as blocked GEMMs: the bias added to each block of outputs after its product.
fn conv2d_gemm_bias<T: Float, O: Slot<T>>(x: &[T], w: &[T], bias: Option<&[T]>, geo: &Conv2dGeometry, y: &mut [O]) {
    let s = geo.sizes::<T>();
    assert_eq!(x.len(), geo.input_len(), "conv2d: input length");
    assert_eq!(w.len(), geo.weight_len(), "conv2d: weight length");
    assert_eq!(y.len(), geo.output_len(), "conv2d: output length");
    let (image_len, plans) = (geo.out_channels * s.l, planned_blocks(geo, &s));
    // One task per block of images: it owns their outputs `y[n0..n0 + nb]`.
    for_each_chunk(y, s.images * image_len, s.parallel, |task, y, sc: &mut Scratch<T>| {
        let (n0, nb) = (task * s.images, y.len() / image_len);
        for grp in 0..geo.groups {
            let wg = &w[grp * s.og * s.k..][..s.og * s.k];
            for plan in &plans {
                let (l0, width) = (plan.columns()[0], nb * plan.width());
                fill_columns(x, geo, &s, [n0, nb, grp], plan, &mut sc.cols);
                // One image: the product goes straight into its output rows (row stride L).
                // Several: into the scratch block, then out to each image's rows.
                let (c, ldc) = if nb == 1 {
                    ((y.as_mut_ptr() as *mut T).wrapping_add(grp * s.og * s.l + l0), s.l)
                } else {
                    sc.out.resize(s.og * width, T::ZERO);
                    (sc.out.as_mut_ptr(), width)
                };
                // SAFETY: `wg` is og × k and `cols` k × width (both row-major, inside their
                // buffers). C is either the og × (l1 − l0) block at rows grp·og.., columns
                // l0..l1 of this one-image chunk (row stride L, inside its O·L elements), or the
                // og × width scratch block. `O` is `T` or `MaybeUninit<T>` (sealed), laid out as
                // `T`, and `gemm` writes every element of C without reading it.
                unsafe {
                    T::gemm(
                        s.og,
                        s.k,
                        width,
                        wg.as_ptr(),
                        [s.k as isize, 1],
                        sc.cols.as_ptr(),
                        [width as isize, 1],
                        c,
                        ldc as isize,
                    );
                }
                let bias_of = |o: usize| bias.map_or(T::ZERO, |b| b[grp * s.og + o]);
                // Several images (whole ones, so width = nb·L): each row back to its image.
                if nb > 1 {
                    for j in 0..nb {
                        for o in 0..s.og {
                            let (src, b) = (&sc.out[(o * nb + j) * s.l..][..s.l], bias_of(o));
                            let dst = &mut y[j * image_len + (grp * s.og + o) * s.l..][..s.l];
                            dst.iter_mut().zip(src).for_each(|(d, &v)| d.set(v + b));
                        }
                    }
                } else if bias.is_some() {
                    // One image: the product went straight into its rows; add to them there.
                    for o in 0..s.og {
                        let row = (grp * s.og + o) * s.l + l0;
                        // SAFETY: the GEMM above wrote this row's `width` values (columns
                        // l0..l1 of row grp·og + o of this image's output, inside the chunk);
                        // `O` is laid out as `T` (sealed), so they are initialised `T`s.
                        let row = unsafe { std::slice::from_raw_parts_mut((y.as_mut_ptr() as *mut T).add(row), width) };
                        let b = bias_of(o);
                        row.iter_mut().for_each(|v| *v += b);
                    }
                }
            }
        }
    });
}

/// `∂x` of `y = conv2d(x, w)` given `∂y`: `gy` dense `[N, O, OH, OW]`, `w` dense
/// `[O, C/groups, kh, kw]`, `gx` dense `[N, C, H, W]` (overwritten). This is also the transposed
/// convolution of `gy` by `w`.
pub fn conv2d_input_grad<T: Float>(gy: &[T], w: &[T], geo: &Conv2dGeometry, gx: &mut [T]) {
    let s = geo.sizes::<T>();
    assert_eq!(gy.len(), geo.output_len(), "conv2d_input_grad: output-gradient length");
    assert_eq!(w.len(), geo.weight_len(), "conv2d_input_grad: weight length");
    assert_eq!(gx.len(), geo.input_len(), "conv2d_input_grad: input-gradient length");
    if gx.is_empty() {
        return;
    }
    if s.whole_window {
        return dense::input_grad(gy, w, geo, &s, gx);
    }
    if s.og == 1 {
        return direct::input_grad(gy, w, geo, &s, gx);
    }
    if winograd::applies(geo) {
        return winograd::input_grad(gy, w, geo, gx);
    }
    conv2d_input_grad_gemm(gy, w, geo, gx);
}

/// [`conv2d_input_grad`] always as blocked GEMMs: any geometry.
pub fn conv2d_input_grad_gemm<T: Float>(gy: &[T], w: &[T], geo: &Conv2dGeometry, gx: &mut [T]) {
    let s = geo.sizes::<T>();
    assert_eq!(gy.len(), geo.output_len(), "conv2d_input_grad: output-gradient length");
    assert_eq!(w.len(), geo.weight_len(), "conv2d_input_grad: weight length");
    assert_eq!(gx.len(), geo.input_len(), "conv2d_input_grad: input-gradient length");
    let (image_len, plans) = (geo.window.c * s.plane, planned_blocks(geo, &s));
    // One task per block of images: it owns their input-gradient planes (blocks of columns
    // overlap on the image, so they run one after the other within the task).
    for_each_chunk(gx, s.images * image_len, s.parallel, |task, gx, sc: &mut Scratch<T>| {
        gx.fill(T::ZERO);
        let (n0, nb) = (task * s.images, gx.len() / image_len);
        for grp in 0..geo.groups {
            let wg = &w[grp * s.og * s.k..][..s.og * s.k];
            for plan in &plans {
                let width = nb * plan.width();
                let (b, ldb) = output_rows(gy, &mut sc.out, geo, &s, [n0, nb, grp], plan.columns());
                sc.cols.resize(s.k * width, T::ZERO);
                // SAFETY: A = Wᵀ is k × og, read through `wg` with strides (1, k); B is
                // og × width, inside `gy` (rows of L, from column l0) or the gathered block;
                // C is the k × width scratch block.
                unsafe {
                    T::gemm(
                        s.k,
                        s.og,
                        width,
                        wg.as_ptr(),
                        [1, s.k as isize],
                        b,
                        [ldb as isize, 1],
                        sc.cols.as_mut_ptr(),
                        width as isize,
                    );
                }
                for j in 0..nb {
                    let img = &mut gx[j * image_len + grp * s.cg * s.plane..][..s.cg * s.plane];
                    col2im_columns(&sc.cols[j * plan.width()..], &geo.window, s.cg, plan, img, width);
                }
            }
        }
    });
}

/// Both gradients of `y = conv2d(x, w)` given `∂y`, `∂x` into `gx` and `∂w` into `gw` (both
/// overwritten), the values [`conv2d_input_grad`] and [`conv2d_weight_grad`] give. Where
/// Winograd computes them, in one pass over the images that transforms each chunk of `∂y` once
/// for both; otherwise the two kernels one after the other.
pub fn conv2d_backward<T: Float>(x: &[T], gy: &[T], w: &[T], geo: &Conv2dGeometry, gx: &mut [T], gw: &mut [T]) {
    assert_eq!(x.len(), geo.input_len(), "conv2d_backward: input length");
    assert_eq!(gy.len(), geo.output_len(), "conv2d_backward: output-gradient length");
    assert_eq!(w.len(), geo.weight_len(), "conv2d_backward: weight length");
    if winograd::applies(geo) && !gx.is_empty() && !gw.is_empty() {
        return winograd::backward(x, gy, w, geo, gx, gw);
    }
    conv2d_input_grad(gy, w, geo, gx);
    conv2d_weight_grad(x, gy, geo, gw);
}

/// `∂w` of `y = conv2d(x, w)` given `∂y`: `x` dense `[N, C, H, W]`, `gy` dense `[N, O, OH, OW]`,
/// `gw` dense `[O, C/groups, kh, kw]` (overwritten).
pub fn conv2d_weight_grad<T: Float>(x: &[T], gy: &[T], geo: &Conv2dGeometry, gw: &mut [T]) {
    let s = geo.sizes::<T>();
    assert_eq!(x.len(), geo.input_len(), "conv2d_weight_grad: input length");
    assert_eq!(gy.len(), geo.output_len(), "conv2d_weight_grad: output-gradient length");
    assert_eq!(gw.len(), geo.weight_len(), "conv2d_weight_grad: weight-gradient length");
    if gw.is_empty() {
        return;
    }
    if s.whole_window {
        return dense::weight_grad(x, gy, geo, &s, gw);
    }
    if s.og == 1 {
        // One output channel per group: each weight is one row of ∂y dotted with one row of
        // the columns, the dot products `narrow` takes (vectorised, where the direct kernel's
        // sums ran one value at a time: 2.1 → 0.75–1.1 ms on the DCGAN's 16 → 1 output layer).
        return narrow::weight_grad(x, gy, geo, &s, gw);
    }
    if winograd::applies(geo) {
        return winograd::weight_grad(x, gy, geo, gw);
    }
    if narrow::applies(geo) {
        return narrow::weight_grad(x, gy, geo, &s, gw);
    }
    conv2d_weight_grad_gemm(x, gy, geo, gw);
}

/// [`conv2d_weight_grad`] always as blocked GEMMs: any geometry.
pub fn conv2d_weight_grad_gemm<T: Float>(x: &[T], gy: &[T], geo: &Conv2dGeometry, gw: &mut [T]) {
    let s = geo.sizes::<T>();
    assert_eq!(x.len(), geo.input_len(), "conv2d_weight_grad: input length");
    assert_eq!(gy.len(), geo.output_len(), "conv2d_weight_grad: output-gradient length");
    assert_eq!(gw.len(), geo.weight_len(), "conv2d_weight_grad: weight-gradient length");
    // Each worker sums the products of its blocks of images into its own accumulator.
    let plans = planned_blocks(geo, &s);
    let blocks_of_images = geo.window.n.div_ceil(s.images);
    sum_into(blocks_of_images, s.parallel, gw, |block, acc, sc: &mut Scratch<T>| {
        sc.product.resize(s.og * s.k, T::ZERO);
        let n0 = block * s.images;
        let nb = s.images.min(geo.window.n - n0);
        for grp in 0..geo.groups {
            for plan in &plans {
                let width = nb * plan.width();
                fill_columns(x, geo, &s, [n0, nb, grp], plan, &mut sc.cols);
                let (a, lda) = output_rows(gy, &mut sc.out, geo, &s, [n0, nb, grp], plan.columns());
                // SAFETY: A is og × width, inside `gy` (rows of L, from column l0) or the
                // gathered block; B = colsᵀ is width × k, read through the k × width block
                // with strides (1, width); C is the og × k product buffer.
                unsafe {
                    T::gemm(
                        s.og,
                        width,
                        s.k,
                        a,
                        [lda as isize, 1],
                        sc.cols.as_ptr(),
                        [1, width as isize],
                        sc.product.as_mut_ptr(),
                        s.k as isize,
                    );
                }
                let acc = &mut acc[grp * s.og * s.k..][..s.og * s.k];
                acc.iter_mut().zip(&sc.product).for_each(|(a, &p)| *a += p);
            }
        }
    });
}
