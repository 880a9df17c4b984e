//! Embedding tables.

use crate::Module;
use ferrograd_autograd::{DType, Error, Result, Rng, Tensor, Var};

/// A lookup table of `num` vectors of size `dim` (as `torch.nn.Embedding`): integer ids
/// `[..]` → `[.., dim]`. Initialised `N(0, 1)`; the row `padding_idx`, if given, starts at zero
/// and never receives a gradient. Backward is a scatter-add of the output's gradient rows into
/// the table (see [`Var::embedding`]).
pub struct Embedding {
    /// `[num, dim]`
    pub weight: Var,
    padding_idx: Option<usize>,
}

impl Embedding {
    /// A table with PyTorch's default initialisation, drawn from `rng`.
    pub fn new(num: usize, dim: usize, padding_idx: Option<usize>, dtype: DType, rng: &mut Rng) -> Result<Embedding> {
        if let Some(p) = padding_idx.filter(|&p| p >= num) {
            return Err(Error::IndexOutOfRange { op: "Embedding", index: p as i64, size: num });
        }
        let mut table = rng.normal_tensor(&[num, dim], 0.0, 1.0, dtype)?;
        if let Some(p) = padding_idx {
            let mask: Vec<f32> = (0..num).map(|r| if r == p { 1.0 } else { 0.0 }).collect();
            table = table.masked_fill(&Tensor::from_vec(mask, &[num, 1])?, 0.0)?;
        }
        Ok(Embedding { weight: Var::parameter(table), padding_idx })
    }

    /// Looks up `ids` (`i64`, any shape).
    pub fn lookup(&self, ids: &Tensor) -> Result<Var> {
        self.weight.embedding(ids, self.padding_idx)
    }

    /// Size of each vector.
    pub fn dim(&self) -> usize {
        self.weight.shape()[1]
    }
}

impl Module for Embedding {
    /// The ids as a constant `Var` of dtype `i64`.
    fn forward(&self, ids: &Var) -> Result<Var> {
        self.lookup(&ids.value())
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        vec![("weight".to_string(), self.weight.clone())]
    }
}
