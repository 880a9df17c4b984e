//! Drawing the graph: every value that a result was computed from, as Graphviz DOT (and SVG
//! through the `dot` program when it is installed).
//!
//! One node per value, with the op that made it (or `parameter` / `constant` for leaves), its
//! shape, dtype and device; arrows go from inputs to the values computed from them, so the
//! drawing reads in the direction of the forward pass and backward runs against the arrows.
//! Parameters are blue boxes, constants grey boxes, the value drawn from a double outline.
//!
//! Gradients: a value whose gradient is stored (parameters after `backward()`, values that
//! called `retain_grad`) shows its norm `‖∂L/∂v‖`; a parameter drawn before backward says
//! "grad not yet computed" rather than showing zeros. `backward()` frees the graph as it goes
//! (as PyTorch does); to draw the graph with its gradients, run
//! `backward_with(seed, false, true)` to keep it.
//!
//! Names given with [`Var::set_name`] head their node's label. With
//! [`DotOptions::show_saved`], each op also lists what its backward rule reads ([`crate::Saved`]:
//! inputs, its output, index tensors) and how many bytes of values that keeps alive until
//! backward.

use crate::{Saved, Var};
use ferrograd_tensor::{Error, Result};
use std::collections::HashMap;
use std::fmt::Write as _;

/// What [`Var::to_dot_with`] draws besides the values.
#[derive(Clone, Copy, Debug, Default)]
pub struct DotOptions {
    /// List, on each op, the values its backward rule reads (PyTorch's saved tensors).
    pub show_saved: bool,
}

impl Var {
    /// The graph of every value `self` was computed from, as Graphviz DOT.
    pub fn to_dot(&self) -> String {
        self.to_dot_with(DotOptions::default())
    }

    /// [`Var::to_dot`], with options.
    pub fn to_dot_with(&self, options: DotOptions) -> String {
        // Collect the graph (iteratively: graphs can be deep), then number its nodes in
        // creation order, so that the output is the same from run to run.
        let mut seen: HashMap<usize, Var> = HashMap::new();
        let mut stack = vec![self.clone()];
        while let Some(v) = stack.pop() {
            if seen.contains_key(&v.id()) {
                continue;
            }
            stack.extend(v.inputs());
            seen.insert(v.id(), v);
        }
        let mut nodes: Vec<Var> = seen.into_values().collect();
        nodes.sort_by_key(Var::id);
        let index: HashMap<usize, usize> = nodes.iter().enumerate().map(|(i, v)| (v.id(), i)).collect();

        let mut dot = String::from("digraph ferrograd {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n");
        for (i, v) in nodes.iter().enumerate() {
            let (mut label, style) = describe(v);
            if options.show_saved {
                label.push_str(&describe_saved(v));
            }
            let root = if v.id() == self.id() { ", peripheries=2" } else { "" };
            let _ = writeln!(dot, "  n{i} [label=\"{}\", {style}{root}];", label.replace('"', "\\\""));
        }
        for (i, v) in nodes.iter().enumerate() {
            for input in v.inputs() {
                let _ = writeln!(dot, "  n{} -> n{i};", index[&input.id()]);
            }
        }
        dot.push_str("}\n");
        dot
    }

    /// The graph as SVG, rendered by Graphviz's `dot` program (an error if it is not installed
    /// or fails).
    pub fn to_svg(&self) -> Result<String> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let io = |e: std::io::Error| Error::invalid("to_svg", format!("running Graphviz `dot`: {e}"));
        let mut child =
            Command::new("dot").arg("-Tsvg").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().map_err(io)?;
        child.stdin.take().expect("piped stdin").write_all(self.to_dot().as_bytes()).map_err(io)?;
        let out = child.wait_with_output().map_err(io)?;
        if !out.status.success() {
            return Err(Error::invalid("to_svg", format!("`dot` failed: {}", String::from_utf8_lossy(&out.stderr))));
        }
        String::from_utf8(out.stdout).map_err(|e| Error::invalid("to_svg", e.to_string()))
    }
}

/// A node's label (lines joined by `\n`) and its Graphviz style.
fn describe(v: &Var) -> (String, &'static str) {
    let value = v.value();
    let (kind, style) = match v.op_name() {
        Some(op) => (op.to_string(), "shape=ellipse"),
        None if v.requires_grad() => ("parameter".to_string(), "shape=box, style=filled, fillcolor=lightblue"),
        None => ("constant".to_string(), "shape=box, color=gray, fontcolor=gray40"),
    };
    let kind = match v.name() {
        Some(name) => format!("{name}: {kind}"),
        None => kind,
    };
    let mut label = format!("{kind}\\n{:?} {} {}", value.shape(), value.dtype(), value.device());
    match v.grad() {
        Some(g) => match g.l2_norm() {
            Ok(n) => {
                let _ = write!(label, "\\ngrad ‖·‖ = {n:.4}");
            }
            Err(_) => label.push_str("\\ngrad (unreadable)"),
        },
        None if v.is_leaf() && v.requires_grad() => label.push_str("\\ngrad not yet computed"),
        None => {}
    }
    if v.op_name().is_some() && v.inputs().is_empty() {
        label.push_str("\\n(inputs freed by backward)");
    }
    (label, style)
}

/// The label lines that list what an op's backward rule reads, and the bytes of values that
/// keeps alive (`""` for leaves and for ops that save nothing).
fn describe_saved(v: &Var) -> String {
    let Some(op) = v.op_info() else { return String::new() };
    if op.saves.is_empty() {
        return "\\nsaves nothing".to_string();
    }
    let inputs = v.inputs();
    let bytes = |x: &Var| x.shape().iter().product::<usize>() * x.dtype().size_in_bytes();
    let mut total = 0;
    let mut counted = std::collections::HashSet::new(); // `x · x` keeps one tensor, not two
    let mut parts = Vec::new();
    for saved in op.saves {
        match *saved {
            Saved::Input(k) => match inputs.get(k) {
                Some(x) => {
                    if counted.insert(x.id()) {
                        total += bytes(x);
                    }
                    parts.push(format!("input {k} {:?}", x.shape()));
                }
                None => parts.push(format!("input {k} (freed)")),
            },
            Saved::Output => {
                if counted.insert(v.id()) {
                    total += bytes(v);
                }
                parts.push(format!("output {:?}", v.shape()));
            }
            Saved::Extra(what) => parts.push(what.to_string()),
        }
    }
    format!("\\nsaves {} ({total} B)", parts.join(", "))
}
