//! `Var`: a tensor in the autograd graph.

use ferrograd_tensor::{DType, Result, Tensor};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A backward rule: given the op's inputs, its output and `g = ∂L/∂output`, returns `∂L/∂input`
/// for each input (`None` where an input gets no gradient). The engine sums each result back to
/// its input's shape, so a rule may return a gradient of the broadcast shape.
pub(crate) type BackwardFn = dyn Fn(&[Var], &Var, &Var) -> Result<Vec<Option<Var>>>;

/// How a non-leaf value was made: the op's name, its inputs, and its backward rule.
pub(crate) struct GradFn {
    pub(crate) op: &'static str,
    pub(crate) inputs: Vec<Var>,
    /// Each input's version when the op ran (see [`Node::version`]).
    pub(crate) input_versions: Vec<u64>,
    pub(crate) backward: Box<BackwardFn>,
}

pub(crate) struct Node {
    pub(crate) id: usize,
    /// The value. A `RefCell` so that optimizers can update a parameter in place.
    pub(crate) value: RefCell<Tensor>,
    pub(crate) requires_grad: bool,
    /// The op that made this value; `None` for leaves (inputs, parameters, constants).
    pub(crate) op: Option<&'static str>,
    /// How to backpropagate through the op. Taken (freed, with the inputs it keeps alive) by a
    /// backward pass that does not retain the graph, as in PyTorch.
    pub(crate) grad_fn: RefCell<Option<GradFn>>,
    /// The accumulated gradient (leaves, and intermediates that retain theirs).
    pub(crate) grad: RefCell<Option<Var>>,
    pub(crate) retains_grad: Cell<bool>,
    /// Bumped by every in-place change of the value (`set_value`, `update_value`, an optimizer
    /// step). Backward rules read their inputs' *current* values, so the engine refuses to run
    /// a rule whose inputs changed since the forward pass: the gradient would be silently
    /// wrong (PyTorch raises the same error).
    pub(crate) version: Cell<u64>,
}

impl Drop for Node {
    /// Frees the graph below this node iteratively. The default recursive drop would recurse
    /// once per op along a chain, and overflow the stack for graphs tens of thousands of ops
    /// deep (an unrolled RNN over a long sequence).
    fn drop(&mut self) {
        let Some(grad_fn) = self.grad_fn.get_mut().take() else { return };
        let mut stack = grad_fn.inputs;
        while let Some(var) = stack.pop() {
            // Only a node we hold the last reference to is freed here; we first detach its
            // inputs so that its own drop has nothing to recurse into.
            if let Ok(mut node) = Rc::try_unwrap(var.0) {
                if let Some(g) = node.grad_fn.get_mut().take() {
                    stack.extend(g.inputs);
                }
            }
        }
    }
}

/// A value in the autograd graph: a [`Tensor`] plus how it was computed.
///
/// Cloning a `Var` is cheap and gives another handle to the same node (same value, same `.grad`).
///
/// **Gradient semantics** (as PyTorch's):
/// - `backward()` *adds* into `.grad` of every leaf that requires a gradient; call
///   [`Var::zero_grad`] (or an optimizer's `zero_grad`) between steps.
/// - Intermediate values do not keep their gradient unless [`Var::retain_grad`] was called.
/// - Inside [`no_grad`] nothing is recorded: results are constants.
/// - `backward()` frees the graph as it goes (each op's saved inputs are released once its
///   rule has run), so memory is returned early and parameters are no longer shared with the
///   graph when the optimizer updates them. Backpropagating through the same graph twice needs
///   `backward_with(.., retain_graph = true)` the first time; otherwise the second pass is an
///   error. [`crate::grad`] never frees the graph.
/// - [`Var::detach`] gives a constant sharing the same data.
#[derive(Clone)]
pub struct Var(pub(crate) Rc<Node>);

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops currently record the graph (false inside [`no_grad`]).
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Restores the previous grad mode when dropped. Made by [`NoGradGuard::new`].
pub struct NoGradGuard {
    previous: bool,
}

impl NoGradGuard {
    /// Disables recording until the guard is dropped.
    pub fn new() -> Self {
        Self::set(false)
    }

    pub(crate) fn set(enabled: bool) -> Self {
        let previous = GRAD_ENABLED.with(|g| g.replace(enabled));
        NoGradGuard { previous }
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// Runs `f` without recording the graph (evaluation, optimizer updates).
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = NoGradGuard::new();
    f()
}

impl Var {
    fn make(value: Tensor, requires_grad: bool, grad_fn: Option<GradFn>) -> Var {
        Var(Rc::new(Node {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            value: RefCell::new(value),
            requires_grad,
            op: grad_fn.as_ref().map(|g| g.op),
            grad_fn: RefCell::new(grad_fn),
            grad: RefCell::new(None),
            retains_grad: Cell::new(false),
            version: Cell::new(0),
        }))
    }

    /// A leaf. With `requires_grad`, `backward()` accumulates its gradient in `.grad`.
    pub fn new(value: Tensor, requires_grad: bool) -> Var {
        Self::make(value, requires_grad, None)
    }

    /// A leaf that requires a gradient (a parameter or an input you differentiate by).
    pub fn parameter(value: Tensor) -> Var {
        Self::new(value, true)
    }

    /// A leaf that needs no gradient.
    pub fn constant(value: Tensor) -> Var {
        Self::new(value, false)
    }

    /// The result of an op. Records `backward` (and keeps the inputs alive) only when grad mode is
    /// on and some input requires a gradient; otherwise the result is a constant.
    pub(crate) fn from_op(
        op: &'static str,
        value: Tensor,
        inputs: &[&Var],
        backward: impl Fn(&[Var], &Var, &Var) -> Result<Vec<Option<Var>>> + 'static,
    ) -> Var {
        if !is_grad_enabled() || !inputs.iter().any(|v| v.requires_grad()) {
            return Self::constant(value);
        }
        let input_versions = inputs.iter().map(|v| v.0.version.get()).collect();
        let inputs = inputs.iter().map(|&v| v.clone()).collect();
        Self::make(value, true, Some(GradFn { op, inputs, input_versions, backward: Box::new(backward) }))
    }

    /// A unique id for this node (stable for its lifetime).
    pub fn id(&self) -> usize {
        self.0.id
    }

    /// The value (a cheap clone sharing the data).
    pub fn value(&self) -> Tensor {
        self.0.value.borrow().clone()
    }

    /// Replaces a leaf's value (an optimizer step). The shape must stay the same.
    pub fn set_value(&self, value: Tensor) -> Result<()> {
        let shape = self.shape();
        if value.shape() != shape.as_slice() {
            return Err(ferrograd_tensor::Error::shape("set_value", &[&shape, value.shape()], "shape changed"));
        }
        *self.0.value.borrow_mut() = value;
        self.0.version.set(self.0.version.get() + 1);
        Ok(())
    }

    /// Runs `f` on the value mutably (in place, copy-on-write if the data is shared).
    pub fn update_value<R>(&self, f: impl FnOnce(&mut Tensor) -> R) -> R {
        self.0.version.set(self.0.version.get() + 1);
        f(&mut self.0.value.borrow_mut())
    }

    /// The value's shape.
    pub fn shape(&self) -> Vec<usize> {
        self.0.value.borrow().shape().to_vec()
    }

    /// The value's dtype.
    pub fn dtype(&self) -> DType {
        self.0.value.borrow().dtype()
    }

    /// Whether gradients flow to this value.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }

    /// Whether this is a leaf (made directly, not by an op).
    pub fn is_leaf(&self) -> bool {
        self.0.op.is_none()
    }

    /// The name of the op that made this value (`None` for leaves).
    pub fn op_name(&self) -> Option<&'static str> {
        self.0.op
    }

    /// The inputs of the op that made this value (empty for leaves, and once a backward pass
    /// has freed the graph).
    pub fn inputs(&self) -> Vec<Var> {
        self.0.grad_fn.borrow().as_ref().map(|g| g.inputs.clone()).unwrap_or_default()
    }

    /// The accumulated gradient `∂L/∂self`, if any.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.borrow().as_ref().map(|g| g.value())
    }

    /// The accumulated gradient as a `Var` (with a graph if it was made with `create_graph`).
    pub fn grad_var(&self) -> Option<Var> {
        self.0.grad.borrow().clone()
    }

    /// Clears the accumulated gradient.
    pub fn zero_grad(&self) {
        *self.0.grad.borrow_mut() = None;
    }

    /// Keeps this intermediate value's gradient in `.grad` during `backward()`.
    pub fn retain_grad(&self) {
        self.0.retains_grad.set(true);
    }

    /// A constant leaf sharing this value's data: gradients stop here.
    pub fn detach(&self) -> Var {
        Self::constant(self.value())
    }
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Var(id={}, op={:?}, requires_grad={}, value={})",
            self.id(),
            self.op_name(),
            self.requires_grad(),
            self.value()
        )
    }
}
