//! A fully connected layer.

use crate::Module;
use ferrograd_autograd::{DType, Error, Result, Rng, Var};

/// `y = x · Wᵀ + b`, with `W` of shape `[out, in]` and `b` of shape `[out]` (as `torch.nn.Linear`,
/// including its default initialisation `U(−1/√in, 1/√in)` for both).
///
/// The input may have any number of leading dimensions: `[.., in] → [.., out]`. `Wᵀ` is a view;
/// the matmul kernel reads it through its strides, so no transposed copy is made.
pub struct Linear {
    /// `[out_features, in_features]`
    pub weight: Var,
    /// `[out_features]`, if the layer has a bias.
    pub bias: Option<Var>,
}

impl Linear {
    /// A layer with PyTorch's default initialisation, drawn from `rng`.
    pub fn new(in_features: usize, out_features: usize, bias: bool, dtype: DType, rng: &mut Rng) -> Result<Linear> {
        let weight = Var::parameter(rng.linear_init(&[out_features, in_features], in_features, dtype)?);
        let bias =
            if bias { Some(Var::parameter(rng.linear_init(&[out_features], in_features, dtype)?)) } else { None };
        Ok(Linear { weight, bias })
    }

    /// Number of input features.
    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }

    /// Number of output features.
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }
}

impl Module for Linear {
    fn forward(&self, x: &Var) -> Result<Var> {
        let shape = x.shape();
        if shape.last() != Some(&self.in_features()) {
            return Err(Error::shape(
                "Linear",
                &[&shape, &self.weight.shape()],
                format!("input's last dim must be in_features = {}", self.in_features()),
            ));
        }
        // Fold leading dims into one batch dim so the product is one 2-D matmul.
        let rows: usize = shape[..shape.len() - 1].iter().product();
        let x2 = if shape.len() == 2 { x.clone() } else { x.reshape(&[rows, self.in_features()])? };
        let y = match &self.bias {
            Some(b) => x2.matmul_bias(&self.weight.t()?, b)?,
            None => x2.matmul(&self.weight.t()?)?,
        };
        if shape.len() == 2 {
            Ok(y)
        } else {
            let mut out_shape = shape[..shape.len() - 1].to_vec();
            out_shape.push(self.out_features());
            y.reshape(&out_shape)
        }
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        super::weight_and_bias(&self.weight, self.bias.as_ref())
    }
}
