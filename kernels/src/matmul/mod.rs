//! Matrix multiplication: `C[b] = A[b] · B[b]` for a batch of strided matrices.
//!
//! The tensor layer resolves broadcasting of batch dimensions into one offset per batch entry
//! for each operand, so this kernel never copies or transposes its inputs: a transposed operand
//! is just a matrix whose column stride is larger than its row stride.

#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "x86_64")]
pub mod avx512_rows;
mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

pub use cpu::{matmul, matmul_bias, matmul_sum, MatrixLayout};
