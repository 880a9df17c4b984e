//! Matrix multiplication: `C[b] = A[b] · B[b]` for a batch of strided matrices.
//!
//! The tensor layer resolves broadcasting of batch dimensions into one offset per batch entry
//! for each operand, so a transposed operand is just a matrix whose column stride is larger than
//! its row stride; the micro-kernels' packing (or, for small products, `avx512_rows`' copy of a
//! transposed B) lays it out as they need.

#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "x86_64")]
pub mod avx512_bf16;
#[cfg(target_arch = "x86_64")]
pub mod avx512_rows;
#[cfg(target_arch = "x86_64")]
pub mod avx512_rows_bf16;
mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

mod precision;

pub use cpu::{matmul, matmul_bias, matmul_sum, MatrixLayout};
pub use precision::{matmul_precision, set_matmul_precision, MatmulPrecision};
