//! 2-D convolution and its two gradients as matrix products over blocks of im2col columns.
//!
//! For one group, with `K = C/groups · kh · kw` and the columns of all images side by side
//! (`N · L` of them, `L = OH · OW`):
//! ```text
//! forward        y[O/g, N·L]  =  W[O/g, K] · cols(x)[K, N·L]
//! input grad     ∂x           =  col2im( Wᵀ[K, O/g] · ∂y[O/g, N·L] )
//! weight grad    ∂W[O/g, K]   =  ∂y[O/g, N·L] · cols(x)ᵀ[N·L, K]
//! ```
//! The column matrix `cols(x)` is never built whole (it is `kh·kw` times larger than the
//! image: 231 MB for a batch of 32 64-channel 56² images). Instead, columns are produced
//! [`BLOCK_BYTES`] at a time into a per-thread scratch buffer that stays in L2 while the GEMM
//! reads it; the input gradient likewise computes one block of `Wᵀ · ∂y` and folds it back
//! (`col2im`) before the next. A block may span several small images, so that the products
//! stay large enough for the GEMM to run near its peak (a 13² image has only 121 columns).
//!
//! The batch is split into runs of whole images, one rayon task each: a task owns its images'
//! outputs (forward) and input gradients, so no two threads write the same element; for the
//! weight gradient each thread sums into its own accumulator, added up at the end (no lock per
//! element).

use super::cpu::{checked_output, col2im_columns, im2col_columns};
use super::Window2d;
use crate::{Float, Slot};
use rayon::prelude::*;

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
struct Sizes {
    /// Input channels per group.
    cg: usize,
    /// Output channels per group.
    og: usize,
    /// Rows of the column matrix per group: `cg · kh · kw`.
    k: usize,
    /// Output positions per image: `OH · OW`.
    l: usize,
    /// Input pixels per channel: `H · W`.
    plane: usize,
    /// Columns per block.
    block: usize,
    /// Images per task.
    images: usize,
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
        // As many columns as fit in BLOCK_BYTES, in multiples of 32 (the widest GEMM tile).
        let block = (BLOCK_BYTES / std::mem::size_of::<T>() / k.max(1) / 32 * 32).max(32);
        // Whole images per task: as many as one block holds, but at least two tasks per thread
        // when the batch allows, so that the threads finish together.
        let threads = rayon::current_num_threads().max(1);
        let images = (block / l.max(1)).clamp(1, g.n.div_ceil(2 * threads).max(1));
        Sizes { cg, og, k, l, plane: g.h * g.w, block, images }
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

    fn parallel(&self, s: &Sizes) -> bool {
        let macs = self.window.n.saturating_mul(self.out_channels).saturating_mul(s.k).saturating_mul(s.l);
        macs >= PAR_MIN_MACS && rayon::current_num_threads() > 1
    }
}

/// A run of columns `l0..l1` of image `image` (relative to the task's first image), stored
/// from column `at` of the block.
#[derive(Clone, Copy)]
struct Piece {
    image: usize,
    cols: [usize; 2],
    at: usize,
}

/// The blocks of at most `s.block` columns covering the `images · L` columns of a task, each as
/// its width and its per-image pieces.
fn blocks(s: &Sizes, images: usize) -> impl Iterator<Item = (usize, Vec<Piece>)> {
    let (l, block, total) = (s.l, s.block, images * s.l);
    (0..total.div_ceil(block)).map(move |b| {
        let (j0, j1) = (b * block, (b * block + block).min(total));
        let mut pieces = Vec::new();
        let mut j = j0;
        while j < j1 {
            let (image, l0) = (j / l, j % l);
            let l1 = (l0 + (j1 - j)).min(l);
            pieces.push(Piece { image, cols: [l0, l1], at: j - j0 });
            j += l1 - l0;
        }
        (j1 - j0, pieces)
    })
}

/// Runs `task(first_image, chunk, scratch)` over the chunks of `out` holding `s.images` whole
/// images each (`per_image` elements per image), in parallel when `parallel`, with reusable
/// scratch buffers per worker.
fn for_each_images<T: Float, O: Slot<T>>(
    out: &mut [O],
    per_image: usize,
    s: &Sizes,
    parallel: bool,
    task: impl Fn(usize, &mut [O], &mut [Vec<T>; 2]) + Sync + Send,
) {
    let len = per_image * s.images;
    let run = |(i, chunk): (usize, &mut [O]), scratch: &mut [Vec<T>; 2]| task(i * s.images, chunk, scratch);
    if parallel {
        out.par_chunks_mut(len).enumerate().for_each_init(Default::default, |scratch, item| run(item, scratch));
    } else {
        let mut scratch = Default::default();
        out.chunks_mut(len).enumerate().for_each(|item| run(item, &mut scratch));
    }
}

/// Copies the columns of each piece from an image-major buffer into a block (row stride
/// `width`): `rows` rows of `l` values per image, the first at `src[base]`, images `per_image`
/// apart (as the channels of one group in `[N, O, OH·OW]`).
#[allow(clippy::too_many_arguments)]
fn gather<T: Copy>(
    block: &mut [T],
    width: usize,
    pieces: &[Piece],
    rows: usize,
    src: &[T],
    base: usize,
    per_image: usize,
    l: usize,
) {
    for p in pieces {
        let n = p.cols[1] - p.cols[0];
        for r in 0..rows {
            let from = base + p.image * per_image + r * l + p.cols[0];
            block[r * width + p.at..][..n].copy_from_slice(&src[from..from + n]);
        }
    }
}

/// `y = conv2d(x, w)`: `x` dense `[N, C, H, W]`, `w` dense `[O, C/groups, kh, kw]`, `y` dense
/// `[N, O, OH, OW]` (every element written, so it may be uninitialised).
pub fn conv2d<T: Float, O: Slot<T>>(x: &[T], w: &[T], geo: &Conv2dGeometry, y: &mut [O]) {
    let s = geo.sizes::<T>();
    assert_eq!(x.len(), geo.input_len(), "conv2d: input length");
    assert_eq!(w.len(), geo.weight_len(), "conv2d: weight length");
    assert_eq!(y.len(), geo.output_len(), "conv2d: output length");
    if y.is_empty() {
        return;
    }
    let (c, o) = (geo.window.c, geo.out_channels);
    for_each_images(y, o * s.l, &s, geo.parallel(&s), |first, y, [cols, prod]| {
        let images = y.len() / (o * s.l);
        let x = &x[first * c * s.plane..];
        for grp in 0..geo.groups {
            let wg = &w[grp * s.og * s.k..][..s.og * s.k];
            for (width, pieces) in blocks(&s, images) {
                cols.resize(s.k * width, T::ZERO);
                prod.resize(s.og * width, T::ZERO);
                for p in &pieces {
                    let img = &x[(p.image * c + grp * s.cg) * s.plane..][..s.cg * s.plane];
                    im2col_columns(img, &geo.window, s.cg, p.cols, T::ZERO, &mut cols[p.at..], width);
                }
                // SAFETY: `wg` is og × k and `cols` k × width (both row-major, inside their
                // buffers); `prod` holds og × width values.
                unsafe {
                    T::gemm(
                        s.og,
                        s.k,
                        width,
                        wg.as_ptr(),
                        [s.k as isize, 1],
                        cols.as_ptr(),
                        [width as isize, 1],
                        prod.as_mut_ptr(),
                        width as isize,
                    );
                }
                for p in &pieces {
                    let n = p.cols[1] - p.cols[0];
                    for r in 0..s.og {
                        let to = (p.image * o + grp * s.og + r) * s.l + p.cols[0];
                        y[to..to + n].iter_mut().zip(&prod[r * width + p.at..]).for_each(|(d, &v)| d.set(v));
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
    let (c, o) = (geo.window.c, geo.out_channels);
    for_each_images(gx, c * s.plane, &s, geo.parallel(&s), |first, gx, [cols, g]| {
        gx.fill(T::ZERO);
        let images = gx.len() / (c * s.plane);
        for grp in 0..geo.groups {
            let wg = &w[grp * s.og * s.k..][..s.og * s.k];
            for (width, pieces) in blocks(&s, images) {
                cols.resize(s.k * width, T::ZERO);
                g.resize(s.og * width, T::ZERO);
                gather(g, width, &pieces, s.og, gy, (first * o + grp * s.og) * s.l, o * s.l, s.l);
                // SAFETY: A = Wᵀ is k × og, read through `wg` with strides (1, k); B is the
                // og × width block `g`; C is the k × width block `cols`.
                unsafe {
                    T::gemm(
                        s.k,
                        s.og,
                        width,
                        wg.as_ptr(),
                        [1, s.k as isize],
                        g.as_ptr(),
                        [width as isize, 1],
                        cols.as_mut_ptr(),
                        width as isize,
                    );
                }
                for p in &pieces {
                    let img = &mut gx[(p.image * c + grp * s.cg) * s.plane..][..s.cg * s.plane];
                    col2im_columns(&cols[p.at..], &geo.window, s.cg, p.cols, img, width);
                }
            }
        }
    });
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
    let (c, o, n) = (geo.window.c, geo.out_channels, geo.window.n);
    // Per worker: the weight-gradient accumulator, the column block, the gradient block, and one
    // block's product before it is accumulated.
    #[derive(Default)]
    struct Scratch<T> {
        acc: Vec<T>,
        cols: Vec<T>,
        g: Vec<T>,
        product: Vec<T>,
    }
    let one_task = |mut sc: Scratch<T>, first: usize| {
        if sc.acc.is_empty() {
            sc.acc = vec![T::ZERO; gw.len()];
        }
        let images = s.images.min(n - first);
        let x = &x[first * c * s.plane..];
        for grp in 0..geo.groups {
            for (width, pieces) in blocks(&s, images) {
                sc.cols.resize(s.k * width, T::ZERO);
                sc.g.resize(s.og * width, T::ZERO);
                sc.product.resize(s.og * s.k, T::ZERO);
                for p in &pieces {
                    let img = &x[(p.image * c + grp * s.cg) * s.plane..][..s.cg * s.plane];
                    im2col_columns(img, &geo.window, s.cg, p.cols, T::ZERO, &mut sc.cols[p.at..], width);
                }
                gather(&mut sc.g, width, &pieces, s.og, gy, (first * o + grp * s.og) * s.l, o * s.l, s.l);
                // SAFETY: A is the og × width block `g`; B = colsᵀ is width × k, read through
                // the k × width block with strides (1, width); C is the og × k product buffer.
                unsafe {
                    T::gemm(
                        s.og,
                        width,
                        s.k,
                        sc.g.as_ptr(),
                        [width as isize, 1],
                        sc.cols.as_ptr(),
                        [1, width as isize],
                        sc.product.as_mut_ptr(),
                        s.k as isize,
                    );
                }
                let acc = &mut sc.acc[grp * s.og * s.k..][..s.og * s.k];
                acc.iter_mut().zip(&sc.product).for_each(|(a, &p)| *a += p);
            }
        }
        sc
    };
    let tasks = (0..n).step_by(s.images);
    let total = if geo.parallel(&s) {
        tasks.collect::<Vec<_>>().into_par_iter().fold(Scratch::default, one_task).map(|sc| sc.acc).reduce(
            Vec::new,
            |a, b| match (a.is_empty(), b.is_empty()) {
                (true, _) => b,
                (_, true) => a,
                _ => a.into_iter().zip(b).map(|(a, b)| a + b).collect(),
            },
        )
    } else {
        tasks.fold(Scratch::default(), one_task).acc
    };
    if total.is_empty() {
        gw.fill(T::ZERO); // no images
    } else {
        gw.copy_from_slice(&total);
    }
}
