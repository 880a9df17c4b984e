//! Matrix products and their derivatives.

use crate::{is_grad_enabled, OpInfo, Saved, Var};
use ferrograd_tensor::Result;

impl Var {
    /// `y = a · b` (batched, broadcasting batch dims) — `∂a = g · bᵀ`, `∂b = aᵀ · g`.
    ///
    /// Each gradient is produced in its operand's layout: when an operand is a transposed view
    /// (as `Wᵀ` in a linear layer), its gradient is computed as the transpose of a row-major
    /// product, so that after the transpose's own backward the weight's gradient is dense
    /// row-major and the optimizer reads it without a transposing copy.
    ///
    /// For broadcast batch dimensions the products have the broadcast batch shape; the engine
    /// sums them back to each operand's shape. When an operand was broadcast over leading batch
    /// dims (a convolution's weight, shared by every image), its gradient is instead summed as
    /// the products are made (`Tensor::matmul_summed_to`), unless a graph of the gradient is
    /// being built.
    #[track_caller]
    pub fn matmul(&self, b: &Var) -> Result<Var> {
        let y = self.value().matmul(&b.value())?;
        Var::from_op(
            &OpInfo {
                name: "matmul", rule: "∂a = g · bᵀ, ∂b = aᵀ · g", saves: &[Saved::Input(0), Saved::Input(1)]
            },
            y,
            &[self, b],
            |x, _, g| Ok(product_grads(&x[0], &x[1], g)?.to_vec()),
        )
    }

    /// `y = a · b + bias`, `bias` `[n]` added to every row: a linear layer in one op (PyTorch's
    /// `addmm`) — `∂a = g · bᵀ`, `∂b = aᵀ · g` as for [`Var::matmul`], and `∂bias = Σ_rows g`
    /// (the engine sums `g` down to the bias's shape, as for any broadcast operand).
    #[track_caller]
    pub fn matmul_bias(&self, b: &Var, bias: &Var) -> Result<Var> {
        let y = self.value().matmul_bias(&b.value(), &bias.value())?;
        Var::from_op(
            &OpInfo {
                name: "matmul_bias",
                rule: "∂a = g · bᵀ, ∂b = aᵀ · g, ∂bias = Σ_rows g",
                saves: &[Saved::Input(0), Saved::Input(1)],
            },
            y,
            &[self, b, bias],
            |x, _, g| {
                let [ga, gb] = product_grads(&x[0], &x[1], g)?;
                Ok(vec![ga, gb, x[2].requires_grad().then(|| g.clone())])
            },
        )
    }
}

/// The gradients of the two operands of `a · b`, given `g = ∂L/∂(a · b)`; `None` for one that
/// needs none.
fn product_grads(a: &Var, b: &Var, g: &Var) -> Result<[Option<Var>; 2]> {
    let ga = if !a.requires_grad() {
        None
    } else if is_transposed(a) {
        Some(product_for(a, b, &g.t()?)?.t()?) // (b · gᵀ)ᵀ: the same values, in a's layout
    } else {
        Some(product_for(a, g, &b.t()?)?)
    };
    let gb = if !b.requires_grad() {
        None
    } else if is_transposed(b) {
        Some(product_for(b, &g.t()?, a)?.t()?) // (gᵀ · a)ᵀ
    } else {
        Some(product_for(b, &a.t()?, g)?)
    };
    Ok([ga, gb])
}

/// `x · y`, the gradient of `operand` (before its own transpose, if any): summed down to the
/// operand's batch shape as it is computed when the operand was broadcast over leading batch
/// dims and no graph of the gradient is wanted; otherwise the plain product, which the engine
/// sums back to the operand's shape.
fn product_for(operand: &Var, x: &Var, y: &Var) -> Result<Var> {
    let rank = operand.shape().len();
    let batch = &operand.shape()[..rank - 2];
    let (xs, ys) = (x.shape(), y.shape());
    let product_batch = ferrograd_tensor::broadcast_shapes("matmul", &xs[..xs.len() - 2], &ys[..ys.len() - 2])?;
    let kept = &batch[batch.iter().take_while(|&&d| d == 1).count()..];
    let broadcast = product_batch.iter().product::<usize>() > batch.iter().product::<usize>();
    if broadcast && product_batch.ends_with(kept) && !is_grad_enabled() {
        Ok(Var::constant(x.value().matmul_summed_to(&y.value(), batch)?))
    } else {
        x.matmul(y)
    }
}

/// Whether a matrix operand is stored column-major (a transposed view of a dense matrix).
fn is_transposed(v: &Var) -> bool {
    let t = v.value();
    let r = t.rank();
    r >= 2 && t.shape()[r - 2] > 1 && t.shape()[r - 1] > 1 && t.strides()[r - 2] < t.strides()[r - 1]
}
