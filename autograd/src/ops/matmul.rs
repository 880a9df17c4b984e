//! Matrix products and their derivatives.

use crate::Var;
use ferrograd_tensor::Result;

impl Var {
    /// `y = a · b` (batched, broadcasting batch dims) — `∂a = g · bᵀ`, `∂b = aᵀ · g`.
    ///
    /// For broadcast batch dimensions the products have the broadcast batch shape; the engine
    /// sums them back to each operand's shape.
    pub fn matmul(&self, b: &Var) -> Result<Var> {
        let y = self.value().matmul(&b.value())?;
        Ok(Var::from_op("matmul", y, &[self, b], |x, _, g| {
            let (a, b) = (&x[0], &x[1]);
            let ga = if a.requires_grad() { Some(g.matmul(&b.t()?)?) } else { None };
            let gb = if b.requires_grad() { Some(a.t()?.matmul(g)?) } else { None };
            Ok(vec![ga, gb])
        }))
    }
}
