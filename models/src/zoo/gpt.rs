//! GPT-2's initialisation (Radford et al., 2019; as nanoGPT applies it) for a decoder-only
//! Transformer built from [`crate::layers::TransformerBlock`]s.

use super::{reinitialise, Init};
use crate::Module;
use ferrograd_autograd::{Result, Rng};

/// The standard deviation GPT-2 gives every weight matrix and embedding table.
pub const GPT2_INIT_STD: f64 = 0.02;

/// Re-initialises `model` the way GPT-2 does, by parameter name:
///
/// - every bias 0, every LayerNorm scale 1 (any other one-dimensional parameter);
/// - every weight matrix and embedding table from `N(0, 0.02²)`;
/// - the projections that write into the residual stream (`out_proj.weight` of attention,
///   `ff_out.weight` of the feed-forward layer) from `N(0, (0.02 / √(2·layers))²)`.
///
/// Why it matters for small character models: PyTorch's defaults draw token embeddings from
/// `N(0, 1)` but learned positions from `N(0, 0.02²)`, so at first the position signal is 2% of
/// each input vector and attention cannot tell where a character is; training then sits on a
/// bigram plateau (loss ≈ 2.4 nats/char) for hundreds of steps until the positions grow. With
/// both tables at the same small scale, attention sees positions from the first step. The
/// `1/√(2·layers)` factor keeps the residual stream's variance from growing with depth: each
/// block adds two such projections to it.
pub fn gpt2_init(model: &dyn Module, layers: usize, rng: &mut Rng) -> Result<()> {
    let residual_std = GPT2_INIT_STD / (2.0 * layers.max(1) as f64).sqrt();
    reinitialise(model, rng, |name, dims| {
        if name.ends_with("bias") {
            Init::Constant(0.0)
        } else if dims == 1 {
            Init::Constant(1.0)
        } else if name.ends_with("out_proj.weight") || name.ends_with("ff_out.weight") {
            Init::Normal { mean: 0.0, std: residual_std }
        } else {
            Init::Normal { mean: 0.0, std: GPT2_INIT_STD }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Embedding, TransformerBlock, TransformerConfig};
    use crate::prefixed_parameters;
    use ferrograd_autograd::{DType, Var};

    struct TinyGpt {
        tokens: Embedding,
        blocks: Vec<TransformerBlock>,
    }

    impl Module for TinyGpt {
        fn forward(&self, x: &Var) -> Result<Var> {
            Ok(x.clone())
        }
        fn named_parameters(&self) -> Vec<(String, Var)> {
            let mut m: Vec<(String, &dyn Module)> = vec![("tokens".into(), &self.tokens)];
            m.extend(self.blocks.iter().enumerate().map(|(i, b)| (format!("blocks.{i}"), b as &dyn Module)));
            prefixed_parameters(m)
        }
    }

    fn std_of(values: &[f32]) -> f64 {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        (values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt()
    }

    #[test]
    fn gpt2_init_sets_each_kind_of_parameter() {
        let mut rng = Rng::new(7);
        let layers = 2;
        let model = TinyGpt {
            tokens: Embedding::new(50, 64, None, DType::F32, &mut rng).unwrap(),
            blocks: (0..layers)
                .map(|_| TransformerBlock::new(TransformerConfig::decoder_only(64, 4), DType::F32, &mut rng).unwrap())
                .collect(),
        };
        gpt2_init(&model, layers, &mut rng).unwrap();
        let residual = GPT2_INIT_STD / 2.0; // 0.02 / √(2·2)
        let mut seen = [0usize; 4];
        for (name, p) in model.named_parameters() {
            let v = p.value().to_vec::<f32>().unwrap();
            if name.ends_with("bias") {
                assert!(v.iter().all(|&x| x == 0.0), "{name} should be zero");
                seen[0] += 1;
            } else if p.shape().len() == 1 {
                assert!(v.iter().all(|&x| x == 1.0), "{name} should be one");
                seen[1] += 1;
            } else {
                // Thousands of draws: the sample deviation is within 10% of the target.
                let want = if name.ends_with("out_proj.weight") || name.ends_with("ff_out.weight") {
                    seen[2] += 1;
                    residual
                } else {
                    seen[3] += 1;
                    GPT2_INIT_STD
                };
                let got = std_of(&v);
                assert!((got - want).abs() < 0.1 * want, "{name}: std {got}, want {want}");
            }
        }
        // Biases, LayerNorm scales, 2 residual projections per block, and the rest.
        assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
        assert_eq!(seen[2], 2 * layers);
        assert_eq!(seen[3], 1 + 4 * layers); // tokens; q, k, v, ff_in per block
    }
}
