//! # ferrograd
//!
//! A from-scratch tensor engine with reverse-mode autograd and hand-written kernels.
//!
//! This crate re-exports the four layers, from the bottom up:
//! - [`kernels`]: raw compute on buffers (SIMD + rayon CPU kernels);
//! - [`tensor`]: the [`Tensor`] type, views, broadcasting, every op;
//! - [`autograd`]: [`Var`], the backward pass, `grad`, `gradcheck`;
//! - [`models`]: layers, losses, optimizers, data loading.
//!
//! ```
//! use ferrograd::{Tensor, Var};
//! let x = Var::parameter(Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]).unwrap());
//! let y = x.mul(&x).unwrap().sum_all().unwrap(); // y = Σ x²
//! y.backward().unwrap();
//! assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![2.0, 4.0, 6.0]); // ∂y/∂x = 2x
//! ```

#![warn(missing_docs)]

pub use ferrograd_autograd as autograd;
pub use ferrograd_kernels as kernels;
pub use ferrograd_models as models;
pub use ferrograd_tensor as tensor;

pub use ferrograd_autograd::{grad, gradcheck, gradgradcheck, no_grad, Var};
pub use ferrograd_models::Module;
pub use ferrograd_tensor::{
    matmul_precision, set_matmul_precision, DType, Device, Error, MatmulPrecision, Result, Rng, Tensor,
};

/// The README's code blocks, compiled and run as doctests so that they cannot go stale.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
