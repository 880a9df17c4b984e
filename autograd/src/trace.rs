//! A trace of the backward pass, step by step, as it runs.
//!
//! Inside [`trace_backward`], every `backward()` (and [`crate::grad`]) records, for each value
//! in the order the engine visits it (outputs before inputs):
//! - the value and the op that made it, with the op's rule (the formula from its doc comment);
//! - the incoming gradient `g = ∂L/∂value`: its shape and norm, complete at this point because
//!   every consumer of the value was visited before it;
//! - for a leaf, whether `g` starts its `.grad` or is added to a gradient already there;
//! - for an op, what the rule sends to each input — shape and norm, the shape it was summed
//!   from when the input was broadcast, and whether the input already holds a gradient from
//!   another consumer (a value used twice: the two contributions add up).
//!
//! The trace prints as text (`Display`) and exports as JSON ([`BackwardTrace::to_json`]).
//!
//! ```
//! use ferrograd_autograd::{trace_backward, Tensor, Var};
//! let x = Var::parameter(Tensor::from_vec(vec![1.0f64, 2.0], &[2]).unwrap()).named("x");
//! let y = x.mul(&x).unwrap().sum_all().unwrap().named("y");
//! let (result, trace) = trace_backward(|| y.backward());
//! result.unwrap();
//! println!("{trace}");
//! assert_eq!(trace.steps.len(), 3); // y = sum(%1), %1 = x · x, then x itself
//! ```

use crate::Var;
use serde_json::json;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

thread_local! {
    static RECORDING: RefCell<Option<Vec<TraceStep>>> = const { RefCell::new(None) };
}

/// Runs `f` and returns, beside its result, the trace of every backward pass it ran.
pub fn trace_backward<R>(f: impl FnOnce() -> R) -> (R, BackwardTrace) {
    struct Restore(Option<Vec<TraceStep>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            RECORDING.with(|r| *r.borrow_mut() = self.0.take());
        }
    }
    let mut restore = Restore(RECORDING.with(|r| r.borrow_mut().replace(Vec::new())));
    let result = f();
    let steps = RECORDING.with(|r| std::mem::replace(&mut *r.borrow_mut(), restore.0.take())).unwrap_or_default();
    (result, BackwardTrace { steps })
}

/// Every step of the backward passes run inside [`trace_backward`].
#[derive(Clone, Debug, Default)]
pub struct BackwardTrace {
    /// The steps, in the order the engine ran them.
    pub steps: Vec<TraceStep>,
}

/// A gradient's shape and Euclidean norm.
#[derive(Clone, Debug, PartialEq)]
pub struct GradSummary {
    /// Its shape.
    pub shape: Vec<usize>,
    /// `‖g‖₂`.
    pub norm: f64,
}

/// One value visited by the engine.
#[derive(Clone, Debug)]
pub struct TraceStep {
    /// The value: its name ([`Var::set_name`]) or `%k`, numbering the values of the graph in
    /// the order they were created.
    pub value: String,
    /// The op that made it, or `"parameter"` for a leaf.
    pub op: String,
    /// The op's backward rule (`None` for a leaf).
    pub rule: Option<&'static str>,
    /// The value's shape.
    pub shape: Vec<usize>,
    /// The complete gradient `∂L/∂value` (after any hooks).
    pub grad: GradSummary,
    /// For a leaf or a value that retains its gradient: `Some(true)` if `g` was added to a
    /// `.grad` already there, `Some(false)` if it started it; `None` if nothing was stored.
    pub stored: Option<bool>,
    /// What the rule sent to each input that requires a gradient.
    pub sends: Vec<TraceSend>,
}

/// A gradient sent by a rule to one input.
#[derive(Clone, Debug)]
pub struct TraceSend {
    /// The input's position among the op's inputs.
    pub input: usize,
    /// The input's label (as [`TraceStep::value`]).
    pub to: String,
    /// What the input gets, in its own shape.
    pub grad: GradSummary,
    /// The broadcast shape the rule's result had before it was summed down to the input's.
    pub summed_from: Option<Vec<usize>>,
    /// `Some(norm)` if the input already had a gradient from another consumer: the norm of the
    /// running total after this one is added.
    pub accumulated: Option<f64>,
}

/// A gradient's norm for the trace (NaN if it cannot be read).
fn norm(v: &Var) -> f64 {
    v.value().l2_norm().unwrap_or(f64::NAN)
}

fn summary(v: &Var) -> GradSummary {
    GradSummary { shape: v.shape(), norm: norm(v) }
}

/// Records one backward pass; created by the engine only inside [`trace_backward`].
pub(crate) struct Recorder {
    labels: HashMap<usize, String>,
    steps: Vec<TraceStep>,
}

impl Recorder {
    /// A recorder for a pass over `order` (the engine's topological order), or `None` when no
    /// trace is being recorded.
    pub(crate) fn start(order: &[Var]) -> Option<Recorder> {
        if !RECORDING.with(|r| r.borrow().is_some()) {
            return None;
        }
        let mut ids: Vec<&Var> = order.iter().collect();
        ids.sort_by_key(|v| v.id());
        let labels =
            ids.iter().enumerate().map(|(k, v)| (v.id(), v.name().unwrap_or_else(|| format!("%{k}")))).collect();
        Some(Recorder { labels, steps: Vec::new() })
    }

    fn label(&self, v: &Var) -> String {
        self.labels.get(&v.id()).cloned().unwrap_or_else(|| v.name().unwrap_or_else(|| "?".into()))
    }

    /// The engine reached `node` with its complete gradient `g`.
    pub(crate) fn visit(&mut self, node: &Var, g: &Var) {
        let op = node.op_info();
        self.steps.push(TraceStep {
            value: self.label(node),
            op: op.map_or_else(|| "parameter".to_string(), |op| op.name.to_string()),
            rule: op.map(|op| op.rule),
            shape: node.shape(),
            grad: summary(g),
            stored: None,
            sends: Vec::new(),
        });
    }

    /// The gradient was stored in `.grad`, added to one already there if `accumulated`.
    pub(crate) fn stored(&mut self, accumulated: bool) {
        if let Some(step) = self.steps.last_mut() {
            step.stored = Some(accumulated);
        }
    }

    /// The rule sent `raw` (summed to `gx`) to `input`; `total` is the input's running gradient
    /// when this was not the first contribution.
    pub(crate) fn send(&mut self, index: usize, input: &Var, raw_shape: &[usize], gx: &Var, total: Option<&Var>) {
        let send = TraceSend {
            input: index,
            to: self.label(input),
            grad: summary(gx),
            summed_from: (raw_shape != gx.shape().as_slice()).then(|| raw_shape.to_vec()),
            accumulated: total.map(norm),
        };
        if let Some(step) = self.steps.last_mut() {
            step.sends.push(send);
        }
    }

    /// Appends this pass's steps to the trace being recorded.
    pub(crate) fn finish(self) {
        RECORDING.with(|r| {
            if let Some(steps) = r.borrow_mut().as_mut() {
                steps.extend(self.steps);
            }
        });
    }
}

fn shape_str(s: &[usize]) -> String {
    format!("{s:?}")
}

impl fmt::Display for BackwardTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(
                f,
                "[{}] {} = {} {}   ∂L/∂{}: ‖g‖ = {:.4}",
                i + 1,
                step.value,
                step.op,
                shape_str(&step.shape),
                step.value,
                step.grad.norm
            )?;
            if let Some(rule) = step.rule {
                writeln!(f, "    rule: {rule}")?;
            }
            match step.stored {
                Some(false) => writeln!(f, "    {}.grad = g", step.value)?,
                Some(true) => {
                    writeln!(f, "    {}.grad += g   (a gradient from an earlier backward was there)", step.value)?
                }
                None => {}
            }
            for send in &step.sends {
                write!(
                    f,
                    "    → {} (input {}): {} ‖·‖ = {:.4}",
                    send.to,
                    send.input,
                    shape_str(&send.grad.shape),
                    send.grad.norm
                )?;
                if let Some(from) = &send.summed_from {
                    write!(f, ", summed from {} (broadcast)", shape_str(from))?;
                }
                if let Some(total) = send.accumulated {
                    write!(f, ", added to what {} already received: ‖total‖ = {total:.4}", send.to)?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

impl BackwardTrace {
    /// The trace as JSON: `{"steps": [{"value", "op", "rule", "shape", "grad": {"shape",
    /// "norm"}, "stored", "sends": [{"input", "to", "grad", "summed_from", "accumulated"}]}]}`.
    pub fn to_json(&self) -> String {
        let grad = |g: &GradSummary| json!({ "shape": g.shape, "norm": g.norm });
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|s| {
                let sends: Vec<serde_json::Value> = s
                    .sends
                    .iter()
                    .map(|t| {
                        json!({
                            "input": t.input,
                            "to": t.to,
                            "grad": grad(&t.grad),
                            "summed_from": t.summed_from,
                            "accumulated": t.accumulated,
                        })
                    })
                    .collect();
                json!({
                    "value": s.value,
                    "op": s.op,
                    "rule": s.rule,
                    "shape": s.shape,
                    "grad": grad(&s.grad),
                    "stored": s.stored,
                    "sends": sends,
                })
            })
            .collect();
        json!({ "steps": steps }).to_string()
    }
}
