//! `Var`: a tensor in the autograd graph.

use crate::anomaly;
use crate::hooks::GradHook;
use ferrograd_tensor::{DType, Result, Tensor};
use std::cell::{Cell, RefCell};
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A backward rule: given the op's inputs, its output and `g = ∂L/∂output`, returns `∂L/∂input`
/// for each input (`None` where an input gets no gradient). The engine sums each result back to
/// its input's shape, so a rule may return a gradient of the broadcast shape.
pub type BackwardFn = dyn Fn(&[Var], &Var, &Var) -> Result<Vec<Option<Var>>>;

/// What the graph knows about an op, for drawing it ([`Var::to_dot`]) and tracing backward
/// ([`crate::trace`]): its name, its backward rule as a formula (the one in the op's doc
/// comment), and the values that rule reads.
///
/// Written as a `&'static` literal at each op, beside the rule itself:
/// `&OpInfo { name: "mul", rule: "∂a = g · b, ∂b = g · a", saves: &[Saved::Input(1), Saved::Input(0)] }`.
#[derive(Debug)]
pub struct OpInfo {
    /// The op's name, e.g. `"matmul"`.
    pub name: &'static str,
    /// Its backward rule, with `g = ∂L/∂y` (e.g. `"∂x = g · y"` for `exp`).
    pub rule: &'static str,
    /// What the rule reads besides `g`: the values that must stay alive until backward.
    pub saves: &'static [Saved],
}

/// A value a backward rule reads (PyTorch's "saved tensors"). `add` saves nothing (its rule is
/// `∂a = ∂b = g`), `mul` saves both inputs, `exp` its output: this is the memory that training
/// keeps between the forward and the backward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    /// The op's input with this index.
    Input(usize),
    /// The op's own output `y`.
    Output,
    /// Something else the rule holds, e.g. `"idx"` for `gather` or `"cond"` for `where`.
    Extra(&'static str),
}

/// How a non-leaf value was made: the op, its inputs, and its backward rule.
pub(crate) struct GradFn {
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
    pub(crate) op: Option<&'static OpInfo>,
    /// A name for drawings and traces (`"W1"`, `"loss"`), set by [`Var::set_name`].
    pub(crate) name: RefCell<Option<String>>,
    /// Where in the source the value was made (the caller of the public op, through
    /// `#[track_caller]`): reported by anomaly detection.
    pub(crate) location: &'static Location<'static>,
    /// Hooks run on this value's gradient once it is complete ([`Var::register_hook`]).
    pub(crate) hooks: RefCell<Vec<(usize, Rc<GradHook>)>>,
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

/// Whether an op on `inputs` records a node in the graph: grad mode is on and one of them
/// requires a gradient. An op can check this before its forward pass to skip keeping what only
/// its backward pass would read.
pub fn records_graph(inputs: &[&Var]) -> bool {
    is_grad_enabled() && inputs.iter().any(|v| v.requires_grad())
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
    #[track_caller]
    fn make(value: Tensor, requires_grad: bool, op: Option<&'static OpInfo>, grad_fn: Option<GradFn>) -> Var {
        Var(Rc::new(Node {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            value: RefCell::new(value),
            requires_grad,
            op,
            name: RefCell::new(None),
            location: Location::caller(),
            hooks: RefCell::new(Vec::new()),
            grad_fn: RefCell::new(grad_fn),
            grad: RefCell::new(None),
            retains_grad: Cell::new(false),
            version: Cell::new(0),
        }))
    }

    /// A leaf. With `requires_grad`, `backward()` accumulates its gradient in `.grad`.
    #[track_caller]
    pub fn new(value: Tensor, requires_grad: bool) -> Var {
        Self::make(value, requires_grad, None, None)
    }

    /// A leaf that requires a gradient (a parameter or an input you differentiate by).
    #[track_caller]
    pub fn parameter(value: Tensor) -> Var {
        Self::new(value, true)
    }

    /// A leaf that needs no gradient.
    #[track_caller]
    pub fn constant(value: Tensor) -> Var {
        Self::new(value, false)
    }

    /// The result of an op: how every differentiable op, ours or yours, enters the graph
    /// (as `torch.autograd.Function`). `value` is the op's output, computed on tensors;
    /// `backward(inputs, output, g)` returns `∂L/∂input` for each input, given `g = ∂L/∂output`,
    /// written with `Var` ops so that it can itself be differentiated.
    ///
    /// Records `backward` (and keeps the inputs alive) only when grad mode is on and some input
    /// requires a gradient; otherwise the result is a constant. In anomaly mode
    /// ([`crate::detect_anomaly`]) an output with a NaN or an infinity is an error that names
    /// this op and the caller's source line.
    #[track_caller]
    pub fn from_op(
        op: &'static OpInfo,
        value: Tensor,
        inputs: &[&Var],
        backward: impl Fn(&[Var], &Var, &Var) -> Result<Vec<Option<Var>>> + 'static,
    ) -> Result<Var> {
        if anomaly::is_enabled() {
            anomaly::check_forward(op, &value, Location::caller())?;
        }
        if !records_graph(inputs) {
            return Ok(Self::constant(value));
        }
        let input_versions = inputs.iter().map(|v| v.0.version.get()).collect();
        let inputs = inputs.iter().map(|&v| v.clone()).collect();
        Ok(Self::make(value, true, Some(op), Some(GradFn { inputs, input_versions, backward: Box::new(backward) })))
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
        self.0.op.map(|op| op.name)
    }

    /// The op that made this value, with its rule (`None` for leaves).
    pub fn op_info(&self) -> Option<&'static OpInfo> {
        self.0.op
    }

    /// Names this value in drawings and traces (`"W1"`, `"loss"`).
    pub fn set_name(&self, name: impl Into<String>) {
        *self.0.name.borrow_mut() = Some(name.into());
    }

    /// This value, named (builder style): `Var::parameter(w).named("W1")`.
    pub fn named(self, name: impl Into<String>) -> Var {
        self.set_name(name);
        self
    }

    /// The name given by [`Var::set_name`], if any.
    pub fn name(&self) -> Option<String> {
        self.0.name.borrow().clone()
    }

    /// Where in the source this value was made: the line that called the public op (or
    /// `Var::parameter`, …) that created it.
    pub fn location(&self) -> &'static Location<'static> {
        self.0.location
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

    /// Replaces the accumulated gradient (what gradient clipping does); it must have this value's
    /// shape and dtype.
    pub fn set_grad(&self, grad: Tensor) -> Result<()> {
        let v = self.0.value.borrow();
        if grad.shape() != v.shape() || grad.dtype() != v.dtype() {
            return Err(ferrograd_tensor::Error::shape(
                "set_grad",
                &[v.shape(), grad.shape()],
                "the gradient must have the value's shape and dtype",
            ));
        }
        *self.0.grad.borrow_mut() = Some(Var::constant(grad));
        Ok(())
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
    #[track_caller]
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
