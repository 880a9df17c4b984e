//! Convolutions whose window is the whole unpadded image, as a transposed convolution from a
//! 1×1 input has (a DCGAN generator's first layer). Then `cols(x)` of image `n` is its own
//! group slice, `K = cg·H·W` values long, and each product runs over the whole batch at once,
//! reading the images in place:
//! ```text
//! forward        y[N, og]   =  X[N, K] · Wᵀ[K, og]
//! input grad     ∂x[N, K]   =  ∂y[N, og] · W[og, K]
//! weight grad    ∂W[og, K]  =  ∂yᵀ[og, N] · X[N, K]
//! ```
//! (per group; `X` rows are `C·H·W` apart, `∂y` rows `O` apart).
use super::conv2d::{for_each_chunk, Conv2dGeometry, Sizes};
use crate::{Float, Slot};

/// Images per task: the whole batch on one thread, else two tasks per thread.
fn images_per_task(geo: &Conv2dGeometry, s: &Sizes) -> usize {
    let n = geo.window.n;
    if s.parallel { n.div_ceil(2 * rayon::current_num_threads()) } else { n }.max(1)
}

pub(super) fn forward<T: Float, O: Slot<T>>(x: &[T], w: &[T], geo: &Conv2dGeometry, s: &Sizes, y: &mut [O]) {
    let (c, o) = (geo.window.c, geo.out_channels);
    let per = images_per_task(geo, s);
    for_each_chunk(y, per * o, s.parallel, |task, y, _: &mut ()| {
        let (n0, nb) = (task * per, y.len() / o);
        for grp in 0..geo.groups {
            let (xg, wg) = (&x[n0 * c * s.plane + grp * s.k..], &w[grp * s.og * s.k..][..s.og * s.k]);
            // SAFETY: A is nb × K, image rows C·H·W apart from this group's first value
            // (inside `x`: the last row ends at (n0 + nb − 1)·C·H·W + (grp + 1)·K ≤ len);
            // B = Wᵀ is K × og, read through `wg` with strides (1, K); C is nb × og at
            // column grp·og of this chunk's rows of O (inside the chunk). `O` is `T` or
            // `MaybeUninit<T>` (sealed), laid out as `T`, and `gemm` writes C unread.
            unsafe {
                T::gemm(
                    nb,
                    s.k,
                    s.og,
                    xg.as_ptr(),
                    [(c * s.plane) as isize, 1],
                    wg.as_ptr(),
                    [1, s.k as isize],
                    (y.as_mut_ptr() as *mut T).add(grp * s.og),
                    o as isize,
                );
            }
        }
    });
}

pub(super) fn input_grad<T: Float>(gy: &[T], w: &[T], geo: &Conv2dGeometry, s: &Sizes, gx: &mut [T]) {
    let (c, o) = (geo.window.c, geo.out_channels);
    let per = images_per_task(geo, s);
    for_each_chunk(gx, per * c * s.plane, s.parallel, |task, gx, _: &mut ()| {
        let (n0, nb) = (task * per, gx.len() / (c * s.plane));
        for grp in 0..geo.groups {
            let (g, wg) = (&gy[n0 * o + grp * s.og..], &w[grp * s.og * s.k..][..s.og * s.k]);
            // SAFETY: A is nb × og, rows O apart from this group's first channel (inside
            // `gy`); B is og × K, the group's weights (row-major, inside `wg`); C is
            // nb × K at column grp·K of this chunk's rows of C·H·W (inside the chunk).
            unsafe {
                T::gemm(
                    nb,
                    s.og,
                    s.k,
                    g.as_ptr(),
                    [o as isize, 1],
                    wg.as_ptr(),
                    [s.k as isize, 1],
                    gx.as_mut_ptr().add(grp * s.k),
                    (c * s.plane) as isize,
                );
            }
        }
    });
}

pub(super) fn weight_grad<T: Float>(x: &[T], gy: &[T], geo: &Conv2dGeometry, s: &Sizes, gw: &mut [T]) {
    let (c, o, n) = (geo.window.c, geo.out_channels, geo.window.n);
    if n == 0 {
        return gw.fill(T::ZERO); // no images: an empty sum
    }
    for grp in 0..geo.groups {
        let (g, xg) = (&gy[grp * s.og..], &x[grp * s.k..]);
        // SAFETY: A = ∂yᵀ is og × N, read with strides (1, O) from this group's first
        // channel (inside `gy`); B is N × K, image rows C·H·W apart (inside `x`); C is the
        // group's og × K block of `gw` (row-major, inside it).
        unsafe {
            T::gemm(
                s.og,
                n,
                s.k,
                g.as_ptr(),
                [1, o as isize],
                xg.as_ptr(),
                [(c * s.plane) as isize, 1],
                gw.as_mut_ptr().add(grp * s.og * s.k),
                s.k as isize,
            );
        }
    }
}
