//! The backward pass: one topological sort, one reverse loop.
//!
//! ```text
//! order  = topological order of the graph under the roots (inputs before outputs)
//! grads  = { root: seed }
//! for v in reverse(order):
//!     g = hooks(v, grads.pop(v))               # complete: every consumer of v came later
//!     if v is a leaf: v.grad += g; continue
//!     for (x, gx) in zip(v.inputs, v.rule(v.inputs, v, g)):
//!         grads[x] += sum_to_shape(gx, x.shape)   # undo broadcasting, in this one place
//! ```
//!
//! With `create_graph` the loop runs with grad mode on, so every gradient is a `Var` with its own
//! graph (double backward); otherwise it runs under `no_grad` and gradients are constants.

use crate::trace::Recorder;
use crate::var::NoGradGuard;
use crate::{anomaly, hooks, Var};
use ferrograd_tensor::{Error, Result, Tensor};
use std::collections::{HashMap, HashSet};

impl Var {
    /// Backpropagates from this scalar: accumulates `∂self/∂x` into `.grad` of every leaf `x` that
    /// requires a gradient (see [`Var`] for accumulation rules).
    pub fn backward(&self) -> Result<()> {
        if self.shape().iter().product::<usize>() != 1 {
            return Err(Error::shape(
                "backward",
                &[&self.shape()],
                "backward() needs a one-element output; use backward_with(grad) otherwise",
            ));
        }
        let seed = self.value().ones_like();
        self.backward_with(&seed, false, false)
    }

    /// Backpropagates `grad = ∂L/∂self` (same shape as `self`). With `create_graph`, the
    /// gradients stored in `.grad` have a graph of their own and can be differentiated again.
    /// With `retain_graph` (implied by `create_graph`), the graph is kept for another pass;
    /// otherwise each op's saved inputs are freed once its rule has run.
    pub fn backward_with(&self, grad: &Tensor, create_graph: bool, retain_graph: bool) -> Result<()> {
        check_seed(self, grad.shape())?;
        require_grad(self)?;
        let retain = retain_graph || create_graph;
        run(vec![(self.clone(), Var::constant(grad.clone()))], create_graph, retain, None).map(|_| ())
    }
}

/// `∂(Σ_k ⟨grad_outputs[k], outputs[k]⟩) / ∂inputs[i]` for each input, without touching any
/// `.grad` (as `torch.autograd.grad`). `None` for an input the outputs do not depend on. With
/// `create_graph`, the results can be differentiated again; `grad_outputs` may then themselves
/// require gradients. The graph is always retained, so `grad` may be called on it repeatedly.
pub fn grad(outputs: &[&Var], inputs: &[&Var], grad_outputs: &[&Var], create_graph: bool) -> Result<Vec<Option<Var>>> {
    if outputs.len() != grad_outputs.len() {
        return Err(Error::invalid(
            "grad",
            format!("{} outputs but {} grad_outputs", outputs.len(), grad_outputs.len()),
        ));
    }
    for (o, g) in outputs.iter().zip(grad_outputs) {
        check_seed(o, &g.shape())?;
        require_grad(o)?;
    }
    let roots = outputs.iter().map(|&o| o.clone()).zip(grad_outputs.iter().map(|&g| g.clone())).collect();
    let inputs: Vec<Var> = inputs.iter().map(|&x| x.clone()).collect();
    let captured = run(roots, create_graph, true, Some(&inputs))?;
    Ok(inputs.iter().map(|x| captured.get(&x.id()).cloned()).collect())
}

/// An output that does not require a gradient has no graph: backpropagating from it would
/// silently do nothing (e.g. parameters made with `Var::constant` by mistake never train).
fn require_grad(output: &Var) -> Result<()> {
    if output.requires_grad() {
        Ok(())
    } else {
        Err(Error::invalid(
            "backward",
            "the output does not require a gradient (no input of its graph requires one, or it was computed under no_grad)",
        ))
    }
}

fn check_seed(output: &Var, grad_shape: &[usize]) -> Result<()> {
    if output.shape() != grad_shape {
        return Err(Error::shape(
            "backward",
            &[&output.shape(), grad_shape],
            "gradient shape differs from the output's",
        ));
    }
    Ok(())
}

/// Sums a gradient back to the shape of the input it belongs to, undoing NumPy broadcasting:
/// sum over the extra leading dimensions, and over every dimension where the input had size 1.
/// Written with `Var` ops, so it is differentiable too (its backward is an `expand`).
pub fn sum_to_shape(g: &Var, shape: &[usize]) -> Result<Var> {
    let gs = g.shape();
    if gs == shape {
        return Ok(g.clone());
    }
    if gs.len() < shape.len() {
        return Err(Error::shape("sum_to_shape", &[&gs, shape], "gradient has fewer dimensions than its input"));
    }
    let lead = gs.len() - shape.len();
    let dims: Vec<usize> = (0..gs.len()).filter(|&d| d < lead || (shape[d - lead] == 1 && gs[d] != 1)).collect();
    g.sum(dims, true)?.reshape(shape)
}

/// The nodes under `roots` that take part in backward, inputs before outputs. Iterative, so a
/// graph thousands of ops deep (an unrolled RNN) cannot overflow the stack.
fn topological_order(roots: &[Var]) -> Vec<Var> {
    let mut order = Vec::new();
    let mut visited = HashSet::new();
    for root in roots {
        if !root.requires_grad() || !visited.insert(root.id()) {
            continue;
        }
        // Each stack entry: a node and how many of its inputs have been pushed.
        let mut stack: Vec<(Var, usize)> = vec![(root.clone(), 0)];
        while let Some((node, next)) = stack.pop() {
            let child = node.0.grad_fn.borrow().as_ref().and_then(|g| g.inputs.get(next).cloned());
            if let Some(child) = child {
                stack.push((node, next + 1));
                if child.requires_grad() && visited.insert(child.id()) {
                    stack.push((child, 0));
                }
            } else {
                order.push(node);
            }
        }
    }
    order
}

/// Adds `g` into an optional accumulated gradient.
fn accumulate(slot: Option<Var>, g: Var) -> Result<Var> {
    match slot {
        None => Ok(g),
        Some(prev) => prev.add(&g),
    }
}

/// The reverse loop. In capture mode (`grad()`), returns the gradients of `capture`'s nodes and
/// leaves every `.grad` alone; otherwise accumulates into leaves and retained intermediates.
/// Unless `retain`, each node's rule and saved inputs are freed right after the rule has run.
fn run(
    roots: Vec<(Var, Var)>,
    create_graph: bool,
    retain: bool,
    capture: Option<&[Var]>,
) -> Result<HashMap<usize, Var>> {
    let _mode = NoGradGuard::set(create_graph);
    let wanted: HashSet<usize> = capture.unwrap_or(&[]).iter().map(Var::id).collect();
    let order = topological_order(&roots.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>());
    let mut grads: HashMap<usize, Var> = HashMap::new();
    for (v, g) in roots {
        if v.requires_grad() {
            let prev = grads.remove(&v.id());
            grads.insert(v.id(), accumulate(prev, g)?);
        }
    }
    let mut captured = HashMap::new();
    let mut trace = Recorder::start(&order);
    let check_anomalies = anomaly::is_enabled();
    for node in order.iter().rev() {
        let Some(g) = grads.remove(&node.id()) else { continue };
        // `g` is complete: every consumer of `node` came later in the order and has been run.
        let g = hooks::run(node, g)?;
        if let Some(t) = trace.as_mut() {
            t.visit(node, &g);
        }
        if wanted.contains(&node.id()) {
            captured.insert(node.id(), g.clone());
        }
        let store = capture.is_none() && (node.is_leaf() || node.0.retains_grad.get());
        if store {
            let prev = node.0.grad.borrow_mut().take();
            if let Some(t) = trace.as_mut() {
                t.stored(prev.is_some());
            }
            let total = accumulate(prev, g.clone())?;
            *node.0.grad.borrow_mut() = Some(if create_graph { total } else { total.detach() });
        }
        let Some(op) = node.op_name() else { continue };
        let grad_fn = if retain { None } else { node.0.grad_fn.borrow_mut().take() };
        let kept = node.0.grad_fn.borrow();
        let Some(grad_fn) = grad_fn.as_ref().or(kept.as_ref()) else {
            return Err(Error::invalid(
                op,
                "backward through a graph that a previous backward() already freed (pass retain_graph = true to the first)",
            ));
        };
        if grad_fn.inputs.iter().zip(&grad_fn.input_versions).any(|(x, &v)| x.0.version.get() != v) {
            return Err(Error::invalid(
                op,
                "an input of this op was modified in place (set_value, update_value or an optimizer step) after the forward pass; its gradient would be wrong",
            ));
        }
        let input_grads = {
            let _rule = check_anomalies.then(anomaly::RuleGuard::enter);
            (grad_fn.backward)(&grad_fn.inputs, node, &g)?
        };
        if input_grads.len() != grad_fn.inputs.len() {
            return Err(Error::invalid(op, "backward rule returned the wrong number of gradients"));
        }
        for (i, (x, gx)) in grad_fn.inputs.iter().zip(input_grads).enumerate() {
            let Some(gx) = gx else { continue };
            if !x.requires_grad() {
                continue;
            }
            if check_anomalies {
                anomaly::check_backward(node, i, &gx)?;
            }
            let raw_shape = trace.is_some().then(|| gx.shape()); // only the trace reports it
            let gx = sum_to_shape(&gx, &x.shape())?;
            let prev = grads.remove(&x.id());
            let first = prev.is_none();
            let total = accumulate(prev, gx.clone())?;
            if let Some(t) = trace.as_mut() {
                t.send(i, x, raw_shape.as_deref().unwrap_or_default(), &gx, (!first).then_some(&total));
            }
            grads.insert(x.id(), total);
        }
    }
    if let Some(t) = trace {
        t.finish();
    }
    Ok(captured)
}
