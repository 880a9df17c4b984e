//! Tour, step 2: tensors — shape, strides, views — and broadcasting, forward and backward.
//!
//! ```text
//! cargo run --release --example 02_tensors_and_broadcasting
//! ```
//!
//! A tensor is a buffer plus a shape and strides: element `[i, j]` of a `[rows, cols]` tensor
//! lives at `offset + i·stride[0] + j·stride[1]`. A transpose swaps the strides and copies
//! nothing; `contiguous()` makes the row-major copy.
//!
//! Broadcasting (NumPy's rule): align shapes from the right; each pair of sizes must be equal
//! or one of them 1, and a size-1 (or missing) dimension is repeated. Its backward is the
//! reverse: the gradient of a broadcast input is the output gradient *summed* over the
//! dimensions that were repeated — a bias added to every row of a batch collects the gradient
//! of every row. The engine does that sum in one place (`sum_to_shape`), for every op.

use ferrograd::{Tensor, Var};

fn main() -> ferrograd::Result<()> {
    // Shape and strides; a transpose is a view.
    let x = Tensor::from_vec((0..6).map(|v| v as f64).collect::<Vec<_>>(), &[2, 3])?;
    println!("x = {x}\n  shape {:?}, strides {:?}, contiguous {}", x.shape(), x.strides(), x.is_contiguous());
    let xt = x.t()?;
    println!(
        "x.t() shape {:?}, strides {:?}, contiguous {} (same buffer)",
        xt.shape(),
        xt.strides(),
        xt.is_contiguous()
    );
    let dense = xt.contiguous()?;
    println!("x.t().contiguous() strides {:?} (a copy, row-major)", dense.strides());

    // Broadcasting, forward: [3, 1] + [4] → [3, 4].
    let col = Tensor::from_vec(vec![0.0, 10.0, 20.0], &[3, 1])?;
    let row = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[4])?;
    let sum = col.add(&row)?;
    println!("[3, 1] + [4] → {:?}:\n{sum}", sum.shape());
    match x.add(&row) {
        Err(err) => println!("[2, 3] + [4] is an error (3 vs 4): {err}"),
        Ok(_) => unreachable!("3 and 4 do not broadcast"),
    }

    // Broadcasting, backward: a bias b [4] added to each of 3 rows of h [3, 4].
    let mut rng = ferrograd::Rng::new(0);
    let h = Var::parameter(rng.normal_tensor(&[3, 4], 0.0, 1.0, ferrograd::DType::F64)?).named("h");
    let b = Var::parameter(Tensor::zeros(&[4], ferrograd::DType::F64)).named("b");
    let y = h.add(&b)?;
    // L = Σ y²: ∂L/∂y = 2y, and ∂L/∂b = Σ_rows 2y (the rows b was repeated over).
    y.mul(&y)?.sum_all()?.backward()?;
    let by_hand = y.value().mul_scalar(2.0)?.sum([0], false)?;
    println!("∂L/∂b by autograd: {}", b.grad().expect("b requires a gradient"));
    println!("Σ_rows 2y by hand: {by_hand}");
    let cmp = ferrograd::autograd::compare_gradient("b", &by_hand, &b)?;
    println!("  {cmp}");
    println!("{}", serde_json::json!({"example": "02_tensors_and_broadcasting", "bias_grad_agrees": cmp.approximate}));
    Ok(())
}
