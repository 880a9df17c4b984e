//! Convolution and pooling: forward passes against naive loop references, and gradcheck +
//! gradgradcheck over random shapes and hyper-parameters (stride, padding, dilation, groups,
//! odd sizes, batch 1).

mod common;

use common::*;
use ferrograd_autograd::{Rng, Tensor, Var, Window};
use proptest::prelude::*;

/// The seven-loop reference convolution, in f64.
#[allow(clippy::too_many_arguments)]
fn naive_conv2d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, win: Window, groups: usize) -> (Vec<f64>, [usize; 4]) {
    let (xs, ws) = (x.shape().to_vec(), w.shape().to_vec());
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (o, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    let out_len = |i: usize, k: usize, s: usize, p: usize, d: usize| (i + 2 * p - d * (k - 1) - 1) / s + 1;
    let oh = out_len(h, kh, win.stride[0], win.padding[0], win.dilation[0]);
    let ow = out_len(wd, kw, win.stride[1], win.padding[1], win.dilation[1]);
    let (xv, wv) = (x.to_vec::<f64>().unwrap(), w.to_vec::<f64>().unwrap());
    let bv = b.map(|b| b.to_vec::<f64>().unwrap());
    let og = o / groups;
    let mut out = vec![0.0; n * o * oh * ow];
    for ni in 0..n {
        for oc in 0..o {
            let grp = oc / og;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = bv.as_ref().map_or(0.0, |b| b[oc]);
                    for ci in 0..cg {
                        let ic = grp * cg + ci;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * win.stride[0] + ky * win.dilation[0]) as isize - win.padding[0] as isize;
                                let ix = (ox * win.stride[1] + kx * win.dilation[1]) as isize - win.padding[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let xi = ((ni * c + ic) * h + iy as usize) * wd + ix as usize;
                                acc += xv[xi] * wv[((oc * cg + ci) * kh + ky) * kw + kx];
                            }
                        }
                    }
                    out[((ni * o + oc) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    (out, [n, o, oh, ow])
}

/// The reference pooling (max or mean over each window, padding as -inf / 0), in f64.
fn naive_pool(x: &Tensor, k: [usize; 2], win: Window, max: bool) -> Vec<f64> {
    let s = x.shape().to_vec();
    let (nc, h, w) = (s[0] * s[1], s[2], s[3]);
    let out_len = |i: usize, k: usize, st: usize, p: usize, d: usize| (i + 2 * p - d * (k - 1) - 1) / st + 1;
    let oh = out_len(h, k[0], win.stride[0], win.padding[0], win.dilation[0]);
    let ow = out_len(w, k[1], win.stride[1], win.padding[1], win.dilation[1]);
    let xv = x.to_vec::<f64>().unwrap();
    let mut out = Vec::new();
    for p in 0..nc {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut vals = Vec::new();
                for ky in 0..k[0] {
                    for kx in 0..k[1] {
                        let iy = (oy * win.stride[0] + ky * win.dilation[0]) as isize - win.padding[0] as isize;
                        let ix = (ox * win.stride[1] + kx * win.dilation[1]) as isize - win.padding[1] as isize;
                        let inside = iy >= 0 && ix >= 0 && iy < h as isize && ix < w as isize;
                        vals.push(if inside {
                            xv[(p * h + iy as usize) * w + ix as usize]
                        } else if max {
                            f64::NEG_INFINITY
                        } else {
                            0.0
                        });
                    }
                }
                out.push(if max {
                    vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                } else {
                    vals.iter().sum::<f64>() / vals.len() as f64
                });
            }
        }
    }
    out
}

/// Random conv hyper-parameters whose window fits the (possibly odd-sized) input.
fn conv_case() -> impl Strategy<Value = (usize, usize, usize, usize, [usize; 2], [usize; 2], Window, u64)> {
    (
        1usize..=2,
        1usize..=2,
        1usize..=2,
        1usize..=2,
        [3usize..=6, 3usize..=6],
        [1usize..=3, 1usize..=3],
        1usize..=2,
        0usize..=2,
        1usize..=2,
        any::<u64>(),
    )
        .prop_map(|(n, groups, cg, og, hw, k, s, p, d, seed)| {
            let win = Window { stride: [s, 3 - s], padding: [p, p.min(1)], dilation: [d, 1] };
            (n, groups, cg, og, hw, k, win, seed)
        })
        .prop_filter("window must fit", |(_, _, _, _, hw, k, win, _)| {
            (0..2).all(|a| hw[a] + 2 * win.padding[a] > win.dilation[a] * (k[a] - 1))
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn conv2d_matches_the_seven_loop_reference_and_passes_gradchecks(
        (n, groups, cg, og, hw, k, win, seed) in conv_case(), with_bias in any::<bool>()
    ) {
        let (c, o) = (groups * cg, groups * og);
        let mut rng = Rng::new(seed);
        let x = rng.uniform_tensor(&[n, c, hw[0], hw[1]], -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        let w = rng.uniform_tensor(&[o, cg, k[0], k[1]], -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        let b = rng.uniform_tensor(&[o], -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        let bias = with_bias.then_some(&b);
        let (expect, shape) = naive_conv2d(&x, &w, bias, win, groups);
        // The default, and each of the two formulations it picks between.
        type Conv = fn(&Var, &Var, Option<&Var>, Window, usize) -> ferrograd_autograd::Result<Var>;
        let forms: [(&str, Conv); 3] =
            [("conv2d", Var::conv2d), ("conv2d_fused", Var::conv2d_fused), ("conv2d_unfolded", Var::conv2d_unfolded)];
        for (name, conv) in forms {
            let y = conv(&Var::constant(x.clone()), &Var::constant(w.clone()), bias.map(|b| Var::constant(b.clone())).as_ref(), win, groups).unwrap();
            prop_assert_eq!(y.shape(), shape.to_vec());
            for (got, want) in y.value().to_vec::<f64>().unwrap().iter().zip(&expect) {
                // Sums of at most 2·2·3·3 products of values in [-1, 1]: f64 rounding is below 1e-14.
                prop_assert!((got - want).abs() < 1e-12, "{name}: {got} vs {want}");
            }
            if with_bias {
                check(name, |v| conv(&v[0], &v[1], Some(&v[2]), win, groups), &[x.clone(), w.clone(), b.clone()], seed);
            } else {
                check(name, |v| conv(&v[0], &v[1], None, win, groups), &[x.clone(), w.clone()], seed);
            }
        }
    }

    #[test]
    fn conv2d_gradient_ops_pass_gradchecks((n, groups, cg, og, hw, k, win, seed) in conv_case()) {
        // The input- and weight-gradient ops are ops in their own right (double backward and
        // transposed convolution use them): check their own first and second derivatives.
        let (c, o) = (groups * cg, groups * og);
        let mut rng = Rng::new(seed);
        let x = rng.uniform_tensor(&[n, c, hw[0], hw[1]], -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        let w = rng.uniform_tensor(&[o, cg, k[0], k[1]], -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        let y_shape = x.conv2d(&w, win, groups).unwrap().shape().to_vec();
        let g = rng.uniform_tensor(&y_shape, -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        check("conv2d_input_grad", |v| v[0].conv2d_input_grad(&v[1], hw, win, groups), &[g.clone(), w], seed);
        check("conv2d_weight_grad", |v| v[0].conv2d_weight_grad(&v[1], k, win, groups), &[x, g], seed);
    }

    #[test]
    fn conv2d_of_non_contiguous_inputs((n, groups, cg, og, hw, k, win, seed) in conv_case()) {
        // The input is stored [N, C, W, H] and viewed transposed; the weight [kw, kh, ...]
        // permuted: the op must read the views, not the buffers.
        let (c, o) = (groups * cg, groups * og);
        let mut rng = Rng::new(seed);
        let xt = rng.uniform_tensor(&[n, c, hw[1], hw[0]], -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        let wt = rng.uniform_tensor(&[k[1], k[0], o, cg], -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        let view = |v: &[Var]| -> ferrograd_autograd::Result<(Var, Var)> {
            Ok((v[0].transpose(2, 3)?, v[1].permute(&[2, 3, 1, 0])?))
        };
        let (xv, wv) = view(&[Var::constant(xt.clone()), Var::constant(wt.clone())]).unwrap();
        let (expect, _) = naive_conv2d(&xv.value().contiguous().unwrap(), &wv.value().contiguous().unwrap(), None, win, groups);
        for fused in [false, true] {
            let conv = if fused { Var::conv2d_fused } else { Var::conv2d_unfolded };
            let got = conv(&xv, &wv, None, win, groups).unwrap().value().to_vec::<f64>().unwrap();
            for (a, b) in got.iter().zip(&expect) {
                prop_assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
            check("conv2d (views)", |v| { let (x, w) = view(v)?; conv(&x, &w, None, win, groups) }, &[xt.clone(), wt.clone()], seed);
        }
    }

    #[test]
    fn conv1d_gradients(n in 1usize..=2, c in 1usize..=3, len in 3usize..=7, k in 1usize..=3, stride in 1usize..=2, pad in 0usize..=1, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = rng.uniform_tensor(&[n, c, len], -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        let w = rng.uniform_tensor(&[2, c, k], -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        check("conv1d", |v| v[0].conv1d(&v[1], None, stride, pad, 1, 1), &[x, w], seed);
    }

    #[test]
    fn im2col_and_col2im_are_adjoint((n, _g, cg, _og, hw, k, win, seed) in conv_case()) {
        // ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩ for random x and y.
        let mut rng = Rng::new(seed);
        let x = rng.uniform_tensor(&[n, cg, hw[0], hw[1]], -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        let cols = x.im2col(k, win, 0.0).unwrap();
        let y = rng.uniform_tensor(cols.shape(), -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        let lhs = cols.mul(&y).unwrap().sum_all().unwrap().item().unwrap();
        let rhs = x.mul(&y.col2im(hw, k, win).unwrap()).unwrap().sum_all().unwrap().item().unwrap();
        prop_assert!((lhs - rhs).abs() < 1e-10 * (1.0 + lhs.abs()), "{lhs} vs {rhs}");
    }

    #[test]
    fn pools_match_references_and_pass_gradchecks(
        n in 1usize..=2, c in 1usize..=2, h in 3usize..=7, w in 3usize..=7,
        k in 1usize..=3, s in 1usize..=3, p in 0usize..=1, seed in any::<u64>()
    ) {
        let p = p.min(k / 2); // PyTorch's rule: padding at most half the kernel
        let win = Window { stride: [s, s], padding: [p, p], dilation: [1, 1] };
        // Well-separated values: the max of each window is unambiguous under a 1e-6 step.
        let mut rng = Rng::new(seed);
        let perm = rng.permutation(n * c * h * w);
        let x = Tensor::from_vec(perm.iter().map(|&i| i as f64 * 0.05 - 1.0).collect::<Vec<_>>(), &[n, c, h, w]).unwrap();
        let max = Var::constant(x.clone()).max_pool2d([k, k], win).unwrap();
        prop_assert_eq!(max.value().to_vec::<f64>().unwrap(), naive_pool(&x, [k, k], win, true));
        let avg = Var::constant(x.clone()).avg_pool2d([k, k], win).unwrap().value().to_vec::<f64>().unwrap();
        for (a, b) in avg.iter().zip(naive_pool(&x, [k, k], win, false)) {
            prop_assert!((a - b).abs() < 1e-12);
        }
        check("max_pool2d", |v| v[0].max_pool2d([k, k], win), std::slice::from_ref(&x), seed);
        check("avg_pool2d", |v| v[0].avg_pool2d([k, k], win), std::slice::from_ref(&x), seed);
    }

    /// The fused max pool (one kernel each way) against its composed form (`im2col` + `max`),
    /// on inputs full of ties (ReLU'd quantized values), with padding, dilation and overlapping
    /// windows, and a non-contiguous input: the same values, and the same gradients for a
    /// random upstream gradient.
    #[test]
    fn max_pool_fused_matches_composed(
        n in 1usize..=2, c in 1usize..=3, h in 2usize..=9, w in 2usize..=9,
        k in 1usize..=3, s in 1usize..=3, p in 0usize..=1, d in 1usize..=2, transposed in any::<bool>(),
        seed in any::<u64>()
    ) {
        let p = p.min(k / 2);
        let win = Window { stride: [s, s], padding: [p, p], dilation: [d, d] };
        prop_assume!(h + 2 * p > d * (k - 1) && w + 2 * p > d * (k - 1));
        let mut rng = Rng::new(seed);
        let levels = rng.randint(&[n, c, w, h], 5).unwrap().to_dtype(ferrograd_autograd::DType::F64).unwrap();
        // Values in {-1, -0.5, 0, 0.5, 1} → ReLU: ties everywhere, most of them at 0.
        let x = levels.mul_scalar(0.5).unwrap().add_scalar(-1.0).unwrap().relu().unwrap();
        let x = if transposed { x.transpose(2, 3).unwrap() } else { x.permute(&[0, 1, 3, 2]).unwrap().contiguous().unwrap() };
        prop_assert_eq!(transposed, !x.is_contiguous());
        let fused = Var::parameter(x.clone());
        let composed = Var::parameter(x.clone());
        let (yf, yc) = (fused.max_pool2d([k, k], win).unwrap(), composed.max_pool2d_composed([k, k], win).unwrap());
        prop_assert_eq!(yf.value().to_vec::<f64>().unwrap(), yc.value().to_vec::<f64>().unwrap());
        let g = rng.uniform_tensor(yf.shape().as_slice(), -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        yf.mul(&Var::constant(g.clone())).unwrap().sum_all().unwrap().backward().unwrap();
        yc.mul(&Var::constant(g)).unwrap().sum_all().unwrap().backward().unwrap();
        // Each pixel's gradient is a sum of at most k² shares, added in another order.
        let (gf, gc) = (fused.grad().unwrap().to_vec::<f64>().unwrap(), composed.grad().unwrap().to_vec::<f64>().unwrap());
        for (a, b) in gf.iter().zip(&gc) {
            prop_assert!((a - b).abs() <= 1e-15 * 16.0, "{a} vs {b}");
        }
    }

    #[test]
    fn adaptive_avg_pool(h in 2usize..=7, w in 2usize..=7, oh in 1usize..=3, ow in 1usize..=3, seed in any::<u64>()) {
        prop_assume!(oh <= h && ow <= w);
        let x = uniform(&[1, 2, h, w], seed, -1.0, 1.0);
        let y = Var::constant(x.clone()).adaptive_avg_pool2d([oh, ow]).unwrap().value().to_vec::<f64>().unwrap();
        let xv = x.to_vec::<f64>().unwrap();
        for ch in 0..2 {
            for i in 0..oh {
                for j in 0..ow {
                    let (r0, r1) = (i * h / oh, ((i + 1) * h).div_ceil(oh));
                    let (c0, c1) = (j * w / ow, ((j + 1) * w).div_ceil(ow));
                    let mut sum = 0.0;
                    for r in r0..r1 {
                        for cc in c0..c1 {
                            sum += xv[(ch * h + r) * w + cc];
                        }
                    }
                    let want = sum / ((r1 - r0) * (c1 - c0)) as f64;
                    prop_assert!((y[(ch * oh + i) * ow + j] - want).abs() < 1e-12);
                }
            }
        }
        check("adaptive_avg_pool2d", |v| v[0].adaptive_avg_pool2d([oh, ow]), &[x], seed);
    }
}

#[test]
fn conv_and_pool_reject_bad_arguments() {
    let x = Var::constant(Tensor::zeros(&[1, 4, 5, 5], ferrograd_autograd::DType::F32));
    let w = Var::constant(Tensor::zeros(&[6, 3, 3, 3], ferrograd_autograd::DType::F32));
    for conv in [Var::conv2d, Var::conv2d_fused, Var::conv2d_unfolded] {
        let e = conv(&x, &w, None, Window::default(), 2).unwrap_err().to_string();
        assert!(e.starts_with("conv2d: [1, 4, 5, 5], [6, 3, 3, 3]"), "{e}");
    }
    let big = Var::constant(Tensor::zeros(&[2, 4, 7, 7], ferrograd_autograd::DType::F32));
    assert!(x.conv2d(&big, None, Window::default(), 1).unwrap_err().to_string().contains("does not fit"));
    assert!(x.max_pool2d([2, 2], Window::default().padding(2)).unwrap_err().to_string().contains("at most half"));
    assert!(x.max_pool2d([2, 2], Window::default().stride(0)).is_err());
    let bias = Var::constant(Tensor::zeros(&[5], ferrograd_autograd::DType::F32));
    let w1 = Var::constant(Tensor::zeros(&[6, 4, 3, 3], ferrograd_autograd::DType::F32));
    assert!(x.conv2d(&w1, Some(&bias), Window::default(), 1).unwrap_err().to_string().contains("bias must be [6]"));
    // Both gradients at once: the output gradient must have the output's shape.
    let g = Tensor::zeros(&[1, 6, 2, 3], ferrograd_autograd::DType::F32);
    let e = x.value().conv2d_backward(&w1.value(), &g, Window::default(), 1).unwrap_err().to_string();
    assert!(
        e.starts_with("conv2d_backward: [1, 4, 5, 5], [6, 4, 3, 3], [1, 6, 2, 3]") && e.contains("[1, 6, 3, 3]"),
        "{e}"
    );
}

/// Reference transposed convolution: scatter each input pixel through the kernel, in f64.
fn naive_conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    win: Window,
    op: [usize; 2],
    groups: usize,
) -> (Vec<f64>, [usize; 4]) {
    let (xs, ws) = (x.shape().to_vec(), w.shape().to_vec());
    let (n, cin, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (og, kh, kw) = (ws[1], ws[2], ws[3]);
    let cout = og * groups;
    let cg = cin / groups;
    let ho = (h - 1) * win.stride[0] + win.dilation[0] * (kh - 1) + op[0] + 1 - 2 * win.padding[0];
    let wo = (wd - 1) * win.stride[1] + win.dilation[1] * (kw - 1) + op[1] + 1 - 2 * win.padding[1];
    let (xv, wv) = (x.to_vec::<f64>().unwrap(), w.to_vec::<f64>().unwrap());
    let mut out = vec![0.0; n * cout * ho * wo];
    for ni in 0..n {
        for ic in 0..cin {
            let grp = ic / cg;
            for iy in 0..h {
                for ix in 0..wd {
                    let xval = xv[((ni * cin + ic) * h + iy) * wd + ix];
                    for oc in 0..og {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let oy = (iy * win.stride[0] + ky * win.dilation[0]) as isize - win.padding[0] as isize;
                                let ox = (ix * win.stride[1] + kx * win.dilation[1]) as isize - win.padding[1] as isize;
                                if oy < 0 || ox < 0 || oy >= ho as isize || ox >= wo as isize {
                                    continue;
                                }
                                let co = grp * og + oc;
                                out[((ni * cout + co) * ho + oy as usize) * wo + ox as usize] +=
                                    xval * wv[((ic * og + oc) * kh + ky) * kw + kx];
                            }
                        }
                    }
                }
            }
        }
    }
    (out, [n, cout, ho, wo])
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn conv_transpose2d_matches_the_reference_and_passes_gradchecks(
        n in 1usize..=2, groups in 1usize..=2, cg in 1usize..=2, og in 1usize..=2,
        h in 1usize..=4, w in 1usize..=4, k in 1usize..=3, s in 1usize..=2, p in 0usize..=1,
        d in 1usize..=2, opad in 0usize..=1, seed in any::<u64>()
    ) {
        let win = Window { stride: [s, s], padding: [p, p], dilation: [d, d] };
        let opad = if opad < s.max(d) { opad } else { 0 };
        let ho = (h - 1) * s + d * (k - 1) + opad + 1;
        prop_assume!(ho > 2 * p && (w - 1) * s + d * (k - 1) + opad + 1 > 2 * p);
        let mut rng = Rng::new(seed);
        let x = rng.uniform_tensor(&[n, groups * cg, h, w], -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        let wt = rng.uniform_tensor(&[groups * cg, og, k, k], -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        let y = Var::constant(x.clone()).conv_transpose2d(&Var::constant(wt.clone()), None, win, [opad, opad], groups).unwrap();
        let (expect, shape) = naive_conv_transpose2d(&x, &wt, win, [opad, opad], groups);
        prop_assert_eq!(y.shape(), shape.to_vec());
        for (a, b) in y.value().to_vec::<f64>().unwrap().iter().zip(&expect) {
            prop_assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let b = rng.uniform_tensor(&[groups * og], -1.0, 1.0, ferrograd_autograd::DType::F64).unwrap();
        check("conv_transpose2d", |v| v[0].conv_transpose2d(&v[1], Some(&v[2]), win, [opad, opad], groups), &[x, wt, b], seed);
    }
}

/// A layer the CPU kernels compute with Winograd's F(2×2, 3×3) (3×3, stride 1, 16 channels in
/// and out, 7×7 outputs: odd, so the last row and column of tiles are cut): gradcheck and gradgradcheck of `conv2d` (whose gradients, and theirs, go
/// through the Winograd kernels too), and the same values as the unfolded form.
#[test]
fn conv2d_through_winograd_passes_gradchecks() {
    let win = Window::default().padding(1);
    let x = uniform(&[1, 16, 7, 7], 11, -1.0, 1.0);
    let w = uniform(&[16, 16, 3, 3], 12, -1.0, 1.0);
    assert!(win.conv2d_uses_winograd(x.shape(), w.shape(), 1));
    let fused = Var::constant(x.clone()).conv2d(&Var::constant(w.clone()), None, win, 1).unwrap();
    let unfolded = Var::constant(x.clone()).conv2d_unfolded(&Var::constant(w.clone()), None, win, 1).unwrap();
    for (a, b) in fused.value().to_vec::<f64>().unwrap().iter().zip(unfolded.value().to_vec::<f64>().unwrap()) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    check("conv2d (Winograd)", |v| v[0].conv2d(&v[1], None, win, 1), &[x, w], 13);
}
