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

    // Double backward: grad() returns ∂y/∂x as a Var with its own graph (a Hessian-vector product).
    // grad() keeps the graph, so backward() can still run below.
    let one = Var::constant(Tensor::ones(&[], y.dtype()));
    let gx = grad(&[&y], &[&x], &[&one], true)?[0].clone().expect("y depends on x");
    let hvp = grad(&[&gx.sum_all()?], &[&x], &[&one], false)?;
    println!("H·1 = {}", hvp[0].as_ref().expect("∂y/∂x depends on x").value());

    y.backward()?; // ∂y/∂W = (1 − tanh²(Wx)) · xᵀ, accumulated into w.grad(); frees the graph
    println!("dy/dW = {}", w.grad().expect("W requires a gradient"));
    println!("dy/dx = {}", x.grad().expect("x requires a gradient"));
    println!("{{\"example\":\"autograd_by_hand\",\"y\":{}}}", y.value().item()?);
    Ok(())
}
