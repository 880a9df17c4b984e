//! Multi-head attention and positional encodings.

use super::{Embedding, Linear};
use crate::{prefixed_parameters, Module};
use ferrograd_autograd::{DType, Device, Error, Result, Rng, Tensor, Var};
use std::cell::RefCell;

/// Multi-head attention (as `torch.nn.MultiheadAttention` with `batch_first=True`): queries
/// `[B, Tq, D]` attend to keys/values `[B, Tk, D]` in `heads` subspaces of size `D / heads`,
/// each with [`Var::scaled_dot_product_attention`]; the heads' outputs are concatenated and
/// projected back to `D`.
pub struct MultiHeadAttention {
    /// Query projection `[D, D]`.
    pub q_proj: Linear,
    /// Key projection.
    pub k_proj: Linear,
    /// Value projection.
    pub v_proj: Linear,
    /// Output projection.
    pub out_proj: Linear,
    /// Rotary position embedding of the queries and keys, if the layer uses it.
    pub rotary: Option<RotaryEmbedding>,
    heads: usize,
}

impl MultiHeadAttention {
    /// `d_model` must be a multiple of `heads`.
    pub fn new(d_model: usize, heads: usize, dtype: DType, rng: &mut Rng) -> Result<MultiHeadAttention> {
        if heads == 0 || !d_model.is_multiple_of(heads) {
            return Err(Error::invalid(
                "MultiHeadAttention",
                format!("d_model {d_model} is not a multiple of {heads} heads"),
            ));
        }
        let mut proj = || Linear::new(d_model, d_model, true, dtype, rng);
        Ok(MultiHeadAttention {
            q_proj: proj()?,
            k_proj: proj()?,
            v_proj: proj()?,
            out_proj: proj()?,
            rotary: None,
            heads,
        })
    }

    /// The same layer with rotary position embeddings ([`RotaryEmbedding`]) on its queries
    /// and keys, so attention scores depend on how far apart two positions are.
    pub fn with_rotary(mut self) -> Result<MultiHeadAttention> {
        self.rotary = Some(RotaryEmbedding::new(self.q_proj.out_features() / self.heads)?);
        Ok(self)
    }

    /// `[B, T, D]` → `[B, heads, T, D / heads]` (a view: `matmul` reads it through its strides).
    fn split_heads(&self, x: &Var) -> Result<Var> {
        let s = x.shape();
        x.reshape(&[s[0], s[1], self.heads, s[2] / self.heads])?.permute(&[0, 2, 1, 3])
    }

    /// Attention of `query` to `key`/`value`; `mask` is nonzero where a query may not attend
    /// (see [`Var::scaled_dot_product_attention`]), `causal` blocks future keys.
    pub fn attend(&self, query: &Var, key: &Var, value: &Var, mask: Option<&Tensor>, causal: bool) -> Result<Var> {
        let (qs, ks) = (query.shape(), key.shape());
        let d = self.q_proj.in_features();
        if qs.len() != 3 || ks.len() != 3 || qs[2] != d || ks[2] != d || value.shape() != ks || qs[0] != ks[0] {
            return Err(Error::shape(
                "MultiHeadAttention",
                &[&qs, &ks, &value.shape()],
                format!("expected query [B, Tq, {d}] and key = value shape [B, Tk, {d}]"),
            ));
        }
        let (q, k, v) = if query.id() == key.id() && key.id() == value.id() {
            self.project_together(query)?
        } else {
            (self.q_proj.forward(query)?, self.k_proj.forward(key)?, self.v_proj.forward(value)?)
        };
        let (mut q, mut k, v) = (self.split_heads(&q)?, self.split_heads(&k)?, self.split_heads(&v)?);
        if let Some(rotary) = &self.rotary {
            (q, k) = (rotary.rotate(&q)?, rotary.rotate(&k)?);
        }
        let y = q.scaled_dot_product_attention(&k, &v, mask, causal)?; // [B, heads, Tq, D/heads]
        let y = y.permute(&[0, 2, 1, 3])?.reshape(&[qs[0], qs[1], d])?;
        self.out_proj.forward(&y)
    }

    /// Self-attention's three projections of one input as a single product with the weights
    /// stacked `[3D, D]` (one pass over `x` and one larger, faster GEMM instead of three), then
    /// split into views. The stacked weight is built from the three parameters each call, so
    /// they keep their names and their gradients.
    fn project_together(&self, x: &Var) -> Result<(Var, Var, Var)> {
        let projections = [&self.q_proj, &self.k_proj, &self.v_proj];
        let bias = match projections.map(|p| p.bias.as_ref()) {
            [Some(q), Some(k), Some(v)] => Some(Var::cat(&[q, k, v], 0)?),
            [None, None, None] => None,
            // Some projections with a bias and some without (only if a user edited the
            // layer): project separately.
            _ => return Ok((self.q_proj.forward(x)?, self.k_proj.forward(x)?, self.v_proj.forward(x)?)),
        };
        let weight = Var::cat(&projections.map(|p| &p.weight), 0)?;
        let y = Linear { weight, bias }.forward(x)?;
        let d = self.q_proj.out_features();
        Ok((y.narrow(-1, 0, d)?, y.narrow(-1, d, d)?, y.narrow(-1, 2 * d, d)?))
    }

    /// Self-attention of `x` to itself.
    pub fn self_attend(&self, x: &Var, mask: Option<&Tensor>, causal: bool) -> Result<Var> {
        self.attend(x, x, x, mask, causal)
    }
}

impl Module for MultiHeadAttention {
    /// Unmasked self-attention.
    fn forward(&self, x: &Var) -> Result<Var> {
        self.self_attend(x, None, false)
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        let projections: [(&str, &dyn Module); 4] = [
            ("q_proj", &self.q_proj),
            ("k_proj", &self.k_proj),
            ("v_proj", &self.v_proj),
            ("out_proj", &self.out_proj),
        ];
        prefixed_parameters(projections)
    }
}

/// Rotary position embedding (RoPE; Su et al., 2021), as GPT-NeoX and LLaMA apply it: the
/// `d_head` features of a query or key at position `t` form `d_head / 2` pairs `(x_i, x_{i+h})`,
/// `h = d_head / 2`, and pair `i` is rotated by the angle `t·θ_i`, `θ_i = 10000^{−2i/d_head}`:
/// ```text
/// rotate(x)_i     = x_i·cos(tθ_i) − x_{i+h}·sin(tθ_i)
/// rotate(x)_{i+h} = x_{i+h}·cos(tθ_i) + x_i·sin(tθ_i)
/// ```
/// Rotations compose, so the score `rotate(q at m) · rotate(k at n)` depends on the positions
/// only through `m − n`: attention sees how far back a key is, the same at every position,
/// instead of learning each absolute position separately. No parameters. Built from `narrow`,
/// `cat`, `mul` and `add`, so its gradient is theirs: the transposed rotation, by `−tθ_i`.
pub struct RotaryEmbedding {
    /// `θ_i` for `i < d_head / 2`.
    frequencies: Vec<f64>,
    /// The `cos` and signed `sin` tables of the longest sequence seen so far, on the device and
    /// in the dtype of the last input: queries, keys and every later call of up to that length
    /// read rows of these instead of building and uploading them again.
    tables: RefCell<Option<(Tensor, Tensor)>>,
}

impl RotaryEmbedding {
    /// Rotations of `d_head` features (an even number).
    pub fn new(d_head: usize) -> Result<RotaryEmbedding> {
        if d_head == 0 || !d_head.is_multiple_of(2) {
            return Err(Error::invalid("RotaryEmbedding", format!("d_head {d_head} must be even and positive")));
        }
        let half = d_head / 2;
        let frequencies = (0..half).map(|i| 10000f64.powf(-2.0 * i as f64 / d_head as f64)).collect();
        Ok(RotaryEmbedding { frequencies, tables: RefCell::new(None) })
    }

    /// `[T, d_head]` tables for positions `0..T`: `cos(tθ_i)` in both halves, and the sine with
    /// the sign of the rotation, `−sin(tθ_i)` in the first half and `+sin(tθ_i)` in the second.
    fn tables(&self, t: usize, dtype: DType, device: Device) -> Result<(Tensor, Tensor)> {
        let mut cached = self.tables.borrow_mut();
        let fits = |(cos, _): &(Tensor, Tensor)| cos.shape()[0] >= t && cos.dtype() == dtype && cos.device() == device;
        if !cached.as_ref().is_some_and(fits) {
            let rows = t.max(cached.as_ref().map_or(0, |(cos, _)| cos.shape()[0]));
            let (d, half) = (2 * self.frequencies.len(), self.frequencies.len());
            let (mut cos, mut sin) = (vec![0.0f64; rows * d], vec![0.0f64; rows * d]);
            for pos in 0..rows {
                for (i, theta) in self.frequencies.iter().enumerate() {
                    let (s, c) = (pos as f64 * theta).sin_cos();
                    (cos[pos * d + i], cos[pos * d + half + i]) = (c, c);
                    (sin[pos * d + i], sin[pos * d + half + i]) = (-s, s);
                }
            }
            let table = |v| Tensor::from_vec(v, &[rows, d])?.to_dtype(dtype)?.to_device(device);
            *cached = Some((table(cos)?, table(sin)?));
        }
        let (cos, sin) = cached.as_ref().expect("filled above");
        Ok((cos.narrow(0, 0, t)?, sin.narrow(0, 0, t)?))
    }

    /// Rotates `x [..., T, d_head]` (positions `0..T` along the second-to-last axis):
    /// `x·cos + swap_halves(x)·signed_sin`, with `swap_halves(x) = (x_{h..}, x_{..h})`.
    pub fn rotate(&self, x: &Var) -> Result<Var> {
        let shape = x.shape();
        let d = 2 * self.frequencies.len();
        if shape.len() < 2 || shape[shape.len() - 1] != d {
            return Err(Error::shape("RotaryEmbedding", &[&shape], format!("expected [..., T, {d}]")));
        }
        let (cos, sin) = self.tables(shape[shape.len() - 2], x.dtype(), x.value().device())?;
        let half = d / 2;
        let swapped = Var::cat(&[&x.narrow(-1, half, half)?, &x.narrow(-1, 0, half)?], -1)?;
        x.mul(&Var::constant(cos))?.add(&swapped.mul(&Var::constant(sin))?)
    }
}

/// Adds the fixed sinusoidal position code of "Attention Is All You Need" to `[B, T, D]`:
/// `PE[t, 2i] = sin(t / 10000^{2i/D})`, `PE[t, 2i+1] = cos(…)`. No parameters.
pub struct SinusoidalPositionalEncoding {
    table: Tensor,
}

impl SinusoidalPositionalEncoding {
    /// Codes for positions `0..max_len` of width `d_model`.
    pub fn new(max_len: usize, d_model: usize, dtype: DType) -> Result<SinusoidalPositionalEncoding> {
        let mut data = vec![0.0f64; max_len * d_model];
        for t in 0..max_len {
            for j in 0..d_model {
                let angle = t as f64 / 10000f64.powf((j - j % 2) as f64 / d_model as f64);
                data[t * d_model + j] = if j % 2 == 0 { angle.sin() } else { angle.cos() };
            }
        }
        Ok(SinusoidalPositionalEncoding { table: Tensor::from_vec(data, &[max_len, d_model])?.to_dtype(dtype)? })
    }
}

/// Checks `[B, T, D]` against a position table `[max_len, D]`.
fn check_positions(op: &'static str, x: &[usize], table: &[usize]) -> Result<usize> {
    if x.len() != 3 || x[2] != table[1] || x[1] > table[0] {
        return Err(Error::shape(op, &[x, table], format!("expected [B, T ≤ {}, {}]", table[0], table[1])));
    }
    Ok(x[1])
}

impl Module for SinusoidalPositionalEncoding {
    fn forward(&self, x: &Var) -> Result<Var> {
        let t = check_positions("SinusoidalPositionalEncoding", &x.shape(), self.table.shape())?;
        // The table is a constant made on the host: its rows go to the input's device.
        x.add(&Var::constant(self.table.narrow(0, 0, t)?.to_device(x.value().device())?))
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        Vec::new()
    }
}

/// Adds a learned vector per position (GPT-2's `wpe`) to `[B, T, D]`.
pub struct LearnedPositionalEmbedding {
    /// `[max_len, D]`
    pub table: Embedding,
}

impl LearnedPositionalEmbedding {
    /// Positions `0..max_len`, initialised `N(0, 0.02²)` as in GPT-2.
    pub fn new(max_len: usize, d_model: usize, dtype: DType, rng: &mut Rng) -> Result<LearnedPositionalEmbedding> {
        let table = Embedding::new(max_len, d_model, None, dtype, rng)?;
        table.weight.set_value(table.weight.value().mul_scalar(0.02)?)?;
        Ok(LearnedPositionalEmbedding { table })
    }
}

impl Module for LearnedPositionalEmbedding {
    fn forward(&self, x: &Var) -> Result<Var> {
        let t = check_positions("LearnedPositionalEmbedding", &x.shape(), &self.table.weight.shape())?;
        x.add(&self.table.weight.narrow(0, 0, t)?)
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        vec![("weight".to_string(), self.table.weight.clone())]
    }
}
