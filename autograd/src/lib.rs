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
//!   differences in `f64`; [`catalog`] lists every op with inputs to check it on.
//!
//! The rules live in [`ops`], one file per op family, each with its formula in the doc comment.
//!
//! # How backpropagation works here
//!
//! **The chain rule on a graph.** A computation is a graph of values; each value `y = f(x₁, …)`
//! was made by one op from its inputs. For a scalar loss `L`, write `ḡ(v) = ∂L/∂v` (same shape
//! as `v`). If `v` is used by several ops `y₁, y₂, …`, the multivariate chain rule sums over
//! its uses:
//!
//! ```text
//! ∂L/∂v = Σ_uses  (∂y_k/∂v)ᵀ · ∂L/∂y_k
//! ```
//!
//! Each term is a *vector–Jacobian product*: an op never builds its Jacobian `∂y/∂x` (for a
//! 1000×1000 matmul that would have 10¹² entries); its **backward rule** maps the incoming
//! gradient `g = ∂L/∂y` straight to `∂L/∂x = (∂y/∂x)ᵀ g`. One backward pass gives the gradient
//! with respect to every parameter at the cost of about two forward passes — that is why
//! reverse mode, not forward mode, trains networks with one loss and millions of parameters.
//!
//! **Topological order.** A rule may run only when its `g` is complete: every op that used the
//! value has sent its share. Sorting the graph so that every value comes after its inputs
//! (a depth-first post-order from the loss) and visiting it *backwards* guarantees exactly that:
//! all consumers of `v` come after `v` in the order, so they are visited before it. Each rule
//! runs once. (See the loop in [`engine`].)
//!
//! **Accumulation.** Shares of a value used twice add up. For `y = x · x` the rule of `mul`
//! sends `g · x` once for each operand, and the engine adds them: `∂y/∂x = 2x`. The same sum
//! happens across backward passes: a leaf's `.grad` is *added to*, never overwritten, so that
//! a large batch can be split into pieces whose gradients sum. That is why an optimizer calls
//! `zero_grad()` before each step; without it, every step would also reapply all the earlier
//! gradients.
//!
//! **Broadcasting.** If `x` of shape `[n]` was broadcast to `[b, n]` (a bias added to each row
//! of a batch), each row's output depends on the same `x`: it was used `b` times, and by the
//! accumulation rule its gradient is `g` summed over the rows. In general the gradient of a
//! broadcast input is `g` summed over the dimensions that were repeated; the engine does this
//! once for every op ([`engine::sum_to_shape`]), so rules are written for equal shapes.
//!
//! **The derivations the rules use** (`g = ∂L/∂y`, `·` elementwise unless said otherwise):
//! - *Elementwise* `y = f(x)`: the Jacobian is diagonal, so `∂x = g · f′(x)` — e.g.
//!   `tanh′ = 1 − y²`, `σ′ = y(1 − y)`, `exp′ = y`. Rules reuse the output `y` where it is
//!   cheaper than recomputing from `x`.
//! - *Matmul* `Y = A B`: `Y_ij = Σ_k A_ik B_kj`, so `∂L/∂A_ik = Σ_j g_ij B_kj`, i.e.
//!   `∂A = g Bᵀ`, and likewise `∂B = Aᵀ g`. The shapes check it: `[m,n]·[n,k] = [m,k]`.
//! - *Sum* over dims: every summed element gets the output's gradient, `∂x = expand(g)`;
//!   *max*: only the maximal element(s) do, `∂x = expand(g) · [x = y] / #ties`.
//! - *Softmax* `y = softmax(x)`: `∂y_i/∂x_j = y_i(δ_ij − y_j)`, so
//!   `∂x = y · (g − Σ_j g_j y_j)`; *log-softmax*: `∂x = g − softmax(x) · Σ g`.
//! - *Views* (reshape, permute, narrow, expand): the gradient is the inverse view of `g`
//!   (`permute` by the inverse permutation, `narrow` by zero padding).
//! - *Linear maps* in general (convolution, `im2col`, `gather`): the gradient is the adjoint,
//!   the map `Aᵀ` with `⟨A x, g⟩ = ⟨x, Aᵀ g⟩` — convolution's input gradient is a transposed
//!   convolution, `gather`'s is `scatter_add`.
//!
//! **Second derivatives.** Rules are written with `Var` ops, so with `create_graph` the
//! backward pass itself records a graph, and its results can be differentiated again — the
//! same engine, run on the graph of the gradient ([`functional::hessian`], [`gradgradcheck`]).
//!
//! **Memory.** A rule reads some of its op's values (the [`Saved`] of its [`OpInfo`]):
//! `mul` both inputs, `exp` its output, `add` nothing. The graph keeps them alive until backward
//! has run the rule; a plain `backward()` then frees each node's saved values as it goes, and a
//! second backward through the same graph needs `retain_graph`. Changing a saved value in place
//! before backward (an optimizer step) would make the gradient silently wrong, so every value
//! carries a version counter that the engine checks.

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
