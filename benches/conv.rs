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

fn conv_case(c: &mut Criterion, name: &str, x: [usize; 4], out: usize, pad: usize) {
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
            let y = xv.conv2d(&w, None, Window::default().padding(pad), 1).unwrap().sum_all().unwrap();
            y.backward().unwrap();
            black_box(w.grad())
        })
    });
    g.finish();
}

fn convs(c: &mut Criterion) {
    conv_case(c, "fwd_bwd_n64_c1_28_to_32_3x3", [64, 1, 28, 28], 32, 0);
    conv_case(c, "fwd_bwd_n64_c32_13_to_64_3x3", [64, 32, 13, 13], 64, 0);
    conv_case(c, "fwd_bwd_n32_c64_56_to_64_3x3_pad1", [32, 64, 56, 56], 64, 1);
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

criterion_group!(benches, convs, pool, cnn_step);
criterion_main!(benches);
