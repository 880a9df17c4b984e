//! Normalisation, composed from differentiable reductions (so gradients and second derivatives
//! come from the rules of `mean`, `sub`, `mul`, `sqrt` …).

use crate::Var;
use ferrograd_tensor::{Error, Result};

impl Var {
    /// `(x − mean) / √(var + eps)` over the last `normalized.len()` dims, whose sizes must equal
    /// `normalized` (population variance, as `torch.nn.functional.layer_norm`), then the optional
    /// elementwise affine `· weight + bias` (both of shape `normalized`).
    #[track_caller]
    pub fn layer_norm(&self, normalized: &[usize], weight: Option<&Var>, bias: Option<&Var>, eps: f64) -> Result<Var> {
        let s = self.shape();
        if normalized.is_empty() || normalized.len() > s.len() || s[s.len() - normalized.len()..] != *normalized {
            return Err(Error::shape(
                "layer_norm",
                &[&s, normalized],
                "the trailing dims must equal the normalized shape",
            ));
        }
        for p in [weight, bias].into_iter().flatten() {
            if p.shape() != normalized {
                return Err(Error::shape(
                    "layer_norm",
                    &[&p.shape(), normalized],
                    "weight and bias must have the normalized shape",
                ));
            }
        }
        let dims: Vec<usize> = (s.len() - normalized.len()..s.len()).collect();
        let mut y = self.standardize(&dims, eps)?;
        if let Some(w) = weight {
            y = y.mul(w)?;
        }
        if let Some(b) = bias {
            y = y.add(b)?;
        }
        Ok(y)
    }

    /// `(x − mean) / √(var + eps)` with mean and population variance over `dims` (kept).
    #[track_caller]
    pub fn standardize(&self, dims: &[usize], eps: f64) -> Result<Var> {
        let centred = self.sub(&self.mean(dims, true)?)?;
        let var = centred.mul(&centred)?.mean(dims, true)?;
        centred.div(&var.add_scalar(eps)?.sqrt()?)
    }
}
