//! The README's autograd example: gradients of `Σ tanh(W·x)`, and a Hessian-vector product.
//!
//! ```text
//! cargo run --release --example autograd_by_hand
//! ```

use ferrograd::{grad, Tensor, Var};

fn main() -> ferrograd::Result<()> {
    // y = Σ tanh(W·x)   for a 2×3 matrix W and a 3-vector x (as a 3×1 matrix)
    let w = Var::parameter(Tensor::from_vec(vec![0.1f64, -0.2, 0.3, 0.4, 0.5, -0.6], &[2, 3])?);
    let x = Var::parameter(Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3, 1])?);
    let y = w.matmul(&x)?.tanh()?.sum_all()?;

    y.backward()?; // ∂y/∂W = (1 − tanh²(Wx)) · xᵀ
    println!("dy/dW = {}", w.grad().expect("W requires a gradient"));
    println!("dy/dx = {}", x.grad().expect("x requires a gradient"));

    // Double backward: the gradient is itself differentiable (a Hessian-vector product).
    let one = || Var::constant(Tensor::ones(&[], y.dtype()));
    let g = grad(&[y.clone()], &[x.clone()], &[one()], true)?;
    let gx = g[0].clone().expect("y depends on x"); // ∂y/∂x, with its own graph
    let hvp = grad(&[gx.sum_all()?], &[x.clone()], &[one()], false)?;
    println!("H·1 = {}", hvp[0].as_ref().expect("∂y/∂x depends on x").value());
    println!("{{\"example\":\"autograd_by_hand\",\"y\":{}}}", y.value().item()?);
    Ok(())
}
