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
//! Work is split over (image, group) pairs with rayon: a task owns its output rows (forward) or
//! its input-gradient planes, so no two threads write the same element; for the weight gradient
//! each thread sums into its own accumulator, added up at the end (no lock per element).
//! (Blocks spanning several small images, for larger products, were tried: they measured the
//! same on 13² images and cost an extra copy of the output, so blocks stay within one image.)

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
        let fit = BLOCK_BYTES / std::mem::size_of::<T>() / k.max(1);
        let block = if fit >= l { l } else { (fit / 32 * 32).max(32) };
        Sizes { cg, og, k, l, plane: g.h * g.w, block: block.max(1) }
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

/// The column blocks `[l0, l1)` covering `0..L`.
fn blocks(s: &Sizes) -> impl Iterator<Item = [usize; 2]> {
    let (l, block) = (s.l, s.block);
    (0..l.div_ceil(block)).map(move |b| [b * block, (b * block + block).min(l)])
}

/// Runs `task(index, chunk, scratch)` over the `len`-element chunks of `out`, in parallel when
/// `parallel`, with one reusable scratch buffer per worker.
fn for_each_chunk<T: Float, O: Slot<T>>(
    out: &mut [O],
    len: usize,
    parallel: bool,
    task: impl Fn(usize, &mut [O], &mut Vec<T>) + Sync + Send,
) {
    if parallel {
        out.par_chunks_mut(len).enumerate().for_each_init(Vec::new, |scratch, (i, chunk)| task(i, chunk, scratch));
    } else {
        let mut scratch = Vec::new();
        out.chunks_mut(len).enumerate().for_each(|(i, chunk)| task(i, chunk, &mut scratch));
    }
}

/// The im2col columns `l0..l1` of image `n`, group `grp`, into `cols` (resized to `k × width`).
fn fill_columns<T: Float>(
    x: &[T],
    geo: &Conv2dGeometry,
    s: &Sizes,
    [n, grp]: [usize; 2],
    l: [usize; 2],
    cols: &mut Vec<T>,
) {
    let width = l[1] - l[0];
    cols.resize(s.k * width, T::ZERO);
    let img = &x[(n * geo.window.c + grp * s.cg) * s.plane..][..s.cg * s.plane];
    im2col_columns(img, &geo.window, s.cg, l, T::ZERO, &mut cols[..], width);
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
    // One task per (image, group): its output rows are the chunk `y[n, group·og .., :]`.
    for_each_chunk(y, s.og * s.l, geo.parallel(&s), |task, y, cols: &mut Vec<T>| {
        let (n, grp) = (task / geo.groups, task % geo.groups);
        let wg = &w[grp * s.og * s.k..][..s.og * s.k];
        for [l0, l1] in blocks(&s) {
            fill_columns(x, geo, &s, [n, grp], [l0, l1], cols);
            // SAFETY: `wg` is og × k and `cols` k × width (both row-major, inside their
            // buffers); the output block — rows 0..og, columns l0..l1 of this chunk, row stride
            // L — lies inside the chunk's og·L elements. `O` is `T` or `MaybeUninit<T>`
            // (sealed), laid out as `T`, and `gemm` writes every element of C without reading it.
            unsafe {
                T::gemm(
                    s.og,
                    s.k,
                    l1 - l0,
                    wg.as_ptr(),
                    [s.k as isize, 1],
                    cols.as_ptr(),
                    [(l1 - l0) as isize, 1],
                    (y.as_mut_ptr() as *mut T).add(l0),
                    s.l as isize,
                );
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
    // One task per (image, group): it owns the input-gradient planes of its channels (blocks of
    // columns overlap on the image, so they run one after the other within the task).
    for_each_chunk(gx, s.cg * s.plane, geo.parallel(&s), |task, gx, cols: &mut Vec<T>| {
        gx.fill(T::ZERO);
        let (n, grp) = (task / geo.groups, task % geo.groups);
        let g = &gy[(n * geo.out_channels + grp * s.og) * s.l..][..s.og * s.l];
        let wg = &w[grp * s.og * s.k..][..s.og * s.k];
        for [l0, l1] in blocks(&s) {
            let width = l1 - l0;
            cols.resize(s.k * width, T::ZERO);
            // SAFETY: A = Wᵀ is k × og, read through `wg` with strides (1, k); B is og × width,
            // columns l0..l1 of `g` (row stride L); C is the k × width scratch block.
            unsafe {
                T::gemm(
                    s.k,
                    s.og,
                    width,
                    wg.as_ptr(),
                    [1, s.k as isize],
                    g.as_ptr().add(l0),
                    [s.l as isize, 1],
                    cols.as_mut_ptr(),
                    width as isize,
                );
            }
            col2im_columns(&cols[..], &geo.window, s.cg, [l0, l1], gx, width);
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
    // Per worker: the weight-gradient accumulator, the column block, and one block's product
    // before it is accumulated.
    #[derive(Default)]
    struct Scratch<T> {
        acc: Vec<T>,
        cols: Vec<T>,
        product: Vec<T>,
    }
    let one_image = |mut sc: Scratch<T>, n: usize| {
        if sc.acc.is_empty() {
            sc.acc = vec![T::ZERO; gw.len()];
        }
        sc.product.resize(s.og * s.k, T::ZERO);
        for grp in 0..geo.groups {
            let g = &gy[(n * geo.out_channels + grp * s.og) * s.l..][..s.og * s.l];
            for [l0, l1] in blocks(&s) {
                fill_columns(x, geo, &s, [n, grp], [l0, l1], &mut sc.cols);
                // SAFETY: A is og × width, columns l0..l1 of `g` (row stride L); B = colsᵀ is
                // width × k, read through the k × width block with strides (1, width); C is the
                // og × k product buffer.
                unsafe {
                    T::gemm(
                        s.og,
                        l1 - l0,
                        s.k,
                        g.as_ptr().add(l0),
                        [s.l as isize, 1],
                        sc.cols.as_ptr(),
                        [1, (l1 - l0) as isize],
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
    let n = geo.window.n;
    let total = if geo.parallel(&s) {
        (0..n).into_par_iter().fold(Scratch::default, one_image).map(|sc| sc.acc).reduce(Vec::new, |a, b| {
            match (a.is_empty(), b.is_empty()) {
                (true, _) => b,
                (_, true) => a,
                _ => a.into_iter().zip(b).map(|(a, b)| a + b).collect(),
            }
        })
    } else {
        (0..n).fold(Scratch::default(), one_image).acc
    };
    if total.is_empty() {
        gw.fill(T::ZERO); // no images
    } else {
        gw.copy_from_slice(&total);
    }
}
