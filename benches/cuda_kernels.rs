//! GPU kernel benchmarks, in the spirit of llm.c's `dev/cuda`: each kernel in its numbered
//! versions, each result checked against a reference before it is timed, device-event timing
//! with warm-up and an L2 flush before every timed launch, and a table of TFLOP/s or GB/s with
//! the share of cuBLAS (same GPU, same run) or of the memory's peak bandwidth.
//!
//! ```text
//! cargo bench --features cuda --bench cuda_kernels            # default sizes
//! cargo bench --features cuda --bench cuda_kernels -- --quick # 1024³ and 2048³ only
//! ```
//!
//! Without a GPU it says why and exits successfully.

use ferrograd_kernels::cuda::cudarc::cublas::{sys as blas_sys, CudaBlas, Gemm, GemmConfig};
use ferrograd_kernels::cuda::cudarc::driver::{sys as drv, CudaSlice, CudaStream};
use ferrograd_kernels::cuda::{Gpu, GpuBuffer};
use ferrograd_kernels::elementwise::{BinaryOp, UnaryOp};
use ferrograd_kernels::matmul::cuda::{gemm, GemmKernel, GemmOperand};
use ferrograd_kernels::reduce::ReduceOp;
use std::sync::Arc;

/// Timed launches per measurement (after 2 untimed warm-up launches); the median is reported.
const REPS: usize = 7;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let gpu = match Gpu::get(0) {
        Ok(gpu) => gpu,
        Err(e) => {
            println!("cuda_kernels: skipped ({e})");
            return;
        }
    };
    let peak_gbs = peak_bandwidth_gbs(&gpu);
    println!(
        "# {} ({}), peak memory bandwidth {:.0} GB/s from the device's clock and bus width\n",
        gpu.name(),
        gpu.arch(),
        peak_gbs
    );
    let flush = L2Flush::new(&gpu);
    gemm_table(&gpu, &flush, if quick { &[1024, 2048] } else { &[1024, 2048, 4096, 8192] });
    bandwidth_table(&gpu, &flush, peak_gbs);
}

/// The memory's peak bandwidth: 2 transfers per clock (DDR) × clock × bus width.
fn peak_bandwidth_gbs(gpu: &Gpu) -> f64 {
    let attr = |a| gpu.context().attribute(a).unwrap_or(0) as f64;
    let clock_khz = attr(drv::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE);
    let bus_bits = attr(drv::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
    2.0 * clock_khz * 1e3 * bus_bits / 8.0 / 1e9
}

/// A buffer larger than any L2 (H100: 50 MB), written before each timed launch so that every
/// measurement starts with cold caches.
struct L2Flush {
    buf: CudaSlice<u8>,
    stream: Arc<CudaStream>,
}

impl L2Flush {
    fn new(gpu: &Gpu) -> L2Flush {
        let stream = gpu.stream().clone();
        L2Flush { buf: stream.alloc_zeros::<u8>(256 << 20).expect("flush buffer"), stream }
    }
    fn run(&mut self) {
        self.stream.memset_zeros(&mut self.buf).expect("L2 flush");
    }
}

/// Median milliseconds of `f` on the GPU, measured with events around each launch.
fn time_ms(gpu: &Gpu, flush: &mut L2Flush, mut f: impl FnMut()) -> f64 {
    for _ in 0..2 {
        f();
    }
    let ctx = gpu.context();
    let mut times: Vec<f64> = (0..REPS)
        .map(|_| {
            flush.run();
            let start = ctx.new_event(Some(drv::CUevent_flags::CU_EVENT_DEFAULT)).expect("event");
            let end = ctx.new_event(Some(drv::CUevent_flags::CU_EVENT_DEFAULT)).expect("event");
            start.record(gpu.stream()).expect("record");
            f();
            end.record(gpu.stream()).expect("record");
            start.elapsed_ms(&end).expect("elapsed") as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[REPS / 2]
}

/// Uniform values in [-1, 1) from a fixed seed (SplitMix64).
fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Row-major `C = A·B` (n × n) with cuBLAS (column-major, so it computes `Cᵀ = Bᵀ·Aᵀ`).
fn cublas_sgemm(blas: &CudaBlas, n: usize, a: &GpuBuffer<f32>, b: &GpuBuffer<f32>, c: &mut GpuBuffer<f32>) {
    let ni = n as i32;
    let cfg = GemmConfig {
        transa: blas_sys::cublasOperation_t::CUBLAS_OP_N,
        transb: blas_sys::cublasOperation_t::CUBLAS_OP_N,
        m: ni,
        n: ni,
        k: ni,
        alpha: 1.0f32,
        lda: ni,
        ldb: ni,
        beta: 0.0f32,
        ldc: ni,
    };
    // SAFETY: all three buffers hold n·n floats, as the config's sizes and leading dims say.
    unsafe { blas.gemm(cfg, &b.view(), &a.view(), &mut c.view_mut()) }.expect("cublasSgemm");
}

/// Sets cuBLAS's math mode: plain FP32, or TF32 tensor cores.
fn set_tf32(blas: &CudaBlas, tf32: bool) {
    let mode = if tf32 {
        blas_sys::cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH
    } else {
        blas_sys::cublasMath_t::CUBLAS_DEFAULT_MATH
    };
    // SAFETY: the handle is live (owned by `blas`); setting the math mode is a host-side call.
    let status = unsafe { blas_sys::cublasSetMathMode(*blas.handle(), mode) };
    assert_eq!(status, blas_sys::cublasStatus_t::CUBLAS_STATUS_SUCCESS, "cublasSetMathMode");
}

fn gemm_table(gpu: &Arc<Gpu>, flush: &L2Flush, sizes: &[usize]) {
    let mut flush =
        L2Flush { buf: flush.stream.alloc_zeros::<u8>(256 << 20).expect("flush"), stream: flush.stream.clone() };
    let blas = CudaBlas::new(gpu.stream().clone()).expect("cuBLAS");
    println!("## SGEMM, row-major n×n·n×n (median of {REPS}, L2 flushed before each launch)\n");
    println!("| kernel | n | ms | TFLOP/s | % of cuBLAS FP32 | % of cuBLAS TF32 | max error / bound |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for &n in sizes {
        let (ha, hb) = (random(n * n, 1), random(n * n, 2));
        let a = GpuBuffer::from_host(gpu, &ha).unwrap();
        let b = GpuBuffer::from_host(gpu, &hb).unwrap();
        let flops = 2.0 * (n as f64).powi(3);
        let tflops = |ms: f64| flops / (ms * 1e-3) / 1e12;
        // The yardsticks, and the error bound of each entry: γ(n)·(|A|·|B|)ᵢⱼ for FP32 (plus the
        // cuBLAS result's own error, as large), and 2·2⁻¹¹·(|A|·|B|)ᵢⱼ more for TF32 inputs.
        let mut reference = GpuBuffer::<f32>::alloc(gpu, n * n).unwrap();
        set_tf32(&blas, false);
        let fp32_ms = time_ms(gpu, &mut flush, || cublas_sgemm(&blas, n, &a, &b, &mut reference));
        set_tf32(&blas, true);
        let mut scratch = GpuBuffer::<f32>::alloc(gpu, n * n).unwrap();
        let tf32_ms = time_ms(gpu, &mut flush, || cublas_sgemm(&blas, n, &a, &b, &mut scratch));
        set_tf32(&blas, false);
        let abs_a = GpuBuffer::from_host(gpu, &ha.iter().map(|v| v.abs()).collect::<Vec<_>>()).unwrap();
        let abs_b = GpuBuffer::from_host(gpu, &hb.iter().map(|v| v.abs()).collect::<Vec<_>>()).unwrap();
        let mut magnitude = GpuBuffer::<f32>::alloc(gpu, n * n).unwrap();
        cublas_sgemm(&blas, n, &abs_a, &abs_b, &mut magnitude);
        let (want, mag) = (reference.to_host().unwrap(), magnitude.to_host().unwrap());
        let u = f32::EPSILON as f64 / 2.0;
        let gamma = n as f64 * u / (1.0 - n as f64 * u);
        println!("| cuBLAS FP32 | {n} | {fp32_ms:.3} | {:.1} | 100 | | |", tflops(fp32_ms));
        println!("| cuBLAS TF32 | {n} | {tf32_ms:.3} | {:.1} | | 100 | |", tflops(tf32_ms));
        for (version, kernel) in [
            ("1 naive", GemmKernel::Naive),
            ("2 smem", GemmKernel::Smem),
            ("3 blocked", GemmKernel::Blocked),
            ("4 vectorized", GemmKernel::Vectorized),
            ("5 tf32 mma", GemmKernel::Tf32),
        ] {
            if n > 4096 && matches!(kernel, GemmKernel::Naive | GemmKernel::Smem) {
                continue; // seconds per launch, and nothing new to learn
            }
            let op = |buf| GemmOperand { buffer: buf, offset: 0, ld: n, batch_stride: 0, transposed: false };
            let run = || gemm(n, n, n, 1, op(&a), op(&b), None, Some(kernel)).expect("gemm");
            let got = run().to_host().unwrap();
            let tf32_term = if kernel == GemmKernel::Tf32 { 2.0 * 2f64.powi(-11) } else { 0.0 };
            let worst = got
                .iter()
                .zip(&want)
                .zip(&mag)
                .map(|((&g, &w), &m)| (g as f64 - w as f64).abs() / ((2.0 * gamma + tf32_term) * m as f64).max(1e-30))
                .fold(0.0f64, f64::max);
            let ms = time_ms(gpu, &mut flush, || drop(run()));
            let verdict = if worst <= 1.0 { format!("{worst:.3}") } else { format!("**{worst:.3} FAIL**") };
            println!(
                "| {version} | {n} | {ms:.3} | {:.1} | {:.1} | {:.1} | {verdict} |",
                tflops(ms),
                100.0 * fp32_ms / ms,
                100.0 * tf32_ms / ms
            );
        }
    }
    println!();
}

fn bandwidth_table(gpu: &Arc<Gpu>, flush: &L2Flush, peak_gbs: f64) {
    let mut flush =
        L2Flush { buf: flush.stream.alloc_zeros::<u8>(256 << 20).expect("flush"), stream: flush.stream.clone() };
    println!("## Bandwidth-bound kernels (f32; bytes = everything read + written once)\n");
    println!("| kernel | shape | ms | GB/s | % of peak |");
    println!("|---|---|---:|---:|---:|");
    let n = 1 << 26; // 64 Mi floats, 256 MB
    let x = GpuBuffer::from_host(gpu, &random(n, 3)).unwrap();
    let y = GpuBuffer::from_host(gpu, &random(n, 4)).unwrap();
    let mut row = |name: &str, shape: &str, bytes: f64, f: &mut dyn FnMut()| {
        let ms = time_ms(gpu, &mut flush, f);
        let gbs = bytes / (ms * 1e-3) / 1e9;
        println!("| {name} | {shape} | {ms:.3} | {gbs:.0} | {:.0} |", 100.0 * gbs / peak_gbs);
    };
    let dense = ferrograd_kernels::cuda::Layout::new("bench", &[n], &[1], 0).unwrap();
    row("unary exp (float4)", "64Mi", 8.0 * n as f64, &mut || {
        drop(ferrograd_kernels::elementwise::cuda::unary(UnaryOp::Exp, &x, 0, n).unwrap())
    });
    row("binary add, dense", "64Mi", 12.0 * n as f64, &mut || {
        drop(ferrograd_kernels::elementwise::cuda::binary(BinaryOp::Add, &x, &dense, &y, &dense).unwrap())
    });
    let (rows, cols) = (4096, 16384);
    let bcast = ferrograd_kernels::cuda::Layout::new("bench", &[rows, cols], &[0, 1], 0).unwrap();
    let full = ferrograd_kernels::cuda::Layout::new("bench", &[rows, cols], &[cols, 1], 0).unwrap();
    row("binary add, row broadcast (strided path)", "4096×16384", 8.0 * n as f64, &mut || {
        drop(ferrograd_kernels::elementwise::cuda::binary(BinaryOp::Add, &x, &full, &y, &bcast).unwrap())
    });
    row("reduce sum over rows", "4096×16384 → 4096", 4.0 * n as f64, &mut || {
        drop(ferrograd_kernels::reduce::cuda::reduce(ReduceOp::Sum, &x, 0, rows, cols, 1).unwrap())
    });
    row("reduce sum over columns", "4096×16384 → 16384", 4.0 * n as f64, &mut || {
        drop(ferrograd_kernels::reduce::cuda::reduce(ReduceOp::Sum, &x, 0, 1, rows, cols).unwrap())
    });
    row("reduce sum, all", "64Mi → 1", 4.0 * n as f64, &mut || {
        drop(ferrograd_kernels::reduce::cuda::reduce(ReduceOp::Sum, &x, 0, 1, n, 1).unwrap())
    });
    row("softmax rows", "16384×4096", 8.0 * n as f64, &mut || {
        drop(ferrograd_kernels::softmax::cuda::softmax_rows(&x, 0, 16384, 4096, false).unwrap())
    });
    println!();
}
