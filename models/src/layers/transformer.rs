//! The pre-norm Transformer block: encoder, decoder-only (GPT) and encoder–decoder forms.

use super::{Dropout, LayerNorm, Linear, MultiHeadAttention};
use crate::{prefixed_parameters, Module};
use ferrograd_autograd::{DType, Error, Result, Rng, Tensor, Var};

/// The shape and options of a [`TransformerBlock`].
#[derive(Clone, Debug)]
pub struct TransformerConfig {
    /// Width of the residual stream, `D`.
    pub d_model: usize,
    /// Attention heads (`D` must be a multiple).
    pub heads: usize,
    /// Hidden width of the feed-forward network (usually `4·D`).
    pub d_ff: usize,
    /// Dropout on each sub-layer's output before it is added to the residual stream.
    pub dropout: f64,
    /// Self-attention may not look at later positions (decoders).
    pub causal: bool,
    /// A cross-attention sub-layer over an encoder's output (encoder–decoder models).
    pub cross_attention: bool,
    /// Rotary position embeddings in self-attention ([`RotaryEmbedding`](super::RotaryEmbedding)):
    /// positions enter as relative offsets inside every block, and the model needs no position
    /// table.
    pub rotary: bool,
    /// Seed of the dropout masks.
    pub seed: u64,
}

impl TransformerConfig {
    /// An encoder block: `d_ff = 4·d_model`, no dropout, not causal, no cross-attention.
    pub fn encoder(d_model: usize, heads: usize) -> TransformerConfig {
        TransformerConfig {
            d_model,
            heads,
            d_ff: 4 * d_model,
            dropout: 0.0,
            causal: false,
            cross_attention: false,
            rotary: false,
            seed: 0,
        }
    }

    /// A decoder-only (GPT) block: causal self-attention.
    pub fn decoder_only(d_model: usize, heads: usize) -> TransformerConfig {
        TransformerConfig { causal: true, ..TransformerConfig::encoder(d_model, heads) }
    }

    /// A decoder block of an encoder–decoder model: causal self-attention, then
    /// cross-attention over the encoder's output.
    pub fn decoder(d_model: usize, heads: usize) -> TransformerConfig {
        TransformerConfig { causal: true, cross_attention: true, ..TransformerConfig::encoder(d_model, heads) }
    }
}

/// A pre-norm Transformer block (as GPT-2 and most models since): each sub-layer reads a
/// layer-normalised copy of the residual stream and adds its output back:
/// ```text
/// x = x + SelfAttention(LN(x))               (causal in decoders)
/// x = x + CrossAttention(LN(x), memory)      (encoder–decoder only)
/// x = x + Linear(GELU(Linear(LN(x))))
/// ```
/// Normalising before the sub-layer keeps an identity path from output to input, so deep
/// stacks train without learning-rate warm-up tricks as delicate as post-norm's.
pub struct TransformerBlock {
    cfg: TransformerConfig,
    ln_self: LayerNorm,
    self_attn: MultiHeadAttention,
    cross: Option<(LayerNorm, MultiHeadAttention)>,
    ln_ff: LayerNorm,
    ff_in: Linear,
    ff_out: Linear,
    dropout: Option<Dropout>,
}

impl TransformerBlock {
    /// A block with PyTorch's default initialisation of its linear layers.
    pub fn new(cfg: TransformerConfig, dtype: DType, rng: &mut Rng) -> Result<TransformerBlock> {
        let d = cfg.d_model;
        let cross = if cfg.cross_attention {
            Some((LayerNorm::new(&[d], dtype), MultiHeadAttention::new(d, cfg.heads, dtype, rng)?))
        } else {
            None
        };
        let mut self_attn = MultiHeadAttention::new(d, cfg.heads, dtype, rng)?;
        if cfg.rotary {
            self_attn = self_attn.with_rotary()?;
        }
        Ok(TransformerBlock {
            ln_self: LayerNorm::new(&[d], dtype),
            self_attn,
            cross,
            ln_ff: LayerNorm::new(&[d], dtype),
            ff_in: Linear::new(d, cfg.d_ff, true, dtype, rng)?,
            ff_out: Linear::new(cfg.d_ff, d, true, dtype, rng)?,
            dropout: (cfg.dropout > 0.0).then(|| Dropout::new(cfg.dropout, cfg.seed)).transpose()?,
            cfg,
        })
    }

    /// `x + dropout(y)`.
    fn residual(&self, x: &Var, y: Var) -> Result<Var> {
        match &self.dropout {
            Some(d) => x.add(&d.forward(&y)?),
            None => x.add(&y),
        }
    }

    /// The block on `x [B, T, D]`. `mask` blocks self-attention (nonzero = may not attend, e.g.
    /// a [`padding_mask`](ferrograd_autograd::ops::padding_mask)); `memory [B, S, D]` is the
    /// encoder output for cross-attention, with `memory_mask` over its positions.
    pub fn forward_with(
        &self,
        x: &Var,
        mask: Option<&Tensor>,
        memory: Option<&Var>,
        memory_mask: Option<&Tensor>,
    ) -> Result<Var> {
        let h = self.ln_self.forward(x)?;
        let mut x = self.residual(x, self.self_attn.self_attend(&h, mask, self.cfg.causal)?)?;
        match (&self.cross, memory) {
            (Some((ln, attn)), Some(m)) => {
                let q = ln.forward(&x)?;
                x = self.residual(&x, attn.attend(&q, m, m, memory_mask, false)?)?;
            }
            (Some(_), None) => {
                return Err(Error::invalid(
                    "TransformerBlock",
                    "a block with cross-attention needs the encoder's memory",
                ))
            }
            (None, Some(_)) => return Err(Error::invalid("TransformerBlock", "this block has no cross-attention")),
            (None, None) => {}
        }
        let ff = self.ff_out.forward(&self.ff_in.forward(&self.ln_ff.forward(&x)?)?.gelu()?)?;
        self.residual(&x, ff)
    }
}

impl Module for TransformerBlock {
    /// The block without padding mask or memory.
    fn forward(&self, x: &Var) -> Result<Var> {
        self.forward_with(x, None, None, None)
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        let mut named: Vec<(&str, &dyn Module)> = vec![("ln_self", &self.ln_self), ("self_attn", &self.self_attn)];
        if let Some((ln, attn)) = &self.cross {
            named.push(("ln_cross", ln));
            named.push(("cross_attn", attn));
        }
        named.extend([("ln_ff", &self.ln_ff as &dyn Module), ("ff_in", &self.ff_in), ("ff_out", &self.ff_out)]);
        prefixed_parameters(named)
    }

    fn set_training(&self, training: bool) {
        if let Some(d) = &self.dropout {
            d.set_training(training);
        }
    }
}
