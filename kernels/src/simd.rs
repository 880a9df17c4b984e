//! Run-time choice of SIMD width.
//!
//! A hot loop is written once, as plain branch-free Rust, and passed as a closure to
//! [`vectorized`]. The closure is inlined into three functions compiled for different target
//! features, and the widest one this CPU supports runs: AVX-512 (16 f32 lanes), AVX2+FMA (8
//! lanes), or the baseline target (SSE2, 4 lanes). The closure must be marked `#[inline(always)]` (`vectorized(#[inline(always)] || …)`):
//! otherwise LLVM may keep it as a separate function compiled for the baseline target, and the
//! AVX2 copy would only be a jump to it (we saw exactly that in the disassembly of softmax
//! before adding the attribute). The check is made once per process and cached, so the cost per call is one load and
//! a branch. Building with `-C target-cpu=native` is never needed, and a release binary runs on
//! any x86-64.

#[cfg(target_arch = "x86_64")]
use crate::Float;
use std::sync::OnceLock;

/// The environment variable that caps the SIMD level (`avx512`, `avx2` or `baseline`), so that
/// tests and benchmarks can exercise every copy of the kernels on one machine.
pub const SIMD_ENV: &str = "FERROGRAD_SIMD";

/// The highest level allowed by [`SIMD_ENV`] (0 baseline, 1 AVX2, 2 AVX-512), read once.
#[cfg(target_arch = "x86_64")]
fn allowed_level() -> u8 {
    static LEVEL: OnceLock<u8> = OnceLock::new();
    *LEVEL.get_or_init(|| match std::env::var(SIMD_ENV).as_deref() {
        Ok("baseline") => 0,
        Ok("avx2") => 1,
        _ => 2,
    })
}

/// Whether this CPU has AVX2 and FMA (cached after the first call).
#[cfg(target_arch = "x86_64")]
pub fn has_avx2_fma() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| allowed_level() >= 1 && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

/// Whether this CPU has the AVX-512 subsets the kernels use (F, VL, DQ, BW), cached.
#[cfg(target_arch = "x86_64")]
pub fn has_avx512() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        allowed_level() >= 2
            && has_avx2_fma()
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512bw")
    })
}

/// Whether this CPU has AVX-512 (never, off x86-64).
#[cfg(not(target_arch = "x86_64"))]
pub fn has_avx512() -> bool {
    false
}

/// Whether this CPU has AVX2 and FMA (never, off x86-64).
#[cfg(not(target_arch = "x86_64"))]
pub fn has_avx2_fma() -> bool {
    false
}

/// The widest SIMD level the kernels use on this CPU, for benchmark reports.
pub fn simd_level() -> &'static str {
    if has_avx512() {
        "avx512"
    } else if has_avx2_fma() {
        "avx2+fma"
    } else if cfg!(target_arch = "x86_64") {
        "sse2"
    } else {
        "baseline"
    }
}

/// Runs `f`, compiled for AVX2+FMA when the CPU has them (see the module docs).
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            // SAFETY: `run_avx512` is compiled with AVX-512 (F, VL, DQ, BW), AVX2 and FMA; we only
            // call it after checking at run time that this CPU supports all of them.
            return unsafe { run_avx512(f) };
        }
        if has_avx2_fma() {
            // SAFETY: `run_avx2_fma` is compiled with AVX2 and FMA enabled; we only call it after
            // checking at run time that this CPU supports both.
            return unsafe { run_avx2_fma(f) };
        }
    }
    f()
}

/// The AVX-512 copy of a closure: 16 f32 lanes per instruction.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")]
unsafe fn run_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The AVX2+FMA copy of a closure: `f` is inlined here and compiled with these features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2_fma<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Independent accumulators of the lane reductions below: one AVX-512 register of f32.
const LANES: usize = 16;

/// Folds a row with `LANES` independent accumulators, then combines them. A single running
/// accumulator would chain every step on the one before and nothing would vectorise; `LANES`
/// independent ones become one vector register. Call it inside [`vectorized`].
#[inline(always)]
pub(crate) fn fold_lanes<T: Float>(x: &[T], init: T, f: impl Fn(T, T) -> T, map: impl Fn(T) -> T) -> T {
    let mut lanes = [init; LANES];
    let chunks = x.chunks_exact(LANES);
    let mut acc = init;
    for &v in chunks.remainder() {
        acc = f(acc, map(v));
    }
    for c in chunks {
        for l in 0..LANES {
            lanes[l] = f(lanes[l], map(c[l]));
        }
    }
    lanes.into_iter().fold(acc, f)
}

/// `Σ f(u_i, v_i)` over two equally long rows, with `LANES` independent accumulators (as
/// [`fold_lanes`]).
#[inline(always)]
pub(crate) fn row_sum<T: Float>(u: &[T], v: &[T], f: impl Fn(T, T) -> T) -> T {
    let mut lanes = [T::ZERO; LANES];
    let (uc, vc) = (u.chunks_exact(LANES), v.chunks_exact(LANES));
    let mut acc = T::ZERO;
    for (&a, &b) in uc.remainder().iter().zip(vc.remainder()) {
        acc += f(a, b);
    }
    for (a, b) in uc.zip(vc) {
        for l in 0..LANES {
            lanes[l] += f(a[l], b[l]);
        }
    }
    lanes.into_iter().fold(acc, |x, y| x + y)
}

/// `Σ f(a_i, b_i, c_i)` over three equally long rows, with `LANES` independent accumulators (as
/// [`fold_lanes`]).
#[inline(always)]
pub(crate) fn row_sum3<T: Float>(a: &[T], b: &[T], c: &[T], f: impl Fn(T, T, T) -> T) -> T {
    let mut lanes = [T::ZERO; LANES];
    let (ac, bc, cc) = (a.chunks_exact(LANES), b.chunks_exact(LANES), c.chunks_exact(LANES));
    let mut acc = T::ZERO;
    for ((&x, &y), &z) in ac.remainder().iter().zip(bc.remainder()).zip(cc.remainder()) {
        acc += f(x, y, z);
    }
    for ((x, y), z) in ac.zip(bc).zip(cc) {
        for l in 0..LANES {
            lanes[l] += f(x[l], y[l], z[l]);
        }
    }
    lanes.into_iter().fold(acc, |p, q| p + q)
}
