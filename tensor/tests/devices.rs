//! Every op with a CUDA kernel, run on each available device: the CPU result is the reference,
//! and the same op on the GPU must agree within a tolerance justified per op. Inputs are fresh
//! random values; each test's op takes views of them (transposed, permuted, broadcast) on the
//! device itself, so the kernels see non-contiguous layouts.
//!
//! Without the `cuda` feature, or without a GPU, `on_each_device` runs the CPU side only, says
//! that the GPU side was skipped, and passes.

mod common;

use common::{randn, vals};
use ferrograd_tensor::{DType, Device, Error, Result, Tensor};

/// The GPU to compare against, or `None` (said once) when there is none.
fn gpu() -> Option<Device> {
    match Tensor::scalar(1.0f32).to_device(Device::Cuda(0)) {
        Ok(_) => Some(Device::Cuda(0)),
        Err(e @ Error::DeviceUnavailable { .. }) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| eprintln!("GPU side skipped: {e}"));
            None
        }
        Err(e) => panic!("unexpected error probing the GPU: {e}"),
    }
}

/// Runs `op` on `inputs` on the CPU and, when there is a GPU, on copies of them there, and
/// checks that the results have the same
/// shape and dtype, that the GPU result stays on the GPU, and that every value agrees:
/// `|gpu − cpu| ≤ rel·|cpu| + abs`.
fn on_each_device(what: &str, inputs: &[Tensor], rel: f64, abs: f64, op: impl Fn(&[Tensor]) -> Result<Tensor>) {
    let cpu = op(inputs).unwrap_or_else(|e| panic!("{what} on the CPU: {e}"));
    let Some(device) = gpu() else { return };
    let moved: Vec<Tensor> = inputs.iter().map(|t| t.to_device(device).unwrap()).collect();
    let out = op(&moved).unwrap_or_else(|e| panic!("{what} on {device}: {e}"));
    assert_eq!(out.device(), device, "{what}: the result left the GPU");
    assert_eq!(out.shape(), cpu.shape(), "{what}: shapes differ");
    assert_eq!(out.dtype(), cpu.dtype(), "{what}: dtypes differ");
    let (got, want) = (vals(&out), vals(&cpu));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= rel * w.abs() + abs;
        assert!(ok, "{what}: element {i} is {g} on {device}, {w} on the CPU");
    }
}

const F32_EPS: f64 = f32::EPSILON as f64;

#[test]
fn moving_between_devices_keeps_values_shape_and_dtype() {
    let Some(device) = gpu() else { return };
    for dtype in [DType::F32, DType::F64] {
        let x = randn(&[3, 5, 2], dtype, 1);
        let there = x.to_device(device).unwrap();
        assert_eq!(there.device(), device);
        assert_eq!(vals(&there.to_device(Device::Cpu).unwrap()), vals(&x));
        assert_eq!(vals(&there.permute(&[2, 0, 1]).unwrap()), vals(&x.permute(&[2, 0, 1]).unwrap()));
    }
    let labels = Tensor::from_vec(vec![3i64, 1, 4, 1, 5], &[5]).unwrap();
    assert_eq!(labels.to_device(device).unwrap().to_vec::<i64>().unwrap(), vec![3, 1, 4, 1, 5]);
}

/// Each unary op, on a transposed view. CUDA's and the CPU's math functions are each within a
/// few ulp of the truth; 16 ulp relative (plus a tiny absolute floor for results near zero).
#[test]
fn unary_ops_agree() {
    let x = randn(&[7, 33], DType::F32, 2);
    let positive = x.abs().unwrap().add_scalar(0.1).unwrap();
    type Op = fn(&Tensor) -> Result<Tensor>;
    let ops: [(&str, Op); 17] = [
        ("neg", |t| t.neg()),
        ("exp", |t| t.exp()),
        ("abs", |t| t.abs()),
        ("sign", |t| t.sign()),
        ("tanh", |t| t.tanh()),
        ("sigmoid", |t| t.sigmoid()),
        ("relu", |t| t.relu()),
        ("gelu", |t| t.gelu()),
        ("softplus", |t| t.softplus()),
        ("erf", |t| t.erf()),
        ("step", |t| t.step()),
        ("gelu_grad", |t| t.gelu_grad()),
        ("leaky_relu", |t| t.leaky_relu(0.1)),
        ("clamp", |t| t.clamp(-0.5, 0.7)),
        ("add_scalar", |t| t.add_scalar(2.5)),
        ("mul_scalar", |t| t.mul_scalar(-1.5)),
        ("leaky_step", |t| t.leaky_step(0.2)),
    ];
    for (name, op) in ops {
        on_each_device(name, std::slice::from_ref(&x), 16.0 * F32_EPS, 1e-30, |t| op(&t[0].transpose(0, 1)?));
    }
    for (name, op) in [("log", Tensor::log as Op), ("sqrt", Tensor::sqrt), ("recip", Tensor::recip)] {
        on_each_device(name, std::slice::from_ref(&positive), 16.0 * F32_EPS, 1e-30, |t| op(&t[0].transpose(0, 1)?));
    }
    on_each_device("powf", &[positive], 16.0 * F32_EPS, 1e-30, |t| t[0].powf(1.7));
}

/// Binary ops with broadcasting and a transposed operand: one rounding on each side, so the
/// results are identical (pow, a library function, gets 16 ulp).
#[test]
fn binary_ops_agree() {
    let a = randn(&[4, 1, 6], DType::F32, 3);
    let b = randn(&[6, 5], DType::F32, 4); // used as its transpose: [5, 6], non-contiguous
    let inputs = [a, b];
    type Op = fn(&Tensor, &Tensor) -> Result<Tensor>;
    let ops: [(&str, Op); 11] = [
        ("add", Tensor::add),
        ("sub", Tensor::sub),
        ("mul", Tensor::mul),
        ("div", Tensor::div),
        ("maximum", Tensor::maximum),
        ("minimum", Tensor::minimum),
        ("eq", Tensor::eq),
        ("lt", Tensor::lt),
        ("le", Tensor::le),
        ("gt", Tensor::gt),
        ("ge", Tensor::ge),
    ];
    for (name, op) in ops {
        on_each_device(name, &inputs, 0.0, 0.0, |t| op(&t[0], &t[1].transpose(0, 1)?));
    }
    on_each_device("pow", &inputs, 16.0 * F32_EPS, 1e-30, |t| t[0].abs()?.pow(&t[1].transpose(0, 1)?));
    on_each_device("where", &inputs, 0.0, 0.0, |t| {
        let b = t[1].transpose(0, 1)?;
        Tensor::where_cond(&t[0].gt(&b)?, &t[0], &b)
    });
    on_each_device("masked_fill", &inputs[..1], 0.0, 0.0, |t| t[0].masked_fill(&t[0].lt(&t[0].zeros_like())?, -9.0));
}

/// Sums, means, max and min over every set of dims of a permuted tensor. Max/min are exact;
/// sums of n terms in another order differ by at most 2γ(n)·Σ|x| ≈ 2n·ε·Σ|x|; with n ≤ 210 and
/// |x| of order 1, 1e-4 absolute covers it.
#[test]
fn reductions_agree() {
    let x = randn(&[5, 6, 7], DType::F32, 5); // reduced as its permutation [7, 5, 6]
    for dims in [vec![0usize], vec![1], vec![2], vec![0, 1], vec![1, 2], vec![0, 2], vec![0, 1, 2]] {
        for keepdim in [false, true] {
            let d = dims.clone();
            on_each_device("sum", std::slice::from_ref(&x), 0.0, 1e-4, move |t| {
                t[0].permute(&[2, 0, 1])?.sum(d.clone(), keepdim)
            });
            let d = dims.clone();
            on_each_device("mean", std::slice::from_ref(&x), 0.0, 1e-5, move |t| {
                t[0].permute(&[2, 0, 1])?.mean(d.clone(), keepdim)
            });
            let d = dims.clone();
            on_each_device("max", std::slice::from_ref(&x), 0.0, 0.0, move |t| {
                t[0].permute(&[2, 0, 1])?.max(d.clone(), keepdim)
            });
            let d = dims.clone();
            on_each_device("min", std::slice::from_ref(&x), 0.0, 0.0, move |t| {
                t[0].permute(&[2, 0, 1])?.min(d.clone(), keepdim)
            });
        }
    }
    // One long axis: the two-pass path on the GPU.
    let long = randn(&[2, 50_000], DType::F32, 6);
    on_each_device("long sum", &[long], 0.0, 2.0 * 50_000.0 * F32_EPS * 2.0 * 50_000.0, |t| {
        t[0].sum(vec![1usize], false)
    });
}

/// Softmax and log-softmax along each dim, in f32 and f64: a handful of roundings and one exp on
/// each side, and a sum of at most 7 terms: 32 ulp relative.
#[test]
fn softmax_agrees() {
    for dtype in [DType::F32, DType::F64] {
        let eps = common::eps(dtype);
        let x = randn(&[3, 4, 7], dtype, 7).mul_scalar(4.0).unwrap(); // used as [3, 7, 4]
        for dim in 0..3 {
            on_each_device("softmax", std::slice::from_ref(&x), 32.0 * eps, 1e-300, move |t| {
                t[0].transpose(1, 2)?.softmax(dim)
            });
            on_each_device("log_softmax", std::slice::from_ref(&x), 32.0 * eps, 32.0 * eps, move |t| {
                t[0].transpose(1, 2)?.log_softmax(dim)
            });
        }
    }
}

/// Products: 2-D, transposed operands (read in place by the kernels), batched with a broadcast
/// operand, with a bias, and summed over a batch. Each entry is a sum of k products computed in
/// another order: |error| ≤ 2γ(k)·Σ|a·b|, about 2k·ε·k for normal inputs; k ≤ 40 here, so
/// 4e-4 absolute (f32) bounds it.
#[test]
fn matmul_agrees() {
    let a = randn(&[17, 40], DType::F32, 8);
    let b = randn(&[40, 23], DType::F32, 9);
    let at = randn(&[40, 17], DType::F32, 10); // used transposed
    let bt = randn(&[23, 40], DType::F32, 11); // used transposed
    let batched = randn(&[3, 17, 40], DType::F32, 12);
    let bias = randn(&[23], DType::F32, 13);
    let tol = 4e-4;
    on_each_device("matmul", &[a.clone(), b.clone()], 0.0, tol, |t| t[0].matmul(&t[1]));
    on_each_device("matmul Aᵀ", &[at.clone(), b.clone()], 0.0, tol, |t| t[0].t()?.matmul(&t[1]));
    on_each_device("matmul Bᵀ", &[a.clone(), bt.clone()], 0.0, tol, |t| t[0].matmul(&t[1].t()?));
    on_each_device("matmul AᵀBᵀ", &[at, bt.clone()], 0.0, tol, |t| t[0].t()?.matmul(&t[1].t()?));
    on_each_device("batched, B broadcast", &[batched.clone(), b.clone()], 0.0, tol, |t| t[0].matmul(&t[1]));
    on_each_device("matmul_bias", &[a.clone(), bt, bias], 0.0, tol, |t| t[0].matmul_bias(&t[1].t()?, &t[2]));
    on_each_device("matmul_summed_to", &[batched, b], 0.0, 3.0 * tol, |t| t[0].matmul_summed_to(&t[1], &[]));
    let d = randn(&[9, 31], DType::F64, 14);
    let e = randn(&[31, 12], DType::F64, 15);
    on_each_device("matmul f64", &[d, e], 0.0, 1e-12, |t| t[0].matmul(&t[1]));
}

/// Convolution and its two gradients (implicit GEMMs on the GPU), grouped, strided, padded and
/// dilated, on a permuted (non-contiguous) input; im2col and col2im, on which pooling is built.
/// The output is 7×3 (height: pad 1, stride 1; width: a 3-tap kernel of dilation 2 spans 5
/// columns, stride 2). Each value is a sum of at most 8·9 = 72 (forward), 6·9 = 54 (input
/// gradient) or 2·7·3 = 42 (weight gradient) products, which the two sides add in another
/// order: |error| ≤ 2γ(72)·Σ|terms|, and Σ|terms| is the same op applied to the absolute
/// values, computed here on the CPU. im2col is a copy (exact); col2im sums at most 9
/// values in [−1, 1]: 2γ(9)·9 < 1.1e-5.
#[test]
fn convolution_agrees() {
    use ferrograd_tensor::Window;
    let x = randn(&[2, 7, 9, 16], DType::F32, 23); // used permuted to [2, 16, 7, 9]
    let w = randn(&[12, 8, 3, 3], DType::F32, 24); // 2 groups of 8 input and 6 output channels
    let window = Window { stride: [1, 2], padding: [1, 0], dilation: [1, 2] };
    let input = |t: &Tensor| t.permute(&[0, 3, 1, 2]);
    let y = input(&x).unwrap().conv2d(&w, window, 2).unwrap();
    let gy = randn(y.shape(), DType::F32, 25);
    // 2γ(72) times the largest Σ|terms| of any output of the three products.
    let abs = |t: &Tensor| t.abs().unwrap();
    let largest = |t: Tensor| vals(&t).into_iter().fold(0.0f64, f64::max);
    let magnitude = [
        largest(input(&abs(&x)).unwrap().conv2d(&abs(&w), window, 2).unwrap()),
        largest(abs(&gy).conv2d_input_grad(&abs(&w), [7, 9], window, 2).unwrap()),
        largest(input(&abs(&x)).unwrap().conv2d_weight_grad(&abs(&gy), [3, 3], window, 2).unwrap()),
    ]
    .into_iter()
    .fold(0.0, f64::max);
    let u = F32_EPS / 2.0;
    let tol = 2.0 * 72.0 * u / (1.0 - 72.0 * u) * magnitude;
    on_each_device("conv2d", &[x.clone(), w.clone()], 0.0, tol, |t| input(&t[0])?.conv2d(&t[1], window, 2));
    on_each_device("conv2d_input_grad", &[gy.clone(), w.clone()], 0.0, tol, |t| {
        t[0].conv2d_input_grad(&t[1], [7, 9], window, 2)
    });
    on_each_device("conv2d_weight_grad", &[x.clone(), gy], 0.0, tol, |t| {
        input(&t[0])?.conv2d_weight_grad(&t[1], [3, 3], window, 2)
    });
    let pool = Window::default().stride(2).padding(1);
    on_each_device("im2col", std::slice::from_ref(&x), 0.0, 0.0, |t| {
        input(&t[0])?.im2col([3, 3], pool, f64::NEG_INFINITY)
    });
    let cols = input(&x).unwrap().im2col([3, 3], pool, 0.0).unwrap();
    let cols = ferrograd_tensor::Rng::new(26).uniform_tensor(cols.shape(), -1.0, 1.0, DType::F32).unwrap();
    on_each_device("col2im", &[cols], 0.0, 1.1e-5, |t| t[0].col2im([7, 9], [3, 3], pool));
}

/// Max pooling has no GPU kernel (`Var::max_pool2d` composes it from `im2col` and `max` there):
/// on a GPU the tensor ops say so instead of copying to the host.
#[test]
fn max_pool_says_it_has_no_gpu_kernel() {
    use ferrograd_tensor::Window;
    let x = randn(&[2, 3, 6, 6], DType::F32, 27);
    let window = Window::default().stride(2);
    let y = x.max_pool2d([2, 2], window).unwrap();
    let Some(device) = gpu() else { return };
    let (xg, yg) = (x.to_device(device).unwrap(), y.to_device(device).unwrap());
    for err in
        [xg.max_pool2d([2, 2], window).unwrap_err(), xg.max_pool2d_backward(&yg, &yg, [2, 2], window).unwrap_err()]
    {
        assert!(matches!(err, Error::UnsupportedOnDevice { .. }), "{err}");
    }
}

/// The L2 norm (a gradient's, for clipping) of a strided view: both sides square and sum in
/// f64, in another order (2γ(600) of the sum, far below 1e-12 relative).
#[test]
fn l2_norm_agrees() {
    let x = randn(&[20, 30], DType::F32, 33);
    let cpu = x.t().unwrap().l2_norm().unwrap();
    let Some(device) = gpu() else { return };
    let gpu_norm = x.to_device(device).unwrap().t().unwrap().l2_norm().unwrap();
    assert!((gpu_norm - cpu).abs() <= 1e-12 * cpu, "l2_norm: {gpu_norm} on {device}, {cpu} on the CPU");
}

/// Layer norm over the last two dims and its gradients: per-row sums in f64 on both devices, so
/// the results differ by a few roundings of the elementwise steps: 1e-5 relative plus 1e-5
/// absolute (outputs of order 1; ∂γ, ∂β sums over 6 rows).
#[test]
fn layer_norm_agrees() {
    let x = randn(&[2, 3, 4, 5], DType::F32, 34).add_scalar(3.0).unwrap();
    let (w, b) = (randn(&[4, 5], DType::F32, 35), randn(&[4, 5], DType::F32, 36));
    let g = randn(&[2, 3, 4, 5], DType::F32, 37);
    on_each_device("layer_norm", &[x.clone(), w.clone(), b.clone()], 1e-5, 1e-5, |t| {
        let out = t[0].layer_norm(&[4, 5], &t[1], &t[2], 1e-5)?;
        Tensor::cat(&[&out.y.reshape(&[120])?, &out.mean.reshape(&[6])?, &out.rstd.reshape(&[6])?], 0)
    });
    let out = x.layer_norm(&[4, 5], &w, &b, 1e-5).unwrap();
    on_each_device("layer_norm_backward", &[x, g, w, out.mean, out.rstd], 1e-5, 1e-5, |t| {
        let grads = t[0].layer_norm_backward(&t[1], &[4, 5], &t[2], &t[3], &t[4])?;
        Tensor::cat(&[&grads.input.reshape(&[120])?, &grads.weight.reshape(&[20])?, &grads.bias.reshape(&[20])?], 0)
    });
}

/// The LSTM's whole-sequence op and its backward through time, both directions, in f64: per
/// step the GPU runs a GEMM and its fused step kernel where the CPU runs its own; each value
/// is a short chain of sums of H + 1 terms and library tanh/exp (a few ulp each), carried over
/// 5 steps: 1e-12 relative plus 1e-12 absolute.
#[test]
fn lstm_agrees() {
    let (b, s, h) = (3, 5, 6);
    for reverse in [false, true] {
        let x = randn(&[b, s, 4 * h], DType::F64, 38);
        let w = randn(&[4 * h, h], DType::F64, 39).mul_scalar(0.4).unwrap();
        let (h0, c0) = (randn(&[b, h], DType::F64, 40), randn(&[b, h], DType::F64, 41));
        on_each_device("lstm_forward", &[x.clone(), w.clone(), h0.clone(), c0.clone()], 1e-12, 1e-12, |t| {
            let (states, gates) = Tensor::lstm_forward(&t[0], &t[1], &t[2], &t[3], reverse, true)?;
            Tensor::cat(&[&states.reshape(&[2 * b * s * h])?, &gates.expect("kept").reshape(&[b * s * 4 * h])?], 0)
        });
        let (states, gates) = Tensor::lstm_forward(&x, &w, &h0, &c0, reverse, true).unwrap();
        let g = randn(&[2, b, s, h], DType::F64, 42);
        let inputs = [w, h0, c0, states, gates.unwrap(), g];
        on_each_device("lstm_backward", &inputs, 1e-12, 1e-12, |t| {
            let grads = Tensor::lstm_backward(&t[0], &t[1], &t[2], &t[3], &t[4], &t[5], reverse)?;
            let flat = |t: &Tensor| t.reshape(&[t.numel()]);
            Tensor::cat(
                &[
                    &flat(&grads.xproj)?,
                    &flat(&grads.w_hh)?,
                    &flat(&grads.h0)?,
                    &flat(&grads.c0.expect("an LSTM has a cell state"))?,
                ],
                0,
            )
        });
    }
}

/// The GRU and the Elman RNN, as `lstm_agrees` (f64, both directions, 1e-12).
#[test]
fn gru_and_rnn_agree() {
    let (b, s, h) = (3, 5, 6);
    let flat = |t: &Tensor| t.reshape(&[t.numel()]);
    for reverse in [false, true] {
        let x = randn(&[b, s, 3 * h], DType::F64, 43);
        let w = randn(&[3 * h, h], DType::F64, 44).mul_scalar(0.4).unwrap();
        let (bias, h0) = (randn(&[3 * h], DType::F64, 45), randn(&[b, h], DType::F64, 46));
        on_each_device("gru_forward", &[x.clone(), w.clone(), bias.clone(), h0.clone()], 1e-12, 1e-12, |t| {
            let (out, saved) = Tensor::gru_forward(&t[0], &t[1], &t[2], &t[3], reverse)?;
            Tensor::cat(&[&flat(&out)?, &flat(&saved)?], 0)
        });
        let (out, saved) = Tensor::gru_forward(&x, &w, &bias, &h0, reverse).unwrap();
        let g = randn(&[b, s, h], DType::F64, 47);
        on_each_device("gru_backward", &[w, h0.clone(), out, saved, g.clone()], 1e-12, 1e-12, |t| {
            let grads = Tensor::gru_backward(&t[0], &t[1], &t[2], &t[3], &t[4], reverse)?;
            let db = grads.b_hh.expect("a GRU has a recurrent bias");
            Tensor::cat(&[&flat(&grads.xproj)?, &flat(&grads.w_hh)?, &flat(&db)?, &flat(&grads.h0)?], 0)
        });

        let x = randn(&[b, s, h], DType::F64, 48);
        let w = randn(&[h, h], DType::F64, 49).mul_scalar(0.4).unwrap();
        on_each_device("rnn_forward", &[x.clone(), w.clone(), h0.clone()], 1e-12, 1e-12, |t| {
            Tensor::rnn_forward(&t[0], &t[1], &t[2], reverse)
        });
        let out = Tensor::rnn_forward(&x, &w, &h0, reverse).unwrap();
        on_each_device("rnn_backward", &[w, h0, out, g], 1e-12, 1e-12, |t| {
            let grads = Tensor::rnn_backward(&t[0], &t[1], &t[2], &t[3], reverse)?;
            Tensor::cat(&[&flat(&grads.xproj)?, &flat(&grads.w_hh)?, &flat(&grads.h0)?], 0)
        });
    }
}

/// Layout and dtype changes are exact.
#[test]
fn data_movement_agrees() {
    let x = randn(&[4, 5, 6], DType::F32, 16);
    on_each_device("cat", std::slice::from_ref(&x), 0.0, 0.0, |t| {
        Tensor::cat(&[&t[0].narrow(1, 1, 3)?, &t[0].transpose(1, 2)?.narrow(2, 0, 2)?.transpose(1, 2)?], 1)
    });
    on_each_device("pad", std::slice::from_ref(&x), 0.0, 0.0, |t| t[0].permute(&[2, 0, 1])?.pad(1, 2, 1));
    on_each_device("contiguous", std::slice::from_ref(&x), 0.0, 0.0, |t| t[0].permute(&[1, 2, 0])?.contiguous());
    on_each_device("reshape", std::slice::from_ref(&x), 0.0, 0.0, |t| t[0].transpose(0, 2)?.reshape(&[30, 4]));
    on_each_device("to_dtype f64", std::slice::from_ref(&x), 0.0, 0.0, |t| t[0].to_dtype(DType::F64));
    on_each_device("to_dtype i64", std::slice::from_ref(&x), 0.0, 0.0, |t| t[0].mul_scalar(10.0)?.to_dtype(DType::I64));
    on_each_device("full_like", &[x], 0.0, 0.0, |t| Ok(t[0].full_like(2.5)));
}

/// argmax/argmin (exact, ties to the first index), gather and scatter_add (scatter_add adds in
/// another order on the GPU: at most 3 terms meet here, so 4 ulp of the largest magnitude).
#[test]
fn index_ops_agree() {
    let ties = common::small_ints(&[6, 9], 4, DType::F32, 18); // many equal values
    on_each_device("argmax", std::slice::from_ref(&ties), 0.0, 0.0, |t| t[0].argmax(1, false));
    on_each_device("argmin", std::slice::from_ref(&ties), 0.0, 0.0, |t| t[0].t()?.argmin(0, true));
    let x = randn(&[5, 7], DType::F32, 19);
    let idx = Tensor::from_vec(vec![0i64, 6, 3, 3, 1, 2, 5, 0, 4, 6], &[5, 2]).unwrap();
    on_each_device("gather", &[x.clone(), idx.clone()], 0.0, 0.0, |t| t[0].gather(1, &t[1]));
    let src = randn(&[5, 2], DType::F32, 20);
    on_each_device("scatter_add", &[x, idx, src], 4.0 * F32_EPS, 1e-6, |t| t[0].scatter_add(1, &t[1], &t[2]));
}

/// Adam and SGD steps in place: the same formula on both sides, a few roundings apart
/// (`sqrt` and the division may round differently): 8 ulp relative on the updated parameters.
#[test]
fn optimizer_steps_agree() {
    use ferrograd_tensor::ops::optim::{AdamParams, SgdParams};
    let p = randn(&[3, 17], DType::F32, 21);
    let g = randn(&[3, 17], DType::F32, 22);
    let adam =
        AdamParams { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01, decoupled: true, step: 3 };
    on_each_device("adam_step_", &[p.clone(), g.clone()], 8.0 * F32_EPS, 1e-7, |t| {
        let (mut p, mut m, mut v) = (t[0].clone(), t[1].mul_scalar(0.1)?, t[1].mul(&t[1])?.mul_scalar(0.01)?);
        p.adam_step_(&t[1], &mut m, &mut v, adam)?;
        Tensor::cat(&[&p, &m, &v], 0)
    });
    let sgd =
        SgdParams { lr: 0.1, momentum: 0.9, dampening: 0.0, weight_decay: 1e-3, nesterov: true, first_step: false };
    on_each_device("sgd_step_", &[p, g], 8.0 * F32_EPS, 1e-7, |t| {
        let (mut p, mut v) = (t[0].clone(), t[1].mul_scalar(0.5)?);
        p.sgd_step_(&t[1], &mut v, sgd)?;
        Tensor::cat(&[&p, &v], 0)
    });
}

/// What cannot run on a GPU refuses GPU tensors with an error naming the op and device: every
/// op has a CUDA path now, but `update_in_place` hands out the data as a host slice.
#[test]
fn host_only_calls_say_so() {
    let Some(device) = gpu() else { return };
    let mut x = randn(&[2, 3], DType::F32, 17).to_device(device).unwrap();
    match x.update_in_place::<f32, _>(|v| v[0] = 1.0) {
        Err(Error::UnsupportedOnDevice { op, device: d }) => {
            assert_eq!(d, device);
            assert_eq!(op, "update_in_place");
        }
        other => panic!("expected UnsupportedOnDevice, got {other:?}"),
    }
}

/// Fused attention (the forward kernel, and the backward from GEMM and elementwise kernels) on
/// heads split from `[B, T, H, d]` (strided), causal and not, with tq ≠ tk; and a row of keys
/// too long for the kernel's shared memory, which takes the composed path. Sums of d = 8 (scores)
/// and tk ≤ 12 (mixing) terms of normal values in f64: 1e-12 relative plus 1e-12 absolute.
#[test]
fn attention_agrees() {
    let (b, h, d) = (2, 3, 8);
    for (tq, tk, causal) in [(12, 12, true), (7, 12, true), (12, 5, true), (9, 11, false)] {
        let heads = |t: &Tensor| t.permute(&[0, 2, 1, 3]); // [B, T, H, d] → [B, H, T, d]
        let q = randn(&[b, tq, h, d], DType::F64, 50);
        let k = randn(&[b, tk, h, d], DType::F64, 51);
        let v = randn(&[b, tk, h, d + 2], DType::F64, 52);
        let scale = 1.0 / (d as f64).sqrt();
        let what = format!("attention {tq}×{tk} causal {causal}");
        on_each_device(&what, &[q.clone(), k.clone(), v.clone()], 1e-12, 1e-12, |t| {
            let out = heads(&t[0])?.attention(&heads(&t[1])?, &heads(&t[2])?, scale, causal)?;
            Tensor::cat(&[&out.out.reshape(&[out.out.numel()])?, &out.probs.reshape(&[out.probs.numel()])?], 0)
        });
        let fwd = heads(&q).unwrap().attention(&heads(&k).unwrap(), &heads(&v).unwrap(), scale, causal).unwrap();
        let g = randn(fwd.out.shape(), DType::F64, 53);
        on_each_device(&format!("{what} backward"), &[q, k, v, fwd.probs, g], 1e-12, 1e-12, |t| {
            let grads =
                heads(&t[0])?.attention_backward(&heads(&t[1])?, &heads(&t[2])?, &t[3], &t[4], scale, causal)?;
            let flat = |t: &Tensor| t.reshape(&[t.numel()]);
            Tensor::cat(&[&flat(&grads.q)?, &flat(&grads.k)?, &flat(&grads.v)?], 0)
        });
    }
    // 8,000 keys of f64 need 64 KB of scores per row: more than a block's shared memory.
    let (q, k, v) =
        (randn(&[1, 2, 4], DType::F64, 54), randn(&[1, 8000, 4], DType::F64, 55), randn(&[1, 8000, 3], DType::F64, 56));
    on_each_device("attention, long rows", &[q, k, v], 1e-12, 1e-12, |t| {
        let out = t[0].attention(&t[1], &t[2], 0.5, true)?;
        Tensor::cat(&[&out.out.reshape(&[6])?, &out.probs.reshape(&[16000])?], 0)
    });
}

/// index_select (a copy: exact) and index_add (each destination adds its sources in index
/// order on both devices: exact), along a middle dim, with repeated indices.
#[test]
fn index_rows_agree() {
    let x = randn(&[3, 6, 4], DType::F32, 27);
    let idx = Tensor::from_vec(vec![5i64, 0, 2, 2, 5, 1, 5], &[7]).unwrap();
    on_each_device("index_select", &[x.clone(), idx.clone()], 0.0, 0.0, |t| t[0].index_select(1, &t[1]));
    let src = randn(&[3, 7, 4], DType::F32, 28);
    on_each_device("index_add", &[x, idx, src], 0.0, 0.0, |t| t[0].index_add(1, &t[1], &t[2]));
}

/// Training-mode batch norm and its gradients, on [N, C, H, W] with a large mean (10): both
/// devices accumulate the statistics in f64, so the results differ by a few f32 roundings of
/// the last elementwise steps: 1e-5 relative plus 1e-5 absolute (the outputs are of order 1,
/// the gradients' sums of order √M with M = 90).
#[test]
fn batch_norm_agrees() {
    let x = randn(&[5, 3, 6, 3], DType::F32, 29).add_scalar(10.0).unwrap();
    let (w, b) = (randn(&[3], DType::F32, 30), randn(&[3], DType::F32, 31));
    let g = randn(&[5, 3, 6, 3], DType::F32, 32);
    on_each_device("batch_norm", &[x.clone(), w.clone(), b], 1e-5, 1e-5, |t| {
        let out = t[0].batch_norm_train(&t[1], &t[2], 1e-5)?;
        Tensor::cat(&[&out.y.reshape(&[270])?, &out.mean, &out.var], 0)
    });
    let out = x.batch_norm_train(&w, &randn(&[3], DType::F32, 31), 1e-5).unwrap();
    on_each_device("batch_norm_backward", &[x, g, w, out.mean, out.var], 1e-5, 1e-5, |t| {
        let grads = t[0].batch_norm_backward(&t[1], &t[2], &t[3], &t[4], 1e-5)?;
        Tensor::cat(&[&grads.input.reshape(&[270])?, &grads.weight, &grads.bias], 0)
    });
}
