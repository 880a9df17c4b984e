//! Criterion benchmarks of convolution and pooling, forward + backward, on the shapes of the
//! conv issue (and of the MNIST CNN), plus one CNN training step.
//!
//! ```text
//! cargo bench --bench conv
//! python bench/pytorch_conv.py            # the same shapes in PyTorch, 2 threads
//! ```
//!
//! "fwd+bwd" is the output, the input gradient and the weight gradient of `sum(output)`, as
//! in the PyTorch script. Throughput is in elements = forward multiply-adds × 2 × 3 (forward,
//! input gradient and weight gradient each cost one forward's flops), so `Gelem/s` reads as
//! GFLOP/s.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrograd::models::layers::{Conv2d, Dropout, Flatten, Linear, MaxPool2d, Relu, Sequential};
use ferrograd::models::loss::cross_entropy;
use ferrograd::models::optim::{Adam, AdamConfig, Optimizer};
use ferrograd::tensor::Window;
use ferrograd::{DType, Module, Rng, Var};
use std::hint::black_box;
use std::time::Duration;

/// `Var::conv2d` (which picks the formulation), or with `fused` the fused op whatever the
/// shape (Winograd for a 3×3 stride-1 layer of 16+ channels).
fn conv_case(c: &mut Criterion, name: &str, x: [usize; 4], out: usize, pad: usize, fused: bool) {
    let mut rng = Rng::new(1);
    let xv = Var::parameter(rng.normal_tensor(&x, 0.0, 1.0, DType::F32).unwrap());
    let w = Var::parameter(rng.normal_tensor(&[out, x[1], 3, 3], 0.0, 0.1, DType::F32).unwrap());
    let (oh, ow) = (x[2] + 2 * pad - 2, x[3] + 2 * pad - 2);
    let macs = x[0] * out * oh * ow * x[1] * 9;
    let mut g = c.benchmark_group("conv");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    g.throughput(Throughput::Elements((macs * 2 * 3) as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            xv.zero_grad();
            w.zero_grad();
            let window = Window::default().padding(pad);
            let y = if fused { xv.conv2d_fused(&w, None, window, 1) } else { xv.conv2d(&w, None, window, 1) };
            let y = y.unwrap().sum_all().unwrap();
            y.backward().unwrap();
            black_box(w.grad())
        })
    });
    g.finish();
}

fn convs(c: &mut Criterion) {
    conv_case(c, "fwd_bwd_n64_c1_28_to_32_3x3", [64, 1, 28, 28], 32, 0, false);
    conv_case(c, "fwd_bwd_n64_c32_13_to_64_3x3", [64, 32, 13, 13], 64, 0, false);
    conv_case(c, "fwd_bwd_n64_c32_13_to_64_3x3_fused_winograd", [64, 32, 13, 13], 64, 0, true);
    conv_case(c, "fwd_bwd_n32_c64_56_to_64_3x3_pad1", [32, 64, 56, 56], 64, 1, false);
}

/// The two algorithms for a 3×3 stride-1 layer, called on raw buffers (the same three kernels
/// `Var::conv2d` runs: output, input gradient, weight gradient): blocked GEMMs over im2col
/// columns, and Winograd's F(2×2, 3×3), which the dispatch picks for such layers.
fn conv_algorithms(c: &mut Criterion) {
    use ferrograd::kernels::conv::{self, winograd, Conv2dGeometry, Window2d};
    let mut g = c.benchmark_group("conv_algorithm");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    let shapes = [
        ("n64_c32_7_to_64", [64, 32, 7, 64, 0]),
        ("n64_c32_9_to_64", [64, 32, 9, 64, 0]),
        ("n64_c32_13_to_64", [64, 32, 13, 64, 0]),
        ("n64_c16_13_to_16", [64, 16, 13, 16, 0]),
        ("n64_c32_28_to_64_pad1", [64, 32, 28, 64, 1]),
        ("n32_c64_56_to_64_pad1", [32, 64, 56, 64, 1]),
    ];
    for (name, [n, ch, hw, out, pad]) in shapes {
        let window =
            Window2d { n, c: ch, h: hw, w: hw, kernel: [3, 3], stride: [1, 1], padding: [pad, pad], dilation: [1, 1] };
        let geo = Conv2dGeometry { window, out_channels: out, groups: 1 };
        let mut rng = Rng::new(4);
        let values = |len: usize, rng: &mut Rng| {
            rng.normal_tensor(&[len], 0.0, 1.0, DType::F32).unwrap().to_vec::<f32>().unwrap()
        };
        let (x, w, gy) =
            (values(geo.input_len(), &mut rng), values(geo.weight_len(), &mut rng), values(geo.output_len(), &mut rng));
        let (mut y, mut gx, mut gw) =
            (vec![0f32; geo.output_len()], vec![0f32; geo.input_len()], vec![0f32; geo.weight_len()]);
        let (oh, ow) = window.output_size().unwrap();
        g.throughput(Throughput::Elements((n * out * oh * ow * ch * 9 * 2 * 3) as u64));
        g.bench_function(format!("gemm_fwd_bwd_{name}"), |b| {
            b.iter(|| {
                conv::conv2d_gemm(&x, &w, &geo, &mut y);
                conv::conv2d_input_grad_gemm(&gy, &w, &geo, &mut gx);
                conv::conv2d_weight_grad_gemm(&x, &gy, &geo, &mut gw);
                black_box((&y, &gx, &gw));
            })
        });
        g.bench_function(format!("winograd_fwd_bwd_{name}"), |b| {
            b.iter(|| {
                winograd::forward(&x, &w, None, &geo, &mut y);
                winograd::input_grad(&gy, &w, &geo, &mut gx);
                winograd::weight_grad(&x, &gy, &geo, &mut gw);
                black_box((&y, &gx, &gw));
            })
        });
    }
    g.finish();
}

fn pool(c: &mut Criterion) {
    let x = Var::parameter(Rng::new(2).normal_tensor(&[64, 32, 26, 26], 0.0, 1.0, DType::F32).unwrap());
    let mut g = c.benchmark_group("pool");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    g.bench_function("max_pool2d_2x2_fwd_bwd_n64_c32_26", |b| {
        b.iter(|| {
            x.zero_grad();
            x.max_pool2d([2, 2], Window::default().stride(2)).unwrap().sum_all().unwrap().backward().unwrap();
            black_box(x.grad())
        })
    });
    g.finish();
}

fn cnn_step(c: &mut Criterion) {
    let mut rng = Rng::new(3);
    let model = Sequential::new()
        .add(Conv2d::new(1, 32, [3, 3], Window::default(), 1, true, DType::F32, &mut rng).unwrap())
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Conv2d::new(32, 64, [3, 3], Window::default(), 1, true, DType::F32, &mut rng).unwrap())
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(Linear::new(1600, 128, true, DType::F32, &mut rng).unwrap())
        .add(Relu)
        .add(Dropout::new(0.25, 0).unwrap())
        .add(Linear::new(128, 10, true, DType::F32, &mut rng).unwrap());
    let mut opt = Adam::new(model.parameters(), AdamConfig::default()).unwrap();
    let x = rng.normal_tensor(&[64, 1, 28, 28], 0.0, 1.0, DType::F32).unwrap();
    let y = rng.randint(&[64], 10).unwrap();
    let mut g = c.benchmark_group("cnn");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(4)).sample_size(20);
    g.throughput(Throughput::Elements(64));
    g.bench_function("train_step_mnist_cnn_b64_adam", |b| {
        b.iter(|| {
            let loss = cross_entropy(&model.forward(&Var::constant(x.clone())).unwrap(), &y).unwrap();
            opt.zero_grad();
            loss.backward().unwrap();
            opt.step().unwrap();
            black_box(loss.value().item().unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, convs, conv_algorithms, pool, cnn_step);
criterion_main!(benches);
