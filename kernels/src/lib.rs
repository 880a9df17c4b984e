//! # ferrograd-kernels
//!
//! Raw compute on buffers. Nothing here knows what a tensor or a graph is: every function takes
//! slices, sizes and strides, and writes its result into a slice it is given.
//!
//! One folder per op family, named the same as in `ferrograd-tensor` and `ferrograd-autograd`
//! (`matmul`, `elementwise`, `reduce`, `softmax`, `copy`, `index`, `optim`), so that an op can be
//! followed from API to kernel to backward rule. Each family's `cpu.rs` holds its CPU kernel; the
//! CUDA twin (`<family>.cu` + `cuda.rs`) sits beside it when the CUDA backend lands.
//!
//! ## How the CPU kernels are made fast
//! - **SIMD chosen at run time.** Hot loops are plain, branch-free Rust written so LLVM can
//!   vectorise them, and are compiled twice: once for baseline x86-64 (SSE2) and once inside a
//!   function with `#[target_feature(enable = "avx2,fma")]`. [`simd::vectorized`] picks the AVX2
//!   copy when the CPU has it, so a release build runs on any x86-64 and is fast on a modern one.
//! - **Threads above a threshold.** Work is split into chunks with rayon only when it is large
//!   enough to pay for the hand-off ([`parallel::PAR_MIN_ELEMS`]).
//! - **Matmul through `matrixmultiply`**, which packs panels and runs a register-blocked
//!   micro-kernel; we call it on strided operands (no transposing copies) and split the work over
//!   rayon by batch and by blocks of rows.

#![warn(missing_docs)]

pub mod copy;
pub mod elementwise;
pub mod float;
pub mod index;
pub mod matmul;
pub mod optim;
pub mod parallel;
pub mod reduce;
pub mod simd;
pub mod softmax;

#[cfg(feature = "cuda")]
pub mod cuda;

pub use float::Float;
