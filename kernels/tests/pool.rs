//! Max pooling, forward and backward, against plain loop references over random geometries
//! (odd sizes, stride, padding, dilation, overlapping windows, windows of padding alone),
//! with frequent ties, and NaN and infinities among the inputs.

mod common;

use common::{close, gamma, quantized, to_f64, unit_roundoff, window_geometry, Rng};
use ferrograd_kernels::conv::Window2d;
use ferrograd_kernels::pool::{max_pool2d, max_pool2d_backward};
use ferrograd_kernels::Float;
use proptest::prelude::*;

/// For output `(plane, oy, ox)`: each tap's input index, or `None` in the padding.
fn window(g: &Window2d, plane: usize, oy: usize, ox: usize) -> Vec<Option<usize>> {
    let mut taps = Vec::new();
    for ki in 0..g.kernel[0] {
        for kj in 0..g.kernel[1] {
            let iy = (oy * g.stride[0] + ki * g.dilation[0]) as isize - g.padding[0] as isize;
            let ix = (ox * g.stride[1] + kj * g.dilation[1]) as isize - g.padding[1] as isize;
            let inside = iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w;
            taps.push(inside.then(|| (plane * g.h + iy as usize) * g.w + ix as usize));
        }
    }
    taps
}

/// Quantized values (so windows tie often), with a NaN or an infinity here and there.
fn input<T: Float>(seed: u64, n: usize) -> Vec<T> {
    let mut x = quantized::<T>(seed, n);
    let mut rng = Rng::new(seed ^ 0x5eed);
    for _ in 0..rng.below(3) {
        let i = rng.below(n);
        x[i] = T::from_f64(rng.pick(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]));
    }
    x
}

fn check<T: Float>(g: Window2d, seed: u64) -> Result<(), TestCaseError> {
    let (oh, ow) = g.output_size().unwrap();
    let planes = g.n * g.c;
    let x = input::<T>(seed, planes * g.h * g.w);
    let xs = to_f64(&x);

    // Forward: exact (a maximum is one of the inputs).
    let mut y = vec![T::ZERO; planes * oh * ow];
    max_pool2d(&x, &g, &mut y);
    let mut want = Vec::new();
    for p in 0..planes {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut m = f64::NEG_INFINITY;
                for v in window(&g, p, oy, ox).iter().map(|t| t.map_or(f64::NEG_INFINITY, |i| xs[i])) {
                    // The first of equal values stays; a NaN, once in, stays.
                    if !(m >= v || m.is_nan()) {
                        m = v;
                    }
                }
                want.push(m);
            }
        }
    }
    for (i, (&got, &want)) in to_f64(&y).iter().zip(&want).enumerate() {
        prop_assert!(common::same(got, want), "forward {i}: {got} vs {want} ({g:?})");
    }

    // Backward: gx = Σ_windows gy · [x = y] / #ties, with padding counted among the ties.
    let gy = common::uniform::<T>(seed ^ 1, y.len(), -2.0, 2.0);
    let gys = to_f64(&gy);
    let mut gx = vec![T::from_f64(f64::NAN); x.len()];
    max_pool2d_backward(&x, &y, &gy, &g, &mut gx);
    let (mut want, mut size, mut terms) = (vec![0.0; x.len()], vec![0.0; x.len()], vec![0usize; x.len()]);
    for p in 0..planes {
        for oy in 0..oh {
            for ox in 0..ow {
                let o = (p * oh + oy) * ow + ox;
                let (taps, max) = (window(&g, p, oy, ox), y[o].to_f64());
                let value = |t: &Option<usize>| t.map_or(f64::NEG_INFINITY, |i| xs[i]);
                let ties = taps.iter().filter(|t| value(t) == max).count() as f64;
                for t in &taps {
                    let Some(i) = *t else { continue };
                    let share = if value(t) == max { 1.0 } else { 0.0 } / ties;
                    want[i] += gys[o] * share;
                    size[i] += (gys[o] * share).abs();
                    terms[i] += 1;
                }
            }
        }
    }
    // Each share is g·(1/#ties) in T (two roundings), then at most `terms` of them are added.
    let u = unit_roundoff::<T>();
    for (i, (&got, &want)) in to_f64(&gx).iter().zip(&want).enumerate() {
        let tol = gamma(terms[i] + 2, u) * size[i];
        prop_assert!(close(got, want, tol), "backward {i}: {got} vs {want} ± {tol} ({g:?})");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn max_pool_matches_loop_references_f32(g in window_geometry(3, 20), seed in any::<u64>()) {
        check::<f32>(g, seed)?;
    }

    #[test]
    fn max_pool_matches_loop_references_f64(g in window_geometry(3, 20), seed in any::<u64>()) {
        check::<f64>(g, seed)?;
    }
}

proptest! {
    // Batches large enough for the planes to be split over threads.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn max_pool_matches_loop_references_in_parallel(g in window_geometry(16, 40), seed in any::<u64>()) {
        check::<f32>(Window2d { n: g.n * 8, c: 4, ..g }, seed)?;
    }
}

/// 2×2 windows that tile the image (stride 2, no padding), which take a kernel of their own:
/// odd sizes leave a last row and column outside every window.
fn tiling_2x2(max_images: usize, max_side: usize) -> impl Strategy<Value = Window2d> {
    (1usize..=max_images, 1usize..=3, 2usize..=max_side, 2usize..=max_side).prop_map(|(n, c, h, w)| Window2d {
        n,
        c,
        h,
        w,
        kernel: [2, 2],
        stride: [2, 2],
        padding: [0, 0],
        dilation: [1, 1],
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn max_pool_2x2_tiling_matches_loop_references(g in tiling_2x2(3, 20), seed in any::<u64>()) {
        check::<f32>(g, seed)?;
        check::<f64>(g, seed)?;
    }

    #[test]
    fn max_pool_2x2_tiling_matches_loop_references_in_parallel(g in tiling_2x2(2, 40), seed in any::<u64>()) {
        check::<f32>(Window2d { n: g.n * 16, c: 8, ..g }, seed)?;
    }
}
