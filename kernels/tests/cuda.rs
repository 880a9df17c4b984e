//! The CUDA kernels against their CPU twins (which the other test files prove against naive
//! references), on random shapes and strided views. Every test needs a GPU: without one (or
//! without the driver or NVRTC) it prints why and passes. `cuda_sources_compile` needs only
//! NVRTC, so it also runs on machines with a CUDA toolkit and no GPU.
#![cfg(feature = "cuda")]

mod common;

use common::{numel, unit_roundoff, view, Rng};
use ferrograd_kernels::copy::{copy_strided, Strided};
use ferrograd_kernels::cuda::{self, Gpu, GpuBuffer, GpuError, Layout};
use ferrograd_kernels::elementwise::{binary, unary, BinaryOp, UnaryOp};
use ferrograd_kernels::matmul::cuda::{gemm, GemmKernel, GemmOperand};
use ferrograd_kernels::reduce::{reduce, ReduceOp};
use ferrograd_kernels::softmax::softmax_rows;
use proptest::prelude::*;
use std::sync::Arc;

/// Device 0, or `None` (after saying why) where there is none: the test then passes.
fn gpu() -> Option<Arc<Gpu>> {
    match Gpu::get(0) {
        Ok(gpu) => Some(gpu),
        Err(e) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| eprintln!("CUDA tests skipped, no GPU: {e}"));
            None
        }
    }
}

/// 24 random cases per property; `FERROGRAD_GPU_CASES` overrides it (scripts/cuda/run.sh sets
/// 2 under compute-sanitizer, which runs kernels tens of times slower).
fn config() -> ProptestConfig {
    let cases = std::env::var("FERROGRAD_GPU_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// Relative distance, with `floor` as the smallest magnitude divided by.
fn rel(got: f64, want: f64, floor: f64) -> f64 {
    if got.is_nan() && want.is_nan() || got == want {
        return 0.0;
    }
    (got - want).abs() / want.abs().max(floor)
}

/// Every `.cu` source compiles with NVRTC for the architectures we target (Ampere and Hopper).
/// Needs NVRTC only, not a GPU.
#[test]
fn cuda_sources_compile() {
    for (family, _) in cuda::sources() {
        for arch in ["sm_80", "sm_90"] {
            match cuda::compile_ptx(family, arch) {
                Ok(ptx) => assert!(ptx.contains(".entry"), "{family} for {arch}: no kernels in the PTX"),
                Err(GpuError::Unavailable(why)) => {
                    eprintln!("skipped: {why}");
                    return;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}

#[test]
fn buffers_round_trip_and_reuse_their_blocks() {
    let Some(gpu) = gpu() else { return };
    let data: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5 - 7.0).collect();
    let buf = GpuBuffer::from_host(&gpu, &data).unwrap();
    assert_eq!(buf.to_host().unwrap(), data);
    assert_eq!(buf.try_clone().unwrap().to_host().unwrap(), data);
    drop(buf);
    // A buffer of the same size class comes from the cache; zeros() must still give zeros.
    let zeros = GpuBuffer::<f32>::zeros(&gpu, 990).unwrap();
    assert!(zeros.to_host().unwrap().iter().all(|&v| v == 0.0));
    let filled = ferrograd_kernels::copy::cuda::fill(&gpu, 37, 2.5f64).unwrap();
    assert_eq!(filled.to_host().unwrap(), vec![2.5; 37]);
    let cast =
        ferrograd_kernels::copy::cuda::cast::<f32, i64>(&GpuBuffer::from_host(&gpu, &data).unwrap(), 3, 10).unwrap();
    assert_eq!(cast.to_host().unwrap(), data[3..13].iter().map(|&v| v as i64).collect::<Vec<_>>());
}

proptest! {
    #![proptest_config(config())]

    /// Gathering any strided view is exact.
    #[test]
    fn copy_strided_matches_cpu((shape, v) in common::small_shape().prop_flat_map(|s| (Just(s.clone()), view(s, true))), seed in any::<u64>()) {
        let Some(gpu) = gpu() else { return Ok(()) };
        let data: Vec<f32> = common::uniform(seed, v.len, -1.0, 1.0);
        let mut want = vec![0f32; numel(&shape)];
        copy_strided(Strided { data: &data, offset: v.offset, strides: &v.strides }, &shape, &mut want);
        let layout = Layout::new("test", &shape, &v.strides, v.offset).unwrap();
        let got = cuda_copy(&gpu, &data, &layout);
        prop_assert_eq!(got, want);
    }

    /// Every unary op, f32 and f64. CUDA's math functions (exp, log, tanh, erf, pow, log1p) are
    /// within 2–4 ulp, like the CPU's; the two may sit on opposite sides, so 16 ulp relative
    /// (or absolute near zero) is allowed.
    #[test]
    fn unary_matches_cpu(seed in any::<u64>(), n in 1..5000usize, offset in 0..5usize, which in 0..21usize) {
        let Some(gpu) = gpu() else { return Ok(()) };
        let op = [
            UnaryOp::Neg, UnaryOp::Exp, UnaryOp::Log, UnaryOp::Sqrt, UnaryOp::Abs, UnaryOp::Sign, UnaryOp::Tanh,
            UnaryOp::Sigmoid, UnaryOp::Relu, UnaryOp::LeakyRelu(0.1), UnaryOp::Gelu, UnaryOp::Softplus,
            UnaryOp::Clamp(-0.5, 0.75), UnaryOp::Erf, UnaryOp::Powf(1.7), UnaryOp::AddScalar(0.3), UnaryOp::MulScalar(-2.0),
            UnaryOp::Recip, UnaryOp::Step, UnaryOp::LeakyStep(0.2), UnaryOp::GeluGrad,
        ][which];
        let positive = matches!(op, UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Powf(_));
        let (lo, hi) = if positive { (0.01, 10.0) } else { (-8.0, 8.0) };
        let x32: Vec<f32> = common::uniform(seed, n + offset, lo, hi);
        let x64: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
        let got32 = GpuBufferExt::unary(&gpu, op, &x32, offset);
        let got64 = GpuBufferExt::unary(&gpu, op, &x64, offset);
        let mut want32 = vec![0f32; n];
        let mut want64 = vec![0f64; n];
        unary(op, &x32[offset..], &mut want32);
        unary(op, &x64[offset..], &mut want64);
        for i in 0..n {
            prop_assert!(rel(got32[i] as f64, want32[i] as f64, 1e-30) <= 16.0 * unit_roundoff::<f32>() || (got32[i] - want32[i]).abs() < 1e-7,
                "{op:?} f32 at {}: {} vs {}", x32[offset + i], got32[i], want32[i]);
            prop_assert!(rel(got64[i], want64[i], 1e-300) <= 16.0 * unit_roundoff::<f64>() || (got64[i] - want64[i]).abs() < 1e-15,
                "{op:?} f64 at {}: {} vs {}", x64[offset + i], got64[i], want64[i]);
        }
    }

    /// Every binary op over broadcasting, non-contiguous views. One rounding each, on both
    /// sides: the results are identical except `pow` (a library function: 16 ulp as above).
    #[test]
    fn binary_matches_cpu(
        (shape, va, vb) in common::small_shape().prop_flat_map(|s| (Just(s.clone()), view(s.clone(), true), view(s, true))),
        seed in any::<u64>(),
        which in 0..14usize,
    ) {
        let Some(gpu) = gpu() else { return Ok(()) };
        let op = [
            BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Maximum, BinaryOp::Minimum,
            BinaryOp::Eq, BinaryOp::Ne, BinaryOp::Lt, BinaryOp::Le, BinaryOp::Gt, BinaryOp::Ge, BinaryOp::ReluGrad,
        ][which];
        let mut rng = Rng::new(seed);
        // Quantised values, so that comparisons meet equal pairs; positive bases for pow.
        let a: Vec<f32> = (0..va.len).map(|_| (rng.below(9) as f32 + 1.0) * 0.25).collect();
        let b: Vec<f32> = (0..vb.len).map(|_| (rng.below(9) as f32 - 4.0) * 0.25).collect();
        let mut want = vec![0f32; numel(&shape)];
        binary(op, Strided { data: &a, offset: va.offset, strides: &va.strides }, Strided { data: &b, offset: vb.offset, strides: &vb.strides }, &shape, &mut want);
        let (ga, gb) = (GpuBuffer::from_host(&gpu, &a).unwrap(), GpuBuffer::from_host(&gpu, &b).unwrap());
        let (la, lb) = (Layout::new("test", &shape, &va.strides, va.offset).unwrap(), Layout::new("test", &shape, &vb.strides, vb.offset).unwrap());
        let got = ferrograd_kernels::elementwise::cuda::binary(op, &ga, &la, &gb, &lb).unwrap().to_host().unwrap();
        for i in 0..want.len() {
            let tol = if op == BinaryOp::Pow { 16.0 * unit_roundoff::<f32>() } else { 0.0 };
            prop_assert!(rel(got[i] as f64, want[i] as f64, 1e-30) <= tol, "{op:?} at {i}: {} vs {}", got[i], want[i]);
        }
    }

    /// Dense operands from any offset: the 16-byte path (offsets that are multiples of 4) with
    /// its ragged tail, and the unaligned fallback. Exact, as above.
    #[test]
    fn dense_binary_matches_cpu(seed in any::<u64>(), n in 1..5000usize, oa in 0..6usize, ob in 0..6usize, which in 0..4usize) {
        let Some(gpu) = gpu() else { return Ok(()) };
        let op = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div][which];
        let a: Vec<f32> = common::uniform(seed, n + oa, -2.0, 2.0);
        let b: Vec<f32> = common::uniform(seed ^ 1, n + ob, 0.5, 2.0);
        let mut want = vec![0f32; n];
        binary(op, Strided { data: &a, offset: oa, strides: &[1] }, Strided { data: &b, offset: ob, strides: &[1] }, &[n], &mut want);
        let (ga, gb) = (GpuBuffer::from_host(&gpu, &a).unwrap(), GpuBuffer::from_host(&gpu, &b).unwrap());
        let (la, lb) = (Layout::new("test", &[n], &[1], oa).unwrap(), Layout::new("test", &[n], &[1], ob).unwrap());
        let got = ferrograd_kernels::elementwise::cuda::binary(op, &ga, &la, &gb, &lb).unwrap().to_host().unwrap();
        prop_assert_eq!(got, want);
    }

    /// Sum, max and min of `[outer, len, inner]`, including long axes with few outputs (the
    /// two-pass path). Max and min are exact; sums add in a different order than the CPU, so
    /// each may be off by γ(len)·Σ|x| (the bound for any summation order), from both sides.
    #[test]
    fn reduce_matches_cpu(
        (outer, len, inner) in prop_oneof![
            3 => (1..6usize, 1..300usize, 1..6usize),
            1 => (1..3usize, 5000..40000usize, 1..3usize),
            1 => (200..400usize, 1..20usize, 1usize..2),
        ],
        seed in any::<u64>(),
        which in 0..3usize,
    ) {
        let Some(gpu) = gpu() else { return Ok(()) };
        let op = [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min][which];
        let x: Vec<f32> = common::uniform(seed, outer * len * inner, -1.0, 1.0);
        let mut want = vec![0f32; outer * inner];
        reduce(op, &x, outer, len, inner, &mut want);
        let buf = GpuBuffer::from_host(&gpu, &x).unwrap();
        let got = ferrograd_kernels::reduce::cuda::reduce(op, &buf, 0, outer, len, inner).unwrap().to_host().unwrap();
        let u = unit_roundoff::<f32>();
        for o in 0..outer {
            for i in 0..inner {
                let abs_sum: f64 = (0..len).map(|l| x[(o * len + l) * inner + i].abs() as f64).sum();
                let tol = if op == ReduceOp::Sum { 2.0 * common::gamma(len, u) * abs_sum } else { 0.0 };
                let (g, w) = (got[o * inner + i] as f64, want[o * inner + i] as f64);
                prop_assert!((g - w).abs() <= tol, "{op:?} [{o}, :, {i}]: {g} vs {w} (tolerance {tol})");
            }
        }
    }

    /// Softmax and log-softmax rows, shifted far from zero. Each output is a few roundings plus
    /// one exp away from the truth on either side; 64 ulp relative covers rows of up to 40k
    /// values, whose sums carry γ(cols) of relative error.
    #[test]
    fn softmax_matches_cpu(rows in 1..50usize, cols in prop_oneof![1..300usize, 3000..40000usize], seed in any::<u64>(), log in any::<bool>()) {
        let Some(gpu) = gpu() else { return Ok(()) };
        let mut rng = Rng::new(seed);
        let x: Vec<f32> = (0..rows * cols).map(|_| (rng.uniform(-5.0, 5.0) + 300.0) as f32).collect();
        let mut want = vec![0f32; x.len()];
        softmax_rows(&x, cols, log, &mut want);
        let buf = GpuBuffer::from_host(&gpu, &x).unwrap();
        let got = ferrograd_kernels::softmax::cuda::softmax_rows(&buf, 0, rows, cols, log).unwrap().to_host().unwrap();
        let tol = 2.0 * common::gamma(cols, unit_roundoff::<f32>()) + 64.0 * unit_roundoff::<f32>();
        for i in 0..x.len() {
            prop_assert!(rel(got[i] as f64, want[i] as f64, 1e-30) <= tol, "at {i}: {} vs {}", got[i], want[i]);
        }
    }

    /// Every GEMM version, every transpose combination, batched with a broadcast operand, with
    /// and without bias, against an f64 product. Each entry of an f32 product carries at most
    /// γ(k)·Σ|a·b| of error; TF32 rounds each input to 11 significant bits first, adding
    /// 2·2⁻¹¹·Σ|a·b|.
    #[test]
    fn gemm_matches_f64_reference(
        m in 1..300usize, k in 1..200usize, n in 1..300usize, batch in 1..4usize,
        ta in any::<bool>(), tb in any::<bool>(), broadcast_b in any::<bool>(), with_bias in any::<bool>(),
        which in 0..5usize, seed in any::<u64>(),
    ) {
        let Some(gpu) = gpu() else { return Ok(()) };
        let kernel = [GemmKernel::Naive, GemmKernel::Smem, GemmKernel::Blocked, GemmKernel::Vectorized, GemmKernel::Tf32][which];
        let simple = matches!(kernel, GemmKernel::Naive | GemmKernel::Smem);
        let (batch, ta, tb, with_bias, broadcast_b) = if simple { (1, false, false, false, false) } else { (batch, ta, tb, with_bias, broadcast_b) };
        let a: Vec<f32> = common::uniform(seed, batch * m * k, -1.0, 1.0);
        let b_count = if broadcast_b { 1 } else { batch };
        let b: Vec<f32> = common::uniform(seed ^ 1, b_count * k * n, -1.0, 1.0);
        let bias: Vec<f32> = common::uniform(seed ^ 2, n, -1.0, 1.0);
        // Element (i, p) of matrix `e` of A, whichever way it is stored.
        let at = |e: usize, i: usize, p: usize| if ta { a[e * m * k + p * m + i] } else { a[e * m * k + i * k + p] };
        let bt = |e: usize, p: usize, j: usize| {
            let e = if broadcast_b { 0 } else { e };
            if tb { b[e * k * n + j * k + p] } else { b[e * k * n + p * n + j] }
        };
        let (ga, gb, gbias) = (GpuBuffer::from_host(&gpu, &a).unwrap(), GpuBuffer::from_host(&gpu, &b).unwrap(), GpuBuffer::from_host(&gpu, &bias).unwrap());
        let opa = GemmOperand { buffer: &ga, offset: 0, ld: if ta { m } else { k }, batch_stride: m * k, transposed: ta };
        let opb = GemmOperand { buffer: &gb, offset: 0, ld: if tb { k } else { n }, batch_stride: if broadcast_b { 0 } else { k * n }, transposed: tb };
        let got = gemm(m, k, n, batch, opa, opb, with_bias.then_some(&gbias), Some(kernel)).unwrap().to_host().unwrap();
        let u = unit_roundoff::<f32>();
        for e in 0..batch {
            for i in 0..m {
                for j in 0..n {
                    let (mut want, mut mag) = (if with_bias { bias[j] as f64 } else { 0.0 }, 0.0);
                    for p in 0..k {
                        let t = at(e, i, p) as f64 * bt(e, p, j) as f64;
                        want += t;
                        mag += t.abs();
                    }
                    let mut tol = common::gamma(k + 1, u) * (mag + bias[j].abs() as f64);
                    if kernel == GemmKernel::Tf32 {
                        tol += 2.0 * 2f64.powi(-11) * mag;
                    }
                    let g = got[(e * m + i) * n + j] as f64;
                    prop_assert!((g - want).abs() <= tol, "{kernel:?} [{e}, {i}, {j}]: {g} vs {want} (tolerance {tol})");
                }
            }
        }
    }
}

/// arg_reduce, gather, scatter_add, copy_into and the optimizer steps against their CPU twins.
#[test]
fn index_and_optimizer_kernels_match_cpu() {
    let Some(gpu) = gpu() else { return };
    use ferrograd_kernels::{
        index, optim,
        reduce::{arg_reduce, ArgReduceOp},
    };
    // arg_reduce over [4, 9, 3] with ties (values from a handful of integers): exact.
    let mut rng = Rng::new(7);
    let x: Vec<f32> = (0..4 * 9 * 3).map(|_| rng.below(4) as f32).collect();
    for op in [ArgReduceOp::ArgMax, ArgReduceOp::ArgMin] {
        let mut want = vec![0i64; 12];
        arg_reduce(op, &x, 4, 9, 3, &mut want);
        let got = ferrograd_kernels::reduce::cuda::arg_reduce(op, &GpuBuffer::from_host(&gpu, &x).unwrap(), 0, 4, 9, 3)
            .unwrap();
        assert_eq!(got.to_host().unwrap(), want, "{op:?}");
    }
    // gather / scatter_add along dim 1 of [5, 7] with a [5, 3] index (repeats included).
    let src: Vec<f32> = common::uniform(8, 35, -1.0, 1.0);
    let idx: Vec<i64> = (0..15).map(|_| rng.below(7) as i64).collect();
    let idx_usize: Vec<usize> = idx.iter().map(|&i| i as usize).collect();
    let mut want = vec![0f32; 15];
    index::gather(&src, &[5, 7], 1, &idx_usize, &[5, 3], &mut want);
    let dsrc = GpuBuffer::from_host(&gpu, &src).unwrap();
    assert_eq!(index::cuda::gather(&dsrc, &[5, 7], 1, &idx, &[5, 3]).unwrap().to_host().unwrap(), want);
    let add: Vec<f32> = common::uniform(9, 15, -1.0, 1.0);
    let mut want = src.clone();
    index::scatter_add(&mut want, &[5, 7], 1, &idx_usize, &[5, 3], &add);
    let mut dst = GpuBuffer::from_host(&gpu, &src).unwrap();
    index::cuda::scatter_add(&mut dst, &[5, 7], 1, &idx, &[5, 3], &GpuBuffer::from_host(&gpu, &add).unwrap()).unwrap();
    // At most 3 additions meet in one place, in another order: 4 ulp of the magnitudes.
    for (g, w) in dst.to_host().unwrap().iter().zip(&want) {
        assert!((g - w).abs() <= 4.0 * f32::EPSILON * 4.0, "scatter_add: {g} vs {w}");
    }
    assert!(index::cuda::gather(&dsrc, &[5, 7], 1, &[7], &[1, 1]).is_err(), "an out-of-range index must be refused");
    // copy_into: a transposed [3, 4] block into a dense [4, 6] buffer at column 2.
    let block: Vec<f32> = common::uniform(10, 12, -1.0, 1.0);
    let src_layout = Layout::new("t", &[4, 3], &[1, 4], 0).unwrap();
    let dst_layout = Layout::new("t", &[4, 3], &[6, 1], 2).unwrap();
    let mut out = GpuBuffer::<f32>::zeros(&gpu, 24).unwrap();
    ferrograd_kernels::copy::cuda::copy_into(
        &GpuBuffer::from_host(&gpu, &block).unwrap(),
        &src_layout,
        &mut out,
        &dst_layout,
    )
    .unwrap();
    let mut want = vec![0f32; 24];
    ferrograd_kernels::copy::copy_into(
        Strided { data: &block, offset: 0, strides: &[1, 4] },
        &[4, 3],
        &mut want,
        2,
        &[6, 1],
    );
    assert_eq!(out.to_host().unwrap(), want);
    // Adam and SGD: the same formula; `sqrt` and division round alike up to a few ulp.
    let p: Vec<f32> = common::uniform(11, 1000, -1.0, 1.0);
    let g: Vec<f32> = common::uniform(12, 1000, -1.0, 1.0);
    let h = optim::AdamParams {
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.1,
        decoupled: false,
        step: 5,
    };
    let (mut wp, mut wm, mut wv) = (p.clone(), g.clone(), g.iter().map(|v| v * v).collect::<Vec<_>>());
    let (mut dp, mut dm, mut dv) = (
        GpuBuffer::from_host(&gpu, &wp).unwrap(),
        GpuBuffer::from_host(&gpu, &wm).unwrap(),
        GpuBuffer::from_host(&gpu, &wv).unwrap(),
    );
    optim::adam_step(&mut wp, &g, &mut wm, &mut wv, h);
    optim::cuda::adam_step(&mut dp, &GpuBuffer::from_host(&gpu, &g).unwrap(), &mut dm, &mut dv, h).unwrap();
    for (got, want) in [(dp.to_host().unwrap(), wp), (dm.to_host().unwrap(), wm), (dv.to_host().unwrap(), wv)] {
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() <= 8.0 * f32::EPSILON * b.abs().max(1e-3), "adam: {a} vs {b}");
        }
    }
    let s = optim::SgdParams {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.1,
        weight_decay: 1e-2,
        nesterov: false,
        first_step: false,
    };
    let (mut wp, mut wv) = (p.clone(), g.clone());
    let (mut dp, mut dv) = (GpuBuffer::from_host(&gpu, &wp).unwrap(), GpuBuffer::from_host(&gpu, &wv).unwrap());
    optim::sgd_step(&mut wp, &g, &mut wv, s);
    optim::cuda::sgd_step(&mut dp, &GpuBuffer::from_host(&gpu, &g).unwrap(), &mut dv, s).unwrap();
    for (a, b) in dp.to_host().unwrap().iter().zip(&wp) {
        assert!((a - b).abs() <= 4.0 * f32::EPSILON * b.abs().max(1e-3), "sgd: {a} vs {b}");
    }
}

/// Gathers `layout` of `data` on the GPU and copies it back.
fn cuda_copy(gpu: &Arc<Gpu>, data: &[f32], layout: &Layout) -> Vec<f32> {
    let buf = GpuBuffer::from_host(gpu, data).unwrap();
    ferrograd_kernels::copy::cuda::copy_strided(&buf, layout).unwrap().to_host().unwrap()
}

/// Runs the unary kernel on host data (from `offset`) and copies the result back.
struct GpuBufferExt;
impl GpuBufferExt {
    fn unary<T: cuda::GpuFloat>(gpu: &Arc<Gpu>, op: UnaryOp, x: &[T], offset: usize) -> Vec<T> {
        let buf = GpuBuffer::from_host(gpu, x).unwrap();
        ferrograd_kernels::elementwise::cuda::unary(op, &buf, offset, x.len() - offset).unwrap().to_host().unwrap()
    }
}

/// Grouped convolutions with every window parameter, sized so that each product spans several
/// 64-wide tiles now and then (up to 80 output channels per group) and the weight gradient's sum
/// over `N·OH·OW` is split into slices (more than 256 terms).
fn conv_geometry() -> impl Strategy<Value = ferrograd_kernels::conv::Conv2dGeometry> {
    use ferrograd_kernels::conv::{Conv2dGeometry, Window2d};
    (
        (1usize..=6, 1usize..=3, 1usize..=12, 1usize..=80),
        (1usize..=20, 1usize..=20),
        ([1usize..=4, 1usize..=4], [1usize..=3, 1usize..=3], [0usize..=2, 0usize..=2], [1usize..=2, 1usize..=2]),
    )
        .prop_map(|((n, groups, cg, og), (h, w), (kernel, stride, padding, dilation))| Conv2dGeometry {
            window: Window2d { n, c: cg * groups, h, w, kernel, stride, padding, dilation },
            out_channels: og * groups,
            groups,
        })
        .prop_filter("window must fit", |g| g.window.output_size().is_some())
}

/// `|got − want| ≤ γ(k + 1)·mag` elementwise: a sum of k terms in any order, then one rounding to
/// f32, against the f64 value; `mag` is the same sum over the terms' absolute values.
fn within_sum_bound(what: &str, got: &[f32], want: &[f64], mag: &[f64], k: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len(), "{}: lengths", what);
    let tol = common::gamma(k + 1, unit_roundoff::<f32>());
    for (i, ((&g, &w), &m)) in got.iter().zip(want).zip(mag).enumerate() {
        prop_assert!((g as f64 - w).abs() <= tol * m + 1e-30, "{what}[{i}]: {g} vs {w} (bound {})", tol * m);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// im2col (exact: a copy) and col2im (sums of at most kh·kw values) against the CPU kernels,
    /// with the padding value of max pooling.
    #[test]
    fn im2col_and_col2im_match_cpu(geo in conv_geometry(), seed in any::<u64>()) {
        let Some(gpu) = gpu() else { return Ok(()) };
        use ferrograd_kernels::conv::{col2im, im2col};
        let g = geo.window;
        let (oh, ow) = g.output_size().unwrap();
        let x: Vec<f32> = common::uniform(seed, g.n * g.c * g.h * g.w, -1.0, 1.0);
        let mut want = vec![0f32; g.n * g.col_rows() * oh * ow];
        im2col(&x, &g, f32::NEG_INFINITY, &mut want);
        let gx = GpuBuffer::from_host(&gpu, &x).unwrap();
        let got = ferrograd_kernels::conv::cuda::im2col(&gx, &g, f32::NEG_INFINITY).unwrap().to_host().unwrap();
        prop_assert_eq!(got, want);

        let cols: Vec<f32> = common::uniform(seed ^ 3, g.n * g.col_rows() * oh * ow, -1.0, 1.0);
        let cols64: Vec<f64> = cols.iter().map(|&v| v as f64).collect();
        let abs64: Vec<f64> = cols64.iter().map(|v| v.abs()).collect();
        let (mut want, mut mag) = (vec![0f64; g.n * g.c * g.h * g.w], vec![0f64; g.n * g.c * g.h * g.w]);
        col2im(&cols64, &g, &mut want);
        col2im(&abs64, &g, &mut mag);
        let gc = GpuBuffer::from_host(&gpu, &cols).unwrap();
        let got = ferrograd_kernels::conv::cuda::col2im(&gc, &g).unwrap().to_host().unwrap();
        within_sum_bound("col2im", &got, &want, &mag, g.kernel[0] * g.kernel[1])?;
    }

    /// The three implicit-GEMM products against the CPU kernels run in f64 on the same f32
    /// values; each bound is the summation bound over the product's terms, whose absolute sum
    /// is the same product of the absolute values.
    #[test]
    fn conv2d_kernels_match_cpu(geo in conv_geometry(), seed in any::<u64>()) {
        let Some(gpu) = gpu() else { return Ok(()) };
        use ferrograd_kernels::conv::{conv2d, conv2d_input_grad, conv2d_weight_grad, cuda};
        let g = geo.window;
        let (oh, ow) = g.output_size().unwrap();
        let (cg, og, taps) = (g.c / geo.groups, geo.out_channels / geo.groups, g.kernel[0] * g.kernel[1]);
        let x: Vec<f32> = common::uniform(seed, geo.input_len(), -1.0, 1.0);
        let w: Vec<f32> = common::uniform(seed ^ 1, geo.weight_len(), -1.0, 1.0);
        let gy: Vec<f32> = common::uniform(seed ^ 2, geo.output_len(), -1.0, 1.0);
        let wide = |v: &[f32]| -> (Vec<f64>, Vec<f64>) { (v.iter().map(|&a| a as f64).collect(), v.iter().map(|&a| (a as f64).abs()).collect()) };
        let ((x64, xa), (w64, wa), (g64, ga)) = (wide(&x), wide(&w), wide(&gy));
        let (bx, bw, bg) = (GpuBuffer::from_host(&gpu, &x).unwrap(), GpuBuffer::from_host(&gpu, &w).unwrap(), GpuBuffer::from_host(&gpu, &gy).unwrap());

        let (mut want, mut mag) = (vec![0f64; geo.output_len()], vec![0f64; geo.output_len()]);
        conv2d(&x64, &w64, &geo, &mut want);
        conv2d(&xa, &wa, &geo, &mut mag);
        let got = cuda::conv2d(&bx, &bw, &geo).unwrap().to_host().unwrap();
        within_sum_bound("conv2d", &got, &want, &mag, cg * taps)?;

        let (mut want, mut mag) = (vec![0f64; geo.input_len()], vec![0f64; geo.input_len()]);
        conv2d_input_grad(&g64, &w64, &geo, &mut want);
        conv2d_input_grad(&ga, &wa, &geo, &mut mag);
        let got = cuda::conv2d_input_grad(&bg, &bw, &geo).unwrap().to_host().unwrap();
        within_sum_bound("conv2d_input_grad", &got, &want, &mag, og * taps)?;

        let (mut want, mut mag) = (vec![0f64; geo.weight_len()], vec![0f64; geo.weight_len()]);
        conv2d_weight_grad(&x64, &g64, &geo, &mut want);
        conv2d_weight_grad(&xa, &ga, &geo, &mut mag);
        let got = cuda::conv2d_weight_grad(&bx, &bg, &geo).unwrap().to_host().unwrap();
        within_sum_bound("conv2d_weight_grad", &got, &want, &mag, g.n * oh * ow)?;
    }
}

proptest! {
    #![proptest_config(config())]

    /// index_select (a copy: exact) and index_add, whose GPU kernel adds each destination's
    /// sources in the order of `j`, as the CPU kernel does: exact too. Repeated indices and
    /// rows never picked included.
    #[test]
    fn index_rows_match_cpu(outer in 1..4usize, n_src in 1..30usize, inner in 1..20usize, n_idx in 0..60usize, seed in any::<u64>()) {
        let Some(gpu) = gpu() else { return Ok(()) };
        use ferrograd_kernels::index::{self, cuda};
        let mut rng = Rng::new(seed);
        let idx: Vec<usize> = (0..n_idx).map(|_| rng.below(n_src)).collect();
        let src: Vec<f32> = common::uniform(seed ^ 1, outer * n_src * inner, -1.0, 1.0);
        let mut want = vec![0f32; outer * n_idx * inner];
        index::index_select(&src, outer, n_src, inner, &idx, &mut want);
        let got = cuda::index_select(&GpuBuffer::from_host(&gpu, &src).unwrap(), outer, n_src, inner, &idx).unwrap();
        prop_assert_eq!(got.to_host().unwrap(), want);

        let add: Vec<f32> = common::uniform(seed ^ 2, outer * n_idx * inner, -1.0, 1.0);
        let mut want = src.clone();
        index::index_add(&mut want, outer, n_src, inner, &idx, &add);
        let mut dst = GpuBuffer::from_host(&gpu, &src).unwrap();
        cuda::index_add(&mut dst, outer, n_src, inner, &idx, &GpuBuffer::from_host(&gpu, &add).unwrap()).unwrap();
        prop_assert_eq!(dst.to_host().unwrap(), want);
    }

    /// Training-mode batch norm, forward and backward, against the CPU kernels run in f64 on
    /// the same f32 values, with a common offset of up to 3 (so a variance taken as E[x²] − μ²
    /// would lose digits). The GPU sums in f64, so its errors are f32 roundings of the last
    /// steps: the statistics within a few ulp; y within a few ulp of γ·r·(|μ| + |x − μ|) + |β|
    /// (μ rounded to f32, then x − μ); ∂β within u·Σ|g| ≤ u·M; ∂γ within u·r·Σ|g|·|x − μ| ≤
    /// 2u·M·r (each x − μ rounded); ∂x within a few ulp of its three terms, |a·g| ≤ γ·r,
    /// |b·(x − μ)| ≤ γ·r³·(Σ|g|·|x − μ|/M)·|x − μ| ≤ 4γ·r³ and |k| ≤ γ·r (|g| ≤ 1, |x − μ| ≤ 2).
    /// The tests allow 8 ulp on the statistics and gradients of γ, β, and 16 on y and ∂x.
    #[test]
    fn batch_norm_matches_cpu(n in 1..6usize, c in 1..9usize, s in 1..300usize, offset in -3.0..3.0f64, seed in any::<u64>()) {
        let Some(gpu) = gpu() else { return Ok(()) };
        use ferrograd_kernels::norm::{batch_norm_backward, batch_norm_forward, cuda, ChannelLayout};
        prop_assume!(n * s >= 2);
        let lay = ChannelLayout { n, c, s };
        let x: Vec<f32> = common::uniform::<f32>(seed, lay.len(), -1.0, 1.0).iter().map(|&v| v + offset as f32).collect();
        let g: Vec<f32> = common::uniform(seed ^ 1, lay.len(), -1.0, 1.0);
        let gamma: Vec<f32> = common::uniform(seed ^ 2, c, 0.5, 2.0);
        let beta: Vec<f32> = common::uniform(seed ^ 3, c, -1.0, 1.0);
        let wide = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
        let (x64, g64, gamma64, beta64) = (wide(&x), wide(&g), wide(&gamma), wide(&beta));
        let eps = 1e-5;
        let (mut y, mut mean, mut var) = (vec![0f64; lay.len()], vec![0f64; c], vec![0f64; c]);
        batch_norm_forward(&x64, lay, &gamma64, &beta64, eps, &mut y, &mut mean, &mut var);
        let up = |v: &[f32]| GpuBuffer::from_host(&gpu, v).unwrap();
        let (gy, gmean, gvar) = cuda::batch_norm_forward(&up(&x), lay, &up(&gamma), &up(&beta), eps).unwrap();
        let u = unit_roundoff::<f32>();
        let (gmean, gvar) = (gmean.to_host().unwrap(), gvar.to_host().unwrap());
        for ch in 0..c {
            prop_assert!((gmean[ch] as f64 - mean[ch]).abs() <= 8.0 * u * (mean[ch].abs() + 1.0), "mean[{ch}]: {} vs {}", gmean[ch], mean[ch]);
            prop_assert!((gvar[ch] as f64 - var[ch]).abs() <= 8.0 * u * var[ch] + 1e-12, "var[{ch}]: {} vs {}", gvar[ch], var[ch]);
        }
        let scale: Vec<f64> = (0..c).map(|ch| gamma64[ch] * (offset.abs() + 3.0) / (var[ch] + eps).sqrt() + beta64[ch].abs()).collect();
        for (i, (&got, &want)) in gy.to_host().unwrap().iter().zip(&y).enumerate() {
            let ch = (i / s) % c;
            prop_assert!((got as f64 - want).abs() <= 16.0 * u * scale[ch], "y[{i}]: {got} vs {want}");
        }
        // Backward, from the f64 statistics rounded to f32 (what the GPU op would be given).
        let (m32, v32): (Vec<f32>, Vec<f32>) = (mean.iter().map(|&v| v as f32).collect(), var.iter().map(|&v| v as f32).collect());
        let (mut gx, mut gw, mut gb) = (vec![0f64; lay.len()], vec![0f64; c], vec![0f64; c]);
        batch_norm_backward(&x64, &g64, lay, [&gamma64, &wide(&m32), &wide(&v32)], eps, &mut gx, &mut gw, &mut gb);
        let (ggx, ggw, ggb) = cuda::batch_norm_backward(&up(&x), &up(&g), lay, &up(&gamma), &up(&m32), &up(&v32), eps).unwrap();
        let m = (n * s) as f64;
        let (ggw, ggb) = (ggw.to_host().unwrap(), ggb.to_host().unwrap());
        for ch in 0..c {
            let r = 1.0 / (v32[ch] as f64 + eps).sqrt();
            prop_assert!((ggb[ch] as f64 - gb[ch]).abs() <= 8.0 * u * m, "∂β[{ch}]: {} vs {}", ggb[ch], gb[ch]);
            prop_assert!((ggw[ch] as f64 - gw[ch]).abs() <= 8.0 * 2.0 * u * m * r, "∂γ[{ch}]: {} vs {}", ggw[ch], gw[ch]);
        }
        for (i, (&got, &want)) in ggx.to_host().unwrap().iter().zip(&gx).enumerate() {
            let ch = (i / s) % c;
            let r = 1.0 / (v32[ch] as f64 + eps).sqrt();
            let terms = gamma64[ch] * r * (2.0 + 4.0 * r * r);
            prop_assert!((got as f64 - want).abs() <= 16.0 * u * terms, "∂x[{i}]: {got} vs {want}");
        }
    }
}

/// A batch larger than a grid's z extent (65,535: the kernels loop over the rest), and an
/// empty sum (k = 0) with and without a bias: exact (tiny products of values with few bits).
#[test]
fn gemm_edge_cases() {
    let Some(gpu) = gpu() else { return };
    let (batch, m, k, n) = (70_000usize, 2usize, 3usize, 2usize);
    let a: Vec<f32> = (0..batch * m * k).map(|i| (i % 7) as f32 - 3.0).collect();
    let b: Vec<f32> = (0..batch * k * n).map(|i| (i % 5) as f32 - 2.0).collect();
    let (ga, gb) = (GpuBuffer::from_host(&gpu, &a).unwrap(), GpuBuffer::from_host(&gpu, &b).unwrap());
    let opa = GemmOperand { buffer: &ga, offset: 0, ld: k, batch_stride: m * k, transposed: false };
    let opb = GemmOperand { buffer: &gb, offset: 0, ld: n, batch_stride: k * n, transposed: false };
    let got = gemm(m, k, n, batch, opa, opb, None, None).unwrap().to_host().unwrap();
    for e in [0, 1, 65_534, 65_535, 65_536, batch - 1] {
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|p| a[e * m * k + i * k + p] * b[e * k * n + p * n + j]).sum();
                assert_eq!(got[(e * m + i) * n + j], want, "batch entry {e}, [{i}, {j}]");
            }
        }
    }
    let bias = GpuBuffer::from_host(&gpu, &[1.5f32, -2.0, 0.25]).unwrap();
    let empty = GpuBuffer::<f32>::alloc(&gpu, 0).unwrap();
    let op0 = GemmOperand { buffer: &empty, offset: 0, ld: 0, batch_stride: 0, transposed: false };
    let op0b = GemmOperand { buffer: &empty, offset: 0, ld: 3, batch_stride: 0, transposed: false };
    assert_eq!(gemm(4, 0, 3, 1, op0, op0b, None, None).unwrap().to_host().unwrap(), vec![0.0; 12]);
    assert_eq!(gemm(4, 0, 3, 1, op0, op0b, Some(&bias), None).unwrap().to_host().unwrap(), [1.5, -2.0, 0.25].repeat(4));
}
