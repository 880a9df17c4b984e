//! Differentiable ops on [`crate::Var`], one file per op family (the same names as in
//! `ferrograd-tensor` and `ferrograd-kernels`). Each op's backward rule sits beside its forward,
//! with the formula in the doc comment; `g` is `∂L/∂output`.
//!
//! Ops that are compositions of others (`mean`, `var`, `logsumexp`, `stack`, `flatten`, …) have
//! no rule of their own: their gradient is the composition of their parts' rules.

mod attention;
mod conv;
mod elementwise;
mod index;
mod matmul;
mod norm;
mod pool;
mod recurrent;
mod reduce;
mod softmax;
mod view;

pub use attention::{causal_mask, padding_mask};
pub use conv::UNFOLD_MAX_BYTES;
