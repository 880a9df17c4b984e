//! # ferrograd-autograd
//!
//! Reverse-mode automatic differentiation on top of `ferrograd-tensor`.
//!
//! - A [`Var`] wraps a [`Tensor`] and, when it was computed from values that need gradients,
//!   remembers the op that made it and that op's inputs: the graph is built as you compute.
//! - [`Var::backward`] sorts the graph topologically ([`engine`]) and applies each op's backward
//!   rule once, in reverse order, accumulating `∂L/∂x` into the `.grad` of the leaves.
//! - Every backward rule is written with differentiable `Var` ops, so with `create_graph` the
//!   gradients are themselves `Var`s with a graph and can be differentiated again: Hessian-vector
//!   products, gradient penalties ([`grad`]).
//! - Gradients of broadcast inputs are summed back to the input's shape in one place, the engine
//!   ([`engine::sum_to_shape`]), not in every rule.
//! - [`Var::to_dot`] draws the graph of any value (Graphviz DOT, SVG with `dot` installed),
//!   with gradient norms once they are computed ([`graph`]).
//! - [`trace_backward`] records the backward pass step by step: each op, its rule, the gradient
//!   it received and what it sent to each input ([`trace`]).
//! - [`Var::register_hook`] runs code on a value's gradient during backward ([`hooks`]);
//!   [`detect_anomaly`] finds the first op whose output or gradient is NaN or infinite
//!   ([`anomaly`]).
//! - [`functional`] gives Jacobians, Hessians and Hessian–vector products of whole functions,
//!   built on [`grad`] and double backward.
//! - [`gradcheck()`] and [`gradgradcheck()`] compare the analytic gradients with central finite
//!   differences in `f64`.
//!
//! The rules live in [`ops`], one file per op family, each with its formula in the doc comment.

#![warn(missing_docs)]

pub mod anomaly;
pub mod catalog;
pub mod engine;
pub mod functional;
pub mod gradcheck;
pub mod graph;
pub mod hooks;
pub mod ops;
pub mod trace;
mod var;

pub use anomaly::{detect_anomaly, set_detect_anomaly};
pub use engine::grad;
pub use ferrograd_tensor::{DType, Device, Error, Result, Rng, Tensor, Window};
pub use gradcheck::{compare_gradient, gradcheck, gradgradcheck, GradComparison, GradcheckOptions, GradcheckReport};
pub use graph::DotOptions;
pub use hooks::HookHandle;
pub use trace::{trace_backward, BackwardTrace};
pub use var::{is_grad_enabled, no_grad, BackwardFn, NoGradGuard, OpInfo, Saved, Var};
