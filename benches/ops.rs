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
use ferrograd::models::optim::{Adam, AdamConfig, Muon, MuonConfig, Optimizer};
use ferrograd::{set_matmul_precision, DType, MatmulPrecision, Module, Rng, Tensor, Var};
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
    // "Medium" precision: the packed kernel's inputs rounded to bfloat16 (on AVX512-BF16 CPUs;
    // elsewhere these repeat the f32 figures). Square products, and a Transformer layer's
    // `[2048 tokens, 128] · [128, 512]` projection.
    set_matmul_precision(MatmulPrecision::Medium);
    for n in [512usize, 1024, 2048] {
        let (a, b) = (randn(&mut rng, &[n, n]), randn(&mut rng, &[n, n]));
        g.throughput(Throughput::Elements(2 * (n * n * n) as u64));
        g.bench_with_input(BenchmarkId::new("square_medium", n), &n, |bench, _| {
            bench.iter(|| black_box(a.matmul(&b).unwrap()))
        });
    }
    let (x, w) = (randn(&mut rng, &[2048, 128]), randn(&mut rng, &[128, 512]));
    g.throughput(Throughput::Elements(2 * 2048 * 128 * 512));
    g.bench_function("projection_medium/2048x128x512", |bench| bench.iter(|| black_box(x.matmul(&w).unwrap())));
    set_matmul_precision(MatmulPrecision::Highest);
    g.bench_function("projection_f32/2048x128x512", |bench| bench.iter(|| black_box(x.matmul(&w).unwrap())));
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

/// The machine's ceilings, measured the same way as everything else so that ratios to "peak"
/// are ratios to what this machine really does: FMA throughput on every core (independent
/// chains of fused multiply-adds in the widest registers the CPU has), and memory bandwidth
/// (a large copy on every core, counting bytes read plus bytes written).
fn machine(c: &mut Criterion) {
    let mut g = c.benchmark_group("machine");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    const ITERS: usize = 1 << 20; // ~2 ms per run, so spawning the threads is noise
    g.throughput(Throughput::Elements((threads * ITERS * peak::FLOPS_PER_ITER) as u64));
    g.bench_function("fma_peak_f32", |bench| {
        bench.iter(|| {
            std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads).map(|_| s.spawn(|| peak::fma_loop(ITERS))).collect();
                hs.into_iter().map(|h| h.join().unwrap_or(0.0)).sum::<f32>()
            })
        })
    });
    let n = 16 << 20; // 64 MiB of f32: far larger than the caches
    let src = vec![1.0f32; n];
    let mut dst = vec![0.0f32; n];
    g.throughput(Throughput::Bytes(2 * 4 * n as u64));
    g.bench_function("copy_bandwidth/64MiB", |bench| {
        bench.iter(|| {
            let per = n.div_ceil(threads);
            std::thread::scope(|s| {
                for (d, sr) in dst.chunks_mut(per).zip(src.chunks(per)) {
                    s.spawn(move || d.copy_from_slice(sr));
                }
            });
            black_box(dst[n - 1])
        })
    });
    g.finish();
}

/// One optimizer step over the weight matrices of `char_gpt`'s four blocks (per block: qkv
/// `[384, 128]`, output `[128, 128]`, MLP `[512, 128]` and `[128, 512]`), AdamW against Muon
/// (whose Newton–Schulz iteration costs five rounds of three small products per matrix).
fn optim_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("optim");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    let mut rng = Rng::new(4);
    let shapes = [[384usize, 128], [128, 128], [512, 128], [128, 512]];
    let params: Vec<Var> =
        (0..4).flat_map(|_| shapes).map(|s| Var::parameter(randn(&mut rng, &s).mul_scalar(0.02).unwrap())).collect();
    let loss = |rng: &mut Rng| {
        // Σ p·r for a fresh random r: each parameter's gradient is r.
        let mut total = Var::constant(Tensor::zeros(&[], DType::F32));
        for p in &params {
            let r = Var::constant(randn(rng, &p.shape()));
            total = total.add(&p.mul(&r).unwrap().sum_all().unwrap()).unwrap();
        }
        total
    };
    let mut adam = Adam::new(params.clone(), AdamConfig { lr: 1e-3, ..AdamConfig::adamw() }).unwrap();
    let mut muon = Muon::new(params.clone(), MuonConfig::default()).unwrap();
    loss(&mut rng).backward().unwrap();
    g.bench_function("adamw_step/char_gpt_matrices", |b| b.iter(|| adam.step().unwrap()));
    g.bench_function("muon_step/char_gpt_matrices", |b| b.iter(|| muon.step().unwrap()));
    g.finish();
}

mod peak {
    /// Flops per iteration of [`fma_loop`]: 12 chains × 16 lanes × 2 (multiply and add).
    pub const FLOPS_PER_ITER: usize = 12 * 16 * 2;

    /// `iters` rounds of 12 independent fused multiply-adds on 16 f32 lanes (AVX-512), or the
    /// same flops as 24 chains of 8 lanes (AVX2), or plain scalar code elsewhere.
    pub fn fma_loop(iters: usize) -> f32 {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F, checked just above.
                return unsafe { avx512(iters) };
            }
            if is_x86_feature_detected!("fma") && is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                return unsafe { avx2(iters) };
            }
        }
        let mut acc = [0.0f32; 16];
        for _ in 0..iters * 12 {
            for a in acc.iter_mut() {
                *a = a.mul_add(1.000_001, 1e-7);
            }
        }
        acc.iter().sum()
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512(iters: usize) -> f32 {
        use std::arch::x86_64::*;
        let (a, b) = (_mm512_set1_ps(1.000_001), _mm512_set1_ps(1e-7));
        let mut acc = [_mm512_setzero_ps(); 12];
        for _ in 0..iters {
            for r in acc.iter_mut() {
                *r = _mm512_fmadd_ps(*r, a, b);
            }
        }
        acc.iter().map(|&r| _mm512_reduce_add_ps(r)).sum()
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2(iters: usize) -> f32 {
        use std::arch::x86_64::*;
        let (a, b) = (_mm256_set1_ps(1.000_001), _mm256_set1_ps(1e-7));
        let mut acc = [_mm256_setzero_ps(); 24];
        for _ in 0..iters {
            for r in acc.iter_mut() {
                *r = _mm256_fmadd_ps(*r, a, b);
            }
        }
        let mut lanes = [0.0f32; 8];
        let mut total = 0.0;
        for r in acc {
            _mm256_storeu_ps(lanes.as_mut_ptr(), r);
            total += lanes.iter().sum::<f32>();
        }
        total
    }
}

criterion_group!(benches, machine, matmul, elementwise, softmax, mlp_step, optim_step);
criterion_main!(benches);
