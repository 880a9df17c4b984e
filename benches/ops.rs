//! Criterion benchmarks of the core kernels and one MLP training step.
//!
//! ```text
//! cargo bench --bench ops                 # everything
//! cargo bench --bench ops -- matmul       # one group
//! python3 bench/report.py                 # table from target/criterion (+ PyTorch JSON)
//! ```
//!
//! Throughput is declared so criterion prints rates: for matmul the "elements" are
//! floating-point operations (2·m·n·k), so `Gelem/s` reads as GFLOP/s; for memory-bound ops it
//! is bytes moved (each input read once, the output written once), so `GiB/s` is bandwidth; for
//! the training step the "elements" are samples.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferrograd::models::layers::{Linear, Relu, Sequential};
use ferrograd::models::loss::cross_entropy;
use ferrograd::models::optim::{Adam, AdamConfig, Optimizer};
use ferrograd::{DType, Module, Rng, Tensor, Var};
use std::hint::black_box;
use std::time::Duration;

fn randn(rng: &mut Rng, shape: &[usize]) -> Tensor {
    rng.normal_tensor(shape, 0.0, 1.0, DType::F32).unwrap()
}

fn matmul(c: &mut Criterion) {
    let mut g = c.benchmark_group("matmul");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    let mut rng = Rng::new(1);
    for n in [64usize, 128, 256, 512, 1024, 2048] {
        let (a, b) = (randn(&mut rng, &[n, n]), randn(&mut rng, &[n, n]));
        g.throughput(Throughput::Elements(2 * (n * n * n) as u64));
        g.bench_with_input(BenchmarkId::new("square_f32", n), &n, |bench, _| {
            bench.iter(|| black_box(a.matmul(&b).unwrap()))
        });
    }
    // Batched: 64 independent 128×128 products.
    let (a, b) = (randn(&mut rng, &[64, 128, 128]), randn(&mut rng, &[64, 128, 128]));
    g.throughput(Throughput::Elements(2 * 64 * 128 * 128 * 128));
    g.bench_function("batched_f32/64x128", |bench| bench.iter(|| black_box(a.matmul(&b).unwrap())));
    g.finish();
}

fn elementwise(c: &mut Criterion) {
    let mut g = c.benchmark_group("elementwise");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    let n = 1 << 22;
    let mut rng = Rng::new(2);
    let (a, b) = (randn(&mut rng, &[n]), randn(&mut rng, &[n]));
    g.throughput(Throughput::Bytes(3 * 4 * n as u64));
    g.bench_function("add_f32/4M", |bench| bench.iter(|| black_box(a.add(&b).unwrap())));
    g.throughput(Throughput::Bytes(2 * 4 * n as u64));
    g.bench_function("exp_f32/4M", |bench| bench.iter(|| black_box(a.exp().unwrap())));
    g.bench_function("relu_f32/4M", |bench| bench.iter(|| black_box(a.relu().unwrap())));
    // Broadcast: a [2048, 2048] matrix plus a [2048] row vector.
    let m = randn(&mut rng, &[2048, 2048]);
    let row = randn(&mut rng, &[2048]);
    g.throughput(Throughput::Bytes(2 * 4 * 2048 * 2048));
    g.bench_function("add_broadcast_row_f32/2048x2048", |bench| bench.iter(|| black_box(m.add(&row).unwrap())));
    g.finish();
}

fn softmax(c: &mut Criterion) {
    let mut g = c.benchmark_group("softmax");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    let x = randn(&mut Rng::new(3), &[4096, 1024]);
    g.throughput(Throughput::Bytes(2 * 4 * 4096 * 1024));
    g.bench_function("softmax_f32/4096x1024", |bench| bench.iter(|| black_box(x.softmax(-1).unwrap())));
    g.bench_function("log_softmax_f32/4096x1024", |bench| bench.iter(|| black_box(x.log_softmax(-1).unwrap())));
    g.finish();
}

fn mlp_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("mlp");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    let mut rng = Rng::new(4);
    let model = Sequential::new()
        .add(Linear::new(784, 128, true, DType::F32, &mut rng).unwrap())
        .add(Relu)
        .add(Linear::new(128, 10, true, DType::F32, &mut rng).unwrap());
    let mut opt = Adam::new(model.parameters(), AdamConfig::default()).unwrap();
    // Eight fixed random batches, cycled, as in the PyTorch yardstick.
    let batches: Vec<(Tensor, Tensor)> =
        (0..8).map(|_| (randn(&mut rng, &[64, 784]), rng.randint(&[64], 10).unwrap())).collect();
    let mut i = 0;
    g.throughput(Throughput::Elements(64));
    g.bench_function("train_step_784_128_10/b64_adam", |bench| {
        bench.iter(|| {
            let (x, y) = &batches[i % batches.len()];
            i += 1;
            let loss = cross_entropy(&model.forward(&Var::constant(x.clone())).unwrap(), y).unwrap();
            opt.zero_grad();
            loss.backward().unwrap();
            opt.step().unwrap();
            black_box(loss.value().item().unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, matmul, elementwise, softmax, mlp_step);
criterion_main!(benches);
