//! `im2col`, `col2im` and the three convolution kernels against plain loop references over
//! random geometries (odd sizes, stride, padding, dilation, groups, several images and channels,
//! sizes crossing the parallel threshold and the column-block size).

mod common;

use common::{close, gamma, to_f64, uniform, unit_roundoff, window_geometry, U64};
use ferrograd_kernels::conv::{
    col2im, conv2d, conv2d_backward, conv2d_bias, conv2d_gemm, conv2d_input_grad, conv2d_input_grad_gemm,
    conv2d_weight_grad, conv2d_weight_grad_gemm, im2col, narrow, winograd, Conv2dGeometry, Window2d,
};
use ferrograd_kernels::Float;
use proptest::prelude::*;

/// The input position read by tap (ki, kj) at output (oy, ox), if inside the image.
fn src(g: &Window2d, ki: usize, kj: usize, oy: usize, ox: usize) -> Option<(usize, usize)> {
    let iy = (oy * g.stride[0] + ki * g.dilation[0]) as isize - g.padding[0] as isize;
    let ix = (ox * g.stride[1] + kj * g.dilation[1]) as isize - g.padding[1] as isize;
    (iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w).then_some((iy as usize, ix as usize))
}

/// `im2col` and `col2im` of `g` in precision `T` against the loop references, exactly.
fn check_im2col<T: Float>(g: &Window2d, seed: u32) -> Result<(), TestCaseError> {
    let (oh, ow) = g.output_size().unwrap();
    let (taps, l) = (g.kernel[0] * g.kernel[1], oh * ow);
    // Distinct values (never zero, exact in f32 too) so a misplaced copy cannot go unnoticed.
    let x: Vec<T> =
        (0..g.n * g.c * g.h * g.w).map(|i| T::from_f64(1.0 + i as f64 + (seed % 64) as f64 / 64.0)).collect();
    let mut cols = vec![T::from_f64(f64::NAN); g.n * g.c * taps * l];
    im2col(&x, g, T::from_f64(-7.5), &mut cols);
    let mut back = vec![T::from_f64(f64::NAN); x.len()];
    let ones: Vec<T> = (0..cols.len()).map(|i| T::from_f64((i % 7) as f64 + 0.5)).collect();
    col2im(&ones, g, &mut back);
    let mut expect_back = vec![T::ZERO; x.len()];
    for n in 0..g.n {
        for c in 0..g.c {
            for ki in 0..g.kernel[0] {
                for kj in 0..g.kernel[1] {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let ci = ((n * g.c + c) * taps + ki * g.kernel[1] + kj) * l + oy * ow + ox;
                            let want = match src(g, ki, kj, oy, ox) {
                                Some((iy, ix)) => {
                                    let xi = ((n * g.c + c) * g.h + iy) * g.w + ix;
                                    expect_back[xi] += ones[ci];
                                    x[xi]
                                }
                                None => T::from_f64(-7.5),
                            };
                            prop_assert_eq!(cols[ci].to_f64(), want.to_f64());
                        }
                    }
                }
            }
        }
    }
    // col2im sums the same values in the same order per pixel as the reference: exact.
    prop_assert_eq!(to_f64(&back), to_f64(&expect_back));
    Ok(())
}

proptest! {
    // 256 cases: rare geometries (a valid row with no valid column) once slipped past 48.
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn im2col_and_col2im_match_loop_references(g in window_geometry(3, 40), seed in any::<u32>()) {
        check_im2col::<f64>(&g, seed)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// f32 on wide images: runs of up to 80 values, strided ones included.
    #[test]
    fn im2col_and_col2im_match_loop_references_f32_wide(g in window_geometry(2, 80), seed in any::<u32>()) {
        check_im2col::<f32>(&g, seed)?;
    }
}

/// A grouped convolution's geometry: (images, groups, channels per group, output channels per
/// group, H, W, kernel, stride, padding, dilation). Up to 40 channels per group × 3×3 taps, so
/// that the larger cases span several column blocks of the kernels, and up to 9 images (more
/// tasks than threads).
fn conv_geometry() -> impl Strategy<Value = Conv2dGeometry> {
    (
        (1usize..=9, 1usize..=3, 1usize..=40, 1usize..=4),
        (1usize..=24, 1usize..=24),
        ([1usize..=3, 1usize..=3], [1usize..=3, 1usize..=3], [0usize..=2, 0usize..=2], [1usize..=2, 1usize..=2]),
    )
        .prop_map(|((n, groups, cg, og), (h, w), (kernel, stride, padding, dilation))| Conv2dGeometry {
            window: Window2d { n, c: cg * groups, h, w, kernel, stride, padding, dilation },
            out_channels: og * groups,
            groups,
        })
        .prop_filter("window must fit", |g| g.window.output_size().is_some())
}

/// The three convolution products by plain loops in f64, each with the sum of the absolute
/// values of its terms (for the rounding-error bound): `(y, |y|, ∂x, |∂x|, ∂w, |∂w|)`.
#[allow(clippy::type_complexity)]
fn conv_reference(
    geo: &Conv2dGeometry,
    x: &[f64],
    w: &[f64],
    gy: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let g = &geo.window;
    let (oh, ow) = g.output_size().unwrap();
    let (cg, og) = (g.c / geo.groups, geo.out_channels / geo.groups);
    let (mut y, mut ya) = (vec![0.0; geo.output_len()], vec![0.0; geo.output_len()]);
    let (mut gx, mut gxa) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    let (mut gw, mut gwa) = (vec![0.0; w.len()], vec![0.0; w.len()]);
    for n in 0..g.n {
        for o in 0..geo.out_channels {
            for ci in 0..cg {
                let c = o / og * cg + ci;
                for ki in 0..g.kernel[0] {
                    for kj in 0..g.kernel[1] {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let Some((iy, ix)) = src(g, ki, kj, oy, ox) else { continue };
                                let xi = ((n * g.c + c) * g.h + iy) * g.w + ix;
                                let wi = ((o * cg + ci) * g.kernel[0] + ki) * g.kernel[1] + kj;
                                let yi = ((n * geo.out_channels + o) * oh + oy) * ow + ox;
                                y[yi] += x[xi] * w[wi];
                                ya[yi] += (x[xi] * w[wi]).abs();
                                gx[xi] += gy[yi] * w[wi];
                                gxa[xi] += (gy[yi] * w[wi]).abs();
                                gw[wi] += gy[yi] * x[xi];
                                gwa[wi] += (gy[yi] * x[xi]).abs();
                            }
                        }
                    }
                }
            }
        }
    }
    (y, ya, gx, gxa, gw, gwa)
}

/// Which kernels a check runs: the dispatching entry points, the blocked GEMMs, or Winograd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algo {
    Auto,
    Gemm,
    Winograd,
}

/// Checks the three kernels in precision `T` against the f64 reference (through the dispatching
/// entry points). Each result is a sum of at most `terms` products, so its error is within
/// `γ_{terms+1}·Σ|products|` (Higham's bound for a dot product in any summation order), plus
/// the reference's own f64 rounding. Winograd's transforms add and cancel terms before
/// multiplying, so its bound is the one of [`winograd_magnitudes`].
fn check_conv<T: Float>(geo: &Conv2dGeometry, seed: u64) -> Result<(), TestCaseError> {
    check_conv_with::<T>(geo, seed, Algo::Auto)
}

fn check_conv_with<T: Float>(geo: &Conv2dGeometry, seed: u64, algo: Algo) -> Result<(), TestCaseError> {
    let g = &geo.window;
    let (oh, ow) = g.output_size().unwrap();
    let x: Vec<T> = uniform(seed, geo.input_len(), -1.0, 1.0);
    let w: Vec<T> = uniform(seed + 1, geo.weight_len(), -1.0, 1.0);
    let gy: Vec<T> = uniform(seed + 2, geo.output_len(), -1.0, 1.0);
    let (xs, ws, gys) = (to_f64(&x), to_f64(&w), to_f64(&gy));
    let (y_ref, ya, gx_ref, gxa, gw_ref, gwa) = conv_reference(geo, &xs, &ws, &gys);
    let mut y = vec![T::from_f64(f64::NAN); geo.output_len()];
    let mut gx = vec![T::from_f64(f64::NAN); x.len()];
    let mut gw = vec![T::from_f64(f64::NAN); w.len()];
    match algo {
        Algo::Auto => {
            conv2d(&x, &w, geo, &mut y);
            conv2d_input_grad(&gy, &w, geo, &mut gx);
            conv2d_weight_grad(&x, &gy, geo, &mut gw);
        }
        Algo::Gemm => {
            conv2d_gemm(&x, &w, geo, &mut y);
            conv2d_input_grad_gemm(&gy, &w, geo, &mut gx);
            conv2d_weight_grad_gemm(&x, &gy, geo, &mut gw);
        }
        Algo::Winograd => {
            winograd::forward(&x, &w, None, geo, &mut y);
            winograd::input_grad(&gy, &w, geo, &mut gx);
            winograd::weight_grad(&x, &gy, geo, &mut gw);
        }
    }
    let u = unit_roundoff::<T>();
    let taps = g.kernel[0] * g.kernel[1];
    let by_winograd = algo == Algo::Winograd || (algo == Algo::Auto && winograd::applies(geo));
    let (ya, gxa, gwa, terms) = if by_winograd {
        let (ya, gxa, gwa) = winograd_magnitudes(geo, &xs, &ws, &gys);
        let tiles = g.n * oh.div_ceil(2) * ow.div_ceil(2);
        (ya, gxa, gwa, [g.c + 16, geo.out_channels + 16, tiles + 16])
    } else {
        let t = [g.c / geo.groups * taps, geo.out_channels / geo.groups * taps, g.n * oh * ow];
        (ya, gxa, gwa, t)
    };
    let cases = [
        ("conv2d", &y, &y_ref, &ya, terms[0]),
        ("conv2d_input_grad", &gx, &gx_ref, &gxa, terms[1]),
        ("conv2d_weight_grad", &gw, &gw_ref, &gwa, terms[2]),
    ];
    for (name, got, want, abs, terms) in cases {
        let rel = gamma(terms + 1, u) + gamma(terms + 1, U64);
        for i in 0..got.len() {
            let (v, r) = (got[i].to_f64(), want[i]);
            prop_assert!(
                close(v, r, rel * abs[i]),
                "{name}[{i}]: {v} vs {r} (|terms| {}) for {geo:?} ({algo:?})",
                abs[i]
            );
        }
    }
    Ok(())
}

/// The rounding-error scale of Winograd F(2×2, 3×3) for each result: the same computation with
/// every matrix and value replaced by its absolute value. Each transform, product and sum of
/// the algorithm errs by at most a few roundings of the absolute-valued quantities it combines,
/// so the error of each result is within `γ_K` times this, with `K` the number of roundings
/// along the longest chain: the channel (or tile) sum plus 16 for the transforms.
// Index loops read like the formulas they follow.
#[allow(clippy::needless_range_loop)]
fn winograd_magnitudes(geo: &Conv2dGeometry, x: &[f64], w: &[f64], gy: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    type M = Vec<Vec<f64>>;
    let mul = |a: &M, b: &M| -> M {
        (0..a.len()).map(|i| (0..b[0].len()).map(|j| (0..b.len()).map(|k| a[i][k] * b[k][j]).sum()).collect()).collect()
    };
    let t = |a: &M| -> M { (0..a[0].len()).map(|j| a.iter().map(|r| r[j]).collect()).collect() };
    let g_abs: M = vec![vec![1.0, 0.0, 0.0], vec![0.5, 0.5, 0.5], vec![0.5, 0.5, 0.5], vec![0.0, 0.0, 1.0]];
    let bt_abs: M =
        vec![vec![1.0, 0.0, 1.0, 0.0], vec![0.0, 1.0, 1.0, 0.0], vec![0.0, 1.0, 1.0, 0.0], vec![0.0, 1.0, 0.0, 1.0]];
    let at_abs: M = vec![vec![1.0, 1.0, 1.0, 0.0], vec![0.0, 1.0, 1.0, 1.0]];
    let g = &geo.window;
    let (c, o) = (g.c, geo.out_channels);
    let (oh, ow) = g.output_size().unwrap();
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    let u: Vec<M> = (0..o * c)
        .map(|oc| {
            let k: M = (0..3).map(|i| (0..3).map(|j| w[oc * 9 + i * 3 + j].abs()).collect()).collect();
            mul(&mul(&g_abs, &k), &t(&g_abs))
        })
        .collect();
    let (mut ya, mut gxa) = (vec![0.0; geo.output_len()], vec![0.0; geo.input_len()]);
    let mut gu: Vec<M> = vec![vec![vec![0.0; 4]; 4]; o * c];
    for n in 0..g.n {
        for ty in 0..th {
            for tx in 0..tw {
                let (y0, x0) = ((2 * ty) as isize - g.padding[0] as isize, (2 * tx) as isize - g.padding[1] as isize);
                let pixel = |ch: usize, i: usize, j: usize| {
                    let (yy, xx) = (y0 + i as isize, x0 + j as isize);
                    (yy >= 0 && xx >= 0 && (yy as usize) < g.h && (xx as usize) < g.w)
                        .then(|| ((n * c + ch) * g.h + yy as usize) * g.w + xx as usize)
                };
                let v: Vec<M> = (0..c)
                    .map(|ch| {
                        let d: M = (0..4)
                            .map(|i| (0..4).map(|j| pixel(ch, i, j).map_or(0.0, |p| x[p].abs())).collect())
                            .collect();
                        mul(&mul(&bt_abs, &d), &t(&bt_abs))
                    })
                    .collect();
                let out = |oc: usize, i: usize, j: usize| {
                    let (yy, xx) = (2 * ty + i, 2 * tx + j);
                    (yy < oh && xx < ow).then(|| ((n * o + oc) * oh + yy) * ow + xx)
                };
                let dm: Vec<M> = (0..o)
                    .map(|oc| {
                        let dy: M = (0..2)
                            .map(|i| (0..2).map(|j| out(oc, i, j).map_or(0.0, |p| gy[p].abs())).collect())
                            .collect();
                        mul(&mul(&t(&at_abs), &dy), &at_abs)
                    })
                    .collect();
                for oc in 0..o {
                    let m: M = (0..4)
                        .map(|i| (0..4).map(|j| (0..c).map(|ch| u[oc * c + ch][i][j] * v[ch][i][j]).sum()).collect())
                        .collect();
                    let y = mul(&mul(&at_abs, &m), &t(&at_abs));
                    for i in 0..2 {
                        for j in 0..2 {
                            if let Some(p) = out(oc, i, j) {
                                ya[p] += y[i][j];
                            }
                        }
                    }
                    for ch in 0..c {
                        for i in 0..4 {
                            for j in 0..4 {
                                gu[oc * c + ch][i][j] += dm[oc][i][j] * v[ch][i][j];
                            }
                        }
                    }
                }
                for ch in 0..c {
                    let dv: M = (0..4)
                        .map(|i| (0..4).map(|j| (0..o).map(|oc| u[oc * c + ch][i][j] * dm[oc][i][j]).sum()).collect())
                        .collect();
                    let dd = mul(&mul(&t(&bt_abs), &dv), &bt_abs);
                    for i in 0..4 {
                        for j in 0..4 {
                            if let Some(p) = pixel(ch, i, j) {
                                gxa[p] += dd[i][j];
                            }
                        }
                    }
                }
            }
        }
    }
    let gwa =
        gu.iter().flat_map(|m| mul(&mul(&t(&g_abs), m), &g_abs).into_iter().flatten().collect::<Vec<_>>()).collect();
    (ya, gxa, gwa)
}

/// A geometry Winograd supports (3×3, stride 1), with the channel counts it is used for: odd
/// sizes (ragged tiles at the edge), padding 0–2, images down to 1×1 outputs, several images per
/// task and chunk.
fn winograd_geometry() -> impl Strategy<Value = Conv2dGeometry> {
    ((1usize..=5, 8usize..=20, 8usize..=20), (1usize..=13, 1usize..=13), [0usize..=2, 0usize..=2])
        .prop_map(|((n, c, o), (h, w), padding)| Conv2dGeometry {
            window: Window2d { n, c, h, w, kernel: [3, 3], stride: [1, 1], padding, dilation: [1, 1] },
            out_channels: o,
            groups: 1,
        })
        .prop_filter("window must fit", |g| g.window.output_size().is_some())
}

/// `conv2d_bias` adds the bias where each kernel writes its outputs; the result must be exactly
/// `conv2d`'s plus the bias (one rounding, the same in both).
fn check_bias<T: Float>(geo: &Conv2dGeometry, seed: u64) -> Result<(), TestCaseError> {
    let x: Vec<T> = uniform(seed, geo.input_len(), -1.0, 1.0);
    let w: Vec<T> = uniform(seed + 1, geo.weight_len(), -1.0, 1.0);
    let b: Vec<T> = uniform(seed + 2, geo.out_channels, -1.0, 1.0);
    let (mut y, mut yb) = (vec![T::ZERO; geo.output_len()], vec![T::from_f64(f64::NAN); geo.output_len()]);
    conv2d(&x, &w, geo, &mut y);
    conv2d_bias(&x, &w, Some(&b), geo, &mut yb);
    let l = geo.output_len() / (geo.window.n * geo.out_channels).max(1);
    for (i, (&got, &plain)) in yb.iter().zip(&y).enumerate() {
        let want = plain + b[i / l.max(1) % geo.out_channels];
        prop_assert!(got.to_f64() == want.to_f64(), "{i}: {got:?} vs {want:?} ({geo:?})");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn conv2d_bias_adds_the_bias_on_every_path(geo in conv_geometry(), seed in any::<u64>()) {
        check_bias::<f64>(&geo, seed)?;
    }

    #[test]
    fn conv2d_bias_adds_the_bias_through_winograd(geo in winograd_geometry(), seed in any::<u64>()) {
        check_bias::<f32>(&geo, seed)?;
    }
}

/// `conv2d_backward` gives the bits `conv2d_input_grad` and `conv2d_weight_grad` give (with
/// Winograd it shares the transformed output gradient between the two, and sums the weight
/// gradient's partial sums in the same order).
fn check_backward<T: Float>(geo: &Conv2dGeometry, seed: u64) -> Result<(), TestCaseError> {
    let x: Vec<T> = uniform(seed, geo.input_len(), -1.0, 1.0);
    let w: Vec<T> = uniform(seed + 1, geo.weight_len(), -1.0, 1.0);
    let gy: Vec<T> = uniform(seed + 2, geo.output_len(), -1.0, 1.0);
    let (mut gx, mut gw) = (vec![T::ZERO; x.len()], vec![T::ZERO; w.len()]);
    conv2d_input_grad(&gy, &w, geo, &mut gx);
    conv2d_weight_grad(&x, &gy, geo, &mut gw);
    let (mut gx2, mut gw2) = (vec![T::from_f64(f64::NAN); x.len()], vec![T::from_f64(f64::NAN); w.len()]);
    conv2d_backward(&x, &gy, &w, geo, &mut gx2, &mut gw2);
    for (name, a, b) in [("∂x", &gx, &gx2), ("∂w", &gw, &gw2)] {
        for (i, (p, q)) in a.iter().zip(b.iter()).enumerate() {
            prop_assert!(p.to_f64().to_bits() == q.to_f64().to_bits(), "{name} {i}: {p:?} vs {q:?} ({geo:?})");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn conv2d_backward_gives_the_two_gradients_bit_for_bit(geo in winograd_geometry(), seed in any::<u64>()) {
        check_backward::<f64>(&geo, seed)?;
        let any = Conv2dGeometry { out_channels: geo.out_channels.max(16), window: Window2d { c: geo.window.c.max(16), ..geo.window }, ..geo };
        check_backward::<f32>(&any, seed)?;
    }
}

/// The same on the parallel path (the MNIST CNN's second layer), and off Winograd.
#[test]
fn conv2d_backward_gives_the_two_gradients_on_large_layers() {
    let window =
        Window2d { n: 64, c: 32, h: 13, w: 13, kernel: [3, 3], stride: [1, 1], padding: [0, 0], dilation: [1, 1] };
    let geo = Conv2dGeometry { window, out_channels: 64, groups: 1 };
    assert!(winograd::applies(&geo));
    check_backward::<f32>(&geo, 21).unwrap();
    let window = Window2d { n: 9, c: 3, h: 20, w: 18, kernel: [4, 4], stride: [2, 2], padding: [1, 1], ..window };
    check_backward::<f32>(&Conv2dGeometry { window, out_channels: 10, groups: 1 }, 22).unwrap();
}

/// The bias on the paths a large batch takes: Winograd, one image's GEMM written in place (a
/// narrow field over 26² outputs), several images side by side, the whole-image window and
/// one output channel per group.
#[test]
fn conv2d_bias_adds_the_bias_on_large_layers() {
    let window =
        Window2d { n: 64, c: 1, h: 28, w: 28, kernel: [3, 3], stride: [1, 1], padding: [0, 0], dilation: [1, 1] };
    check_bias::<f32>(&Conv2dGeometry { window, out_channels: 32, groups: 1 }, 1).unwrap();
    let window = Window2d { c: 32, h: 13, w: 13, ..window };
    check_bias::<f32>(&Conv2dGeometry { window, out_channels: 64, groups: 1 }, 2).unwrap();
    let window = Window2d { n: 37, c: 8, h: 9, w: 9, ..window };
    check_bias::<f32>(&Conv2dGeometry { window, out_channels: 8, groups: 1 }, 3).unwrap();
    let window = Window2d { n: 50, c: 16, h: 7, w: 7, kernel: [7, 7], ..window };
    check_bias::<f32>(&Conv2dGeometry { window, out_channels: 16, groups: 1 }, 4).unwrap();
    let window = Window2d { n: 40, c: 16, h: 28, w: 28, kernel: [3, 3], padding: [1, 1], ..window };
    check_bias::<f32>(&Conv2dGeometry { window, out_channels: 1, groups: 1 }, 5).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn winograd_matches_the_loop_reference_f64(geo in winograd_geometry(), seed in any::<u64>()) {
        prop_assert!(winograd::supports(&geo));
        check_conv_with::<f64>(&geo, seed >> 2, Algo::Winograd)?;
    }

    #[test]
    fn winograd_matches_the_loop_reference_f32(geo in winograd_geometry(), seed in any::<u64>()) {
        check_conv_with::<f32>(&geo, seed >> 2, Algo::Winograd)?;
    }

    /// The blocked GEMMs on the same geometries (the large-layer test below runs both kernels
    /// on a layer the dispatch sends to Winograd).
    #[test]
    fn gemm_path_matches_the_loop_reference_on_winograd_shapes(geo in winograd_geometry(), seed in any::<u64>()) {
        check_conv_with::<f32>(&geo, seed >> 2, Algo::Gemm)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn conv2d_kernels_match_the_loop_reference_f64(geo in conv_geometry(), seed in any::<u64>()) {
        check_conv::<f64>(&geo, seed >> 2)?;
    }

    #[test]
    fn conv2d_kernels_match_the_loop_reference_f32(geo in conv_geometry(), seed in any::<u64>()) {
        check_conv::<f32>(&geo, seed >> 2)?;
    }
}

/// A layer of the size the benchmarks use (64 channels, 3×3, padding 1), large enough to take
/// the parallel path, the AVX-512 GEMM and several column blocks per image.
#[test]
fn conv2d_kernels_match_the_loop_reference_on_a_large_layer() {
    let geo = Conv2dGeometry {
        window: Window2d {
            n: 2,
            c: 64,
            h: 30,
            w: 30,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
        },
        out_channels: 64,
        groups: 1,
    };
    check_conv::<f32>(&geo, 5).unwrap(); // Winograd
    check_conv_with::<f32>(&geo, 5, Algo::Gemm).unwrap();
}

/// Many small images with a ragged last block: the kernels put several 7×7 images side by
/// side in one product (37 images on the parallel path: blocks of 10, 10, 10 and 7).
#[test]
fn conv2d_kernels_match_the_loop_reference_on_many_small_images() {
    let window =
        Window2d { n: 37, c: 32, h: 9, w: 9, kernel: [3, 3], stride: [1, 1], padding: [0, 0], dilation: [1, 1] };
    check_conv::<f32>(&Conv2dGeometry { window, out_channels: 64, groups: 1 }, 6).unwrap();
    check_conv_with::<f32>(&Conv2dGeometry { window, out_channels: 64, groups: 1 }, 6, Algo::Winograd).unwrap();
    // The window is the whole image (one output position), as for a transposed convolution
    // from a 1×1 input: the kernels multiply the images in place, on the parallel path and
    // (a few grouped images) on one thread.
    let window = Window2d { n: 50, c: 64, h: 7, w: 7, kernel: [7, 7], ..window };
    check_conv::<f32>(&Conv2dGeometry { window, out_channels: 64, groups: 1 }, 7).unwrap();
    let window = Window2d { n: 3, c: 4, h: 3, w: 2, kernel: [3, 2], stride: [2, 1], ..window };
    check_conv::<f64>(&Conv2dGeometry { window, out_channels: 6, groups: 2 }, 8).unwrap();
}

/// One output channel per group goes the direct way (no columns): a one-channel image layer on
/// the parallel path, and a depthwise strided convolution.
#[test]
fn conv2d_kernels_match_the_loop_reference_with_one_output_channel_per_group() {
    let window =
        Window2d { n: 40, c: 16, h: 28, w: 28, kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] };
    check_conv::<f32>(&Conv2dGeometry { window, out_channels: 1, groups: 1 }, 9).unwrap();
    let window = Window2d { n: 3, c: 8, h: 9, w: 8, kernel: [3, 3], stride: [2, 2], ..window };
    check_conv::<f64>(&Conv2dGeometry { window, out_channels: 8, groups: 8 }, 10).unwrap();
    // A wide field over a large image: the weight gradient's columns come in blocks (576
    // values per position, 4096 positions: 10 blocks of at most 1 MiB).
    let window = Window2d { n: 2, c: 64, h: 64, w: 64, stride: [1, 1], ..window };
    check_conv::<f32>(&Conv2dGeometry { window, out_channels: 1, groups: 1 }, 14).unwrap();
}

/// A narrow receptive field (at most 32 values) takes the dot-product weight gradient
/// (`conv::narrow`): the MNIST CNN's first layer on the parallel path (positions in whole
/// blocks of 16 and a ragged last one), three channels with two groups and a stride, and a
/// field of exactly 32 values; the GEMMs on the same shapes for comparison.
#[test]
fn conv2d_kernels_match_the_loop_reference_with_a_narrow_receptive_field() {
    let window =
        Window2d { n: 64, c: 1, h: 28, w: 28, kernel: [3, 3], stride: [1, 1], padding: [0, 0], dilation: [1, 1] };
    let first_layer = Conv2dGeometry { window, out_channels: 32, groups: 1 };
    assert!(narrow::applies(&first_layer));
    check_conv::<f32>(&first_layer, 11).unwrap();
    check_conv_with::<f32>(&first_layer, 11, Algo::Gemm).unwrap();
    let window = Window2d { n: 5, c: 6, h: 17, w: 13, kernel: [3, 3], stride: [2, 1], padding: [1, 2], ..window };
    let grouped = Conv2dGeometry { window, out_channels: 10, groups: 2 };
    assert!(narrow::applies(&grouped));
    check_conv::<f64>(&grouped, 12).unwrap();
    let window = Window2d { n: 3, c: 2, h: 12, w: 12, kernel: [4, 4], stride: [1, 1], padding: [0, 0], ..window };
    let widest = Conv2dGeometry { window, out_channels: 7, groups: 1 };
    assert!(narrow::applies(&widest));
    check_conv::<f32>(&widest, 13).unwrap();
}

/// The weight gradients sum per-thread partial sums; they must come out bit for bit the same on
/// every run, whichever worker took which images (seeded training runs depend on it).
#[test]
fn weight_gradients_are_reproducible_bit_for_bit() {
    let window =
        Window2d { n: 37, c: 16, h: 20, w: 20, kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] };
    let geo = Conv2dGeometry { window, out_channels: 16, groups: 1 };
    let x: Vec<f32> = uniform(21, geo.input_len(), -1.0, 1.0);
    let gy: Vec<f32> = uniform(22, geo.output_len(), -1.0, 1.0);
    let run = |winograd_path: bool| {
        let mut gw = vec![0f32; geo.weight_len()];
        if winograd_path {
            winograd::weight_grad(&x, &gy, &geo, &mut gw);
        } else {
            conv2d_weight_grad_gemm(&x, &gy, &geo, &mut gw);
        }
        gw.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    // Each repetition keeps one worker busy for a different time beside the computation, so that
    // the work is shared out differently between the threads from one repetition to the next.
    let busy = |micros: u64| {
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_micros(micros) {
            std::hint::spin_loop();
        }
    };
    for winograd_path in [false, true] {
        let first = run(winograd_path);
        for rep in 0..12u64 {
            let (again, ()) = rayon::join(|| run(winograd_path), || busy(rep % 4 * 300));
            assert_eq!(again, first, "winograd: {winograd_path}, repetition {rep}");
        }
    }
}
