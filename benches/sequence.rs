//! Criterion benchmarks of the sequence models of issue 4: one LSTM layer (input 64, hidden
//! 128, 50 steps, batch 32) forward and forward + backward, fused and unfused, and the fused
//! layer at the size of `char_lstm`'s second layer (input 512, hidden 512, 100 steps, batch 32),
//! in f32 and in medium matmul precision (bfloat16 products, `fused_medium`);
//! and one pre-norm Transformer block (sequence 128, d_model 128, 4 heads, batch 16) forward +
//! backward.
//!
//! ```text
//! cargo bench --bench sequence
//! python bench/pytorch_sequence.py        # the same networks in PyTorch, 2 threads
//! ```
//!
//! "fwd+bwd" is the output and the gradients of the input and every parameter for
//! `sum(output)`, as in the PyTorch script. Throughput counts the forward's multiply-adds × 2
//! (× 3 for fwd+bwd, whose two backward products each cost one forward's flops), so `Gelem/s`
//! reads as GFLOP/s.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use ferrograd::models::layers::{Recurrent, RecurrentConfig, TransformerBlock, TransformerConfig};
use ferrograd::{set_matmul_precision, DType, MatmulPrecision, Module, Rng, Var};
use std::hint::black_box;
use std::time::Duration;

const LSTM: [usize; 4] = [32, 50, 64, 128]; // batch, steps, input, hidden
/// The size of `char_lstm`'s second layer, whose `W_hh` (4 MiB) does not fit in L2.
const LSTM_LARGE: [usize; 4] = [32, 100, 512, 512];

fn lstm(c: &mut Criterion) {
    let mut g = c.benchmark_group("lstm");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(30);
    for fused in [true, false] {
        lstm_case(&mut g, LSTM, fused, if fused { "fused" } else { "unfused" });
    }
    g.sample_size(10);
    lstm_case(&mut g, LSTM_LARGE, true, "fused");
    set_matmul_precision(MatmulPrecision::Medium);
    lstm_case(&mut g, LSTM_LARGE, true, "fused_medium");
    set_matmul_precision(MatmulPrecision::Highest);
    g.finish();
}

/// Forward (without a graph) and forward + backward of one LSTM layer of size `[b, t, i, h]`,
/// its rows named `tag`.
fn lstm_case(g: &mut BenchmarkGroup<'_, WallTime>, [b, t, i, h]: [usize; 4], fused: bool, tag: &str) {
    let macs = b * t * 4 * h * (i + h);
    let mut rng = Rng::new(1);
    let layer = Recurrent::lstm(RecurrentConfig { fused, ..RecurrentConfig::new(i, h) }, DType::F32, &mut rng).unwrap();
    let x = Var::parameter(rng.normal_tensor(&[b, t, i], 0.0, 1.0, DType::F32).unwrap());
    let size = format!("in{i} h{h} T{t} B{b}");
    g.throughput(Throughput::Elements((2 * macs) as u64));
    g.bench_function(format!("{tag} fwd {size}"), |bench| {
        bench.iter(|| ferrograd::no_grad(|| black_box(layer.forward(&x).unwrap().value())))
    });
    g.throughput(Throughput::Elements((6 * macs) as u64));
    g.bench_function(format!("{tag} fwd+bwd {size}"), |bench| {
        bench.iter(|| {
            layer.zero_grad();
            x.zero_grad();
            layer.forward(&x).unwrap().sum_all().unwrap().backward().unwrap();
            black_box(x.grad())
        })
    });
}

fn transformer(c: &mut Criterion) {
    let (b, t, d, heads) = (16, 128, 128, 4);
    let mut rng = Rng::new(2);
    let block = TransformerBlock::new(TransformerConfig::decoder_only(d, heads), DType::F32, &mut rng).unwrap();
    let x = Var::parameter(rng.normal_tensor(&[b, t, d], 0.0, 1.0, DType::F32).unwrap());
    // Projections 4·d² and feed-forward 8·d² per token, attention scores and mixing 2·t·d.
    let macs = b * t * (12 * d * d + 2 * t * d);
    let mut g = c.benchmark_group("transformer_block");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(4)).sample_size(20);
    g.throughput(Throughput::Elements((6 * macs) as u64));
    g.bench_function("fwd+bwd T128 d128 h4 B16", |bench| {
        bench.iter(|| {
            block.zero_grad();
            x.zero_grad();
            block.forward(&x).unwrap().sum_all().unwrap().backward().unwrap();
            black_box(x.grad())
        })
    });
    g.finish();
}

criterion_group!(benches, lstm, transformer);
criterion_main!(benches);
