//! # ferrograd-kernels
//!
//! Raw compute on buffers. Nothing here knows what a tensor or a graph is: every function takes
//! slices, sizes and strides, and writes its result into a slice it is given.
//!
//! One folder per op family, named the same as in `ferrograd-tensor` and `ferrograd-autograd`
//! (`matmul`, `elementwise`, `reduce`, `softmax`, `attention`, `conv`, `norm`, `recurrent`, `copy`,
//! `index`, `optim`), so that an op can be followed from API to kernel to backward rule. Each family's `cpu.rs` holds its CPU kernel; the
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

pub mod attention;
pub mod conv;
pub mod copy;
pub mod elementwise;
pub mod float;
pub mod index;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod parallel;
pub mod pool;
pub mod recurrent;
pub mod reduce;
pub mod simd;
pub mod softmax;

#[cfg(feature = "cuda")]
pub mod cuda;

pub use float::Float;

use std::mem::MaybeUninit;

/// An output element a kernel writes: an initialised `T`, or a `MaybeUninit<T>` in a buffer
/// the caller has not initialised.
///
/// Out-of-place ops allocate their result and overwrite every element. Zero-filling the buffer
/// first is pure overhead (it was 14–20% of `exp` and `add` on 4M floats), so the kernels that
/// *provably write every output element* (`unary`, `binary`, `select`, `copy_strided`) accept
/// `&mut [MaybeUninit<T>]` as well as `&mut [T]`; the caller then marks the buffer initialised.
///
/// The trait is sealed: its only implementations are `T` and `MaybeUninit<T>`, both with `T`'s
/// layout, which lets `matmul` hand the buffer to `matrixmultiply` as a `*mut T`.
pub trait Slot<T>: Send + sealed::Sealed<T> {
    /// Stores `v` in this slot.
    fn set(&mut self, v: T);
}

mod sealed {
    /// Prevents implementations of `Slot` outside this crate.
    pub trait Sealed<T> {}
    impl<T> Sealed<T> for T {}
    impl<T> Sealed<T> for std::mem::MaybeUninit<T> {}
}

impl<T: Send> Slot<T> for T {
    #[inline(always)]
    fn set(&mut self, v: T) {
        *self = v;
    }
}

impl<T: Send> Slot<T> for MaybeUninit<T> {
    #[inline(always)]
    fn set(&mut self, v: T) {
        self.write(v);
    }
}
