//! `im2col` and `col2im` against plain loop references over random geometries (odd sizes,
//! stride, padding, dilation, several images and channels, sizes crossing the parallel
//! threshold).

use ferrograd_kernels::conv::{col2im, im2col, Window2d};
use proptest::prelude::*;

fn geometry() -> impl Strategy<Value = Window2d> {
    (
        1usize..=3,
        1usize..=3,
        1usize..=40,
        1usize..=40,
        [1usize..=4, 1usize..=4],
        [1usize..=3, 1usize..=3],
        [0usize..=2, 0usize..=2],
        [1usize..=2, 1usize..=2],
    )
        .prop_map(|(n, c, h, w, kernel, stride, padding, dilation)| Window2d {
            n,
            c,
            h,
            w,
            kernel,
            stride,
            padding,
            dilation,
        })
        .prop_filter("window must fit", |g| g.output_size().is_some())
}

/// The input position read by tap (ki, kj) at output (oy, ox), if inside the image.
fn src(g: &Window2d, ki: usize, kj: usize, oy: usize, ox: usize) -> Option<(usize, usize)> {
    let iy = (oy * g.stride[0] + ki * g.dilation[0]) as isize - g.padding[0] as isize;
    let ix = (ox * g.stride[1] + kj * g.dilation[1]) as isize - g.padding[1] as isize;
    (iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w).then_some((iy as usize, ix as usize))
}

proptest! {
    // 256 cases: rare geometries (a valid row with no valid column) once slipped past 48.
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn im2col_and_col2im_match_loop_references(g in geometry(), seed in any::<u32>()) {
        let (oh, ow) = g.output_size().unwrap();
        let (taps, l) = (g.kernel[0] * g.kernel[1], oh * ow);
        // Distinct values (never zero) so a misplaced copy cannot go unnoticed.
        let x: Vec<f64> = (0..g.n * g.c * g.h * g.w).map(|i| 1.0 + i as f64 + seed as f64 * 1e-6).collect();
        let mut cols = vec![f64::NAN; g.n * g.c * taps * l];
        im2col(&x, &g, -7.5, &mut cols);
        let mut back = vec![f64::NAN; x.len()];
        let ones: Vec<f64> = (0..cols.len()).map(|i| (i % 7) as f64 + 0.5).collect();
        col2im(&ones, &g, &mut back);
        let mut expect_back = vec![0.0; x.len()];
        for n in 0..g.n {
            for c in 0..g.c {
                for ki in 0..g.kernel[0] {
                    for kj in 0..g.kernel[1] {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let ci = ((n * g.c + c) * taps + ki * g.kernel[1] + kj) * l + oy * ow + ox;
                                let want = match src(&g, ki, kj, oy, ox) {
                                    Some((iy, ix)) => {
                                        let xi = ((n * g.c + c) * g.h + iy) * g.w + ix;
                                        expect_back[xi] += ones[ci];
                                        x[xi]
                                    }
                                    None => -7.5,
                                };
                                prop_assert_eq!(cols[ci], want);
                            }
                        }
                    }
                }
            }
        }
        // col2im sums the same values in the same order per pixel as the reference: exact.
        prop_assert_eq!(back, expect_back);
    }
}
