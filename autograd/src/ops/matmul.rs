//! Matrix products and their derivatives.

use crate::{OpInfo, Saved, Var};
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
    /// sums them back to each operand's shape.
    #[track_caller]
    pub fn matmul(&self, b: &Var) -> Result<Var> {
        let y = self.value().matmul(&b.value())?;
        Var::from_op(
            &OpInfo {
                name: "matmul", rule: "∂a = g · bᵀ, ∂b = aᵀ · g", saves: &[Saved::Input(0), Saved::Input(1)]
            },
            y,
            &[self, b],
            |x, _, g| {
                let (a, b) = (&x[0], &x[1]);
                let ga = if !a.requires_grad() {
                    None
                } else if is_transposed(a) {
                    Some(b.matmul(&g.t()?)?.t()?) // (b · gᵀ)ᵀ: the same values, in a's layout
                } else {
                    Some(g.matmul(&b.t()?)?)
                };
                let gb = if !b.requires_grad() {
                    None
                } else if is_transposed(b) {
                    Some(g.t()?.matmul(a)?.t()?) // (gᵀ · a)ᵀ
                } else {
                    Some(a.t()?.matmul(g)?)
                };
                Ok(vec![ga, gb])
            },
        )
    }
}

/// Whether a matrix operand is stored column-major (a transposed view of a dense matrix).
fn is_transposed(v: &Var) -> bool {
    let t = v.value();
    let r = t.rank();
    r >= 2 && t.shape()[r - 2] > 1 && t.shape()[r - 1] > 1 && t.strides()[r - 2] < t.strides()[r - 1]
}
