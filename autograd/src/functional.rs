//! Derivatives of whole functions: Jacobians, vector–Jacobian products, Hessians and
//! Hessian–vector products, as `torch.autograd.functional` offers.
//!
//! All of them are built on [`grad`], i.e. on reverse mode:
//! - one backward pass gives one vector–Jacobian product `vᵀ J`; with `v` the one-hot vector
//!   `e_k` it is row `k` of the Jacobian, so a full Jacobian costs one pass per output element;
//! - a Hessian is the Jacobian of the gradient: the first [`grad`] runs with `create_graph`, so
//!   that the gradient is itself a function with a graph, and is differentiated again (double
//!   backward);
//! - a Hessian–vector product `H v = ∇ₓ ⟨∇ₓ f, v⟩` needs only two passes, whatever the size of
//!   `x`: the Hessian itself is never formed. This is how second-order optimisers and influence
//!   functions use curvature at scale.
//!
//! The functions take `f` as a closure over [`Var`]s and the point as [`Tensor`]s; the results
//! are plain tensors (no graph).

use crate::{grad, Result, Tensor, Var};
use ferrograd_tensor::Error;

/// A tensor of `shape` that is 1 at flat index `k` and 0 elsewhere.
fn one_hot(shape: &[usize], k: usize, like: &Tensor) -> Result<Tensor> {
    let mut v = vec![0.0f64; shape.iter().product()];
    v[k] = 1.0;
    Tensor::from_vec(v, shape)?.to_dtype(like.dtype())
}

/// Evaluates `f` at `inputs` made leaves that require gradients.
fn trace(f: &impl Fn(&[Var]) -> Result<Var>, inputs: &[Tensor]) -> Result<(Vec<Var>, Var)> {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::parameter(t.clone())).collect();
    let y = f(&vars)?;
    Ok((vars, y))
}

/// `vᵀ · J` for `y = f(x)` and each input: `∂⟨v, y⟩/∂xᵢ`. Inputs the output does not depend on
/// get zeros.
fn vjp_of(y: &Var, vars: &[Var], v: &Var, create_graph: bool) -> Result<Vec<Option<Var>>> {
    if !y.requires_grad() {
        return Ok(vec![None; vars.len()]);
    }
    let refs: Vec<&Var> = vars.iter().collect();
    grad(&[y], &refs, &[v], create_graph)
}

fn value_or_zeros(g: Option<Var>, like: &Tensor) -> Tensor {
    g.map_or_else(|| like.zeros_like(), |g| g.value())
}

/// The value `y = f(inputs)` and the vector–Jacobian products `vᵀ · ∂y/∂xᵢ` (`v` has `y`'s
/// shape; each result has its input's shape): one backward pass.
pub fn vjp(f: impl Fn(&[Var]) -> Result<Var>, inputs: &[Tensor], v: &Tensor) -> Result<(Tensor, Vec<Tensor>)> {
    let (vars, y) = trace(&f, inputs)?;
    if v.shape() != y.shape() {
        return Err(Error::shape("vjp", &[&y.shape(), v.shape()], "v must have the output's shape"));
    }
    let gs = vjp_of(&y, &vars, &Var::constant(v.clone()), false)?;
    let gs = gs.into_iter().zip(inputs).map(|(g, x)| value_or_zeros(g, x)).collect();
    Ok((y.value(), gs))
}

/// The Jacobian of `y = f(inputs)` with respect to each input: for input `i`, a tensor of shape
/// `y.shape ++ xᵢ.shape` with `J[k.., j..] = ∂y[k..]/∂xᵢ[j..]`. Row `k` is one backward pass
/// seeded with the one-hot vector `e_k`, so this costs `y.numel()` passes: meant for small
/// functions (tests, teaching, checking a derivation by hand).
pub fn jacobian(f: impl Fn(&[Var]) -> Result<Var>, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let (vars, y) = trace(&f, inputs)?;
    jacobian_rows(&y, &vars, inputs)
}

/// The Jacobian of `y` (already computed from `vars`) by one backward pass per element of `y`.
fn jacobian_rows(y: &Var, vars: &[Var], inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let (out_shape, yv) = (y.shape(), y.value());
    let mut rows: Vec<Vec<Tensor>> = vec![Vec::new(); vars.len()];
    for k in 0..yv.numel() {
        let seed = Var::constant(one_hot(&out_shape, k, &yv)?);
        for (i, g) in vjp_of(y, vars, &seed, false)?.into_iter().enumerate() {
            rows[i].push(value_or_zeros(g, &inputs[i]));
        }
    }
    rows.into_iter()
        .zip(inputs)
        .map(|(rows, x)| {
            let shape: Vec<usize> = out_shape.iter().chain(x.shape()).copied().collect();
            if rows.is_empty() {
                return Ok(Tensor::zeros(&shape, x.dtype()));
            }
            let refs: Vec<&Tensor> = rows.iter().collect();
            Tensor::stack(&refs, 0)?.reshape(&shape)
        })
        .collect()
}

/// The gradient `∇f(x)` of a scalar `f`, kept as a function of `x` (its graph is recorded) so
/// that it can be differentiated again.
fn gradient_with_graph(
    op: &'static str,
    f: &impl Fn(&Var) -> Result<Var>,
    x: &Tensor,
) -> Result<(Var, Var, Option<Var>)> {
    let xv = Var::parameter(x.clone());
    let y = f(&xv)?;
    if y.value().numel() != 1 {
        return Err(Error::shape(op, &[&y.shape()], "f must return a single value"));
    }
    let seed = Var::constant(y.value().ones_like());
    let g = vjp_of(&y, std::slice::from_ref(&xv), &seed, true)?.pop().flatten();
    Ok((xv, y, g))
}

/// The Hessian `H[i.., j..] = ∂²f/∂x[i..]∂x[j..]` of a scalar function at `x`, of shape
/// `x.shape ++ x.shape`: the Jacobian of the gradient, by double backward (one pass per element
/// of `x`).
pub fn hessian(f: impl Fn(&Var) -> Result<Var>, x: &Tensor) -> Result<Tensor> {
    let (xv, _, g) = gradient_with_graph("hessian", &f, x)?;
    match g {
        Some(g) => Ok(jacobian_rows(&g, &[xv], std::slice::from_ref(x))?.remove(0)),
        None => {
            let shape: Vec<usize> = x.shape().iter().chain(x.shape()).copied().collect();
            Ok(Tensor::zeros(&shape, x.dtype()))
        }
    }
}

/// The value `f(x)` of a scalar function and the Hessian–vector product `H v = ∇ₓ⟨∇ₓf, v⟩`
/// (`v` has `x`'s shape): two backward passes, without forming `H`.
pub fn hvp(f: impl Fn(&Var) -> Result<Var>, x: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
    if v.shape() != x.shape() {
        return Err(Error::shape("hvp", &[x.shape(), v.shape()], "v must have x's shape"));
    }
    let (xv, y, g) = gradient_with_graph("hvp", &f, x)?;
    let hv = match g {
        Some(g) => vjp_of(&g, std::slice::from_ref(&xv), &Var::constant(v.clone()), false)?.pop().flatten(),
        None => None,
    };
    Ok((y.value(), value_or_zeros(hv, x)))
}
