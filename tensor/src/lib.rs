//! # ferrograd-tensor
//!
//! The [`Tensor`] type: an N-dimensional, strided view of a reference-counted buffer that lives
//! on a [`Device`]. Views (`reshape`, `permute`, `narrow`, `expand`, …) share the buffer and copy
//! nothing; `contiguous()` copies only when needed. Every op checks its arguments, returns a typed
//! [`Error`] naming the op and the shapes involved, and then calls a kernel from
//! `ferrograd-kernels`. There are no gradients here: that is `ferrograd-autograd`'s job.
//!
//! Ops live in [`ops`], one file per family, named as in the kernels and autograd crates.

#![warn(missing_docs)]

#[cfg(feature = "cuda")]
mod cuda;
mod device;
mod display;
mod dtype;
mod error;
pub mod ops;
pub mod pool;
mod random;
mod shape;
mod storage;
mod tensor;

pub use device::Device;
pub use dtype::{DType, Element, FloatElement};
pub use error::{Error, Result};
pub use ferrograd_kernels::elementwise::{BinaryOp, UnaryOp};
pub use ferrograd_kernels::matmul::{matmul_precision, set_matmul_precision, MatmulPrecision};
pub use ops::{
    check_layer_norm_shapes, AttentionGrads, AttentionOutput, BatchNormGrads, BatchNormOutput, LayerNormGrads,
    LayerNormOutput, RecurrentGrads, Window,
};
pub use random::Rng;
pub use shape::{broadcast_shapes, checked_numel, Dim, Dims};
pub use tensor::Tensor;
