//! Muon (Keller Jordan, 2024): momentum, orthogonalised. For the 2-D weight matrices of hidden
//! layers; embeddings, output heads, biases and norm gains belong to AdamW.
//!
//! A gradient step on a weight matrix `W` (`[out, in]`) is dominated by a few directions: its
//! singular values are spread over orders of magnitude. Muon replaces the momentum `M = U·Σ·Vᵀ`
//! by its nearest orthogonal matrix `U·Vᵀ` (every singular value set to 1), so the rare
//! directions move as fast as the common ones. `U·Vᵀ` is computed without an SVD, by the
//! Newton–Schulz iteration [`newton_schulz`]: a few matrix products that push every singular
//! value towards 1.
//!
//! The step, with PyTorch's names (`torch.optim.Muon`):
//! ```text
//! B ← μ·B + (1 − μ)·G                       momentum (an exponential average of gradients)
//! M ← (1 − μ)·G + μ·B   (Nesterov)  or B
//! O ← newton_schulz(M)                      ≈ U·Vᵀ
//! W ← W·(1 − lr·λ) − lr·r·O                 decoupled weight decay, then the step
//! ```
//! `r` adapts the step to the matrix's shape `[A, B]` ([`AdjustLr`]).

use super::Optimizer;
use ferrograd_autograd::{Error, Result, Tensor, Var};

/// How Muon scales its learning rate for a `[A, B]` matrix (PyTorch's `adjust_lr_fn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdjustLr {
    /// Keller Jordan's `lr·√max(1, A/B)`: tall matrices get a larger step.
    Original,
    /// Moonshot's `lr·0.2·√max(A, B)`: the update's root mean square matches AdamW's typical
    /// 0.2·lr, so learning rates and weight decay tuned for AdamW carry over.
    MatchRmsAdamW,
}

impl AdjustLr {
    /// The factor `r` on the learning rate for a `rows × cols` matrix.
    pub fn ratio(self, rows: usize, cols: usize) -> f64 {
        let (a, b) = (rows as f64, cols as f64);
        match self {
            AdjustLr::Original => (a / b).max(1.0).sqrt(),
            AdjustLr::MatchRmsAdamW => 0.2 * a.max(b).sqrt(),
        }
    }
}

/// Hyper-parameters of [`Muon`] (PyTorch's names and defaults).
#[derive(Clone, Copy, Debug)]
pub struct MuonConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum μ.
    pub momentum: f64,
    /// Nesterov momentum: orthogonalise `(1 − μ)·G + μ·B` instead of `B`.
    pub nesterov: bool,
    /// Decoupled weight decay λ: `W ← W·(1 − lr·λ)` before each step.
    pub weight_decay: f64,
    /// Newton–Schulz iterations.
    pub ns_steps: usize,
    /// The quintic's coefficients `(a, b, c)` (see [`newton_schulz`]).
    pub ns_coefficients: (f64, f64, f64),
    /// The smallest norm a momentum is divided by (guards a zero gradient).
    pub eps: f64,
    /// The shape-dependent factor on the learning rate.
    pub adjust_lr: AdjustLr,
}

impl Default for MuonConfig {
    fn default() -> Self {
        MuonConfig {
            lr: 1e-3,
            momentum: 0.95,
            nesterov: true,
            weight_decay: 0.1,
            ns_steps: 5,
            ns_coefficients: (3.4445, -4.775, 2.0315),
            eps: 1e-7,
            adjust_lr: AdjustLr::Original,
        }
    }
}

/// Approximately the orthogonal factor `U·Vᵀ` of a 2-D `m = U·Σ·Vᵀ`.
///
/// `X` starts as `m / ‖m‖_F` (every singular value in [0, 1]), and each step applies the odd
/// quintic `X ← a·X + (b·A + c·A²)·X` with `A = X·Xᵀ`, which maps each singular value `σ` to
/// `p(σ) = a·σ + b·σ³ + c·σ⁵` and leaves `U` and `V` alone. Jordan's coefficients
/// `(3.4445, −4.775, 2.0315)` make `p` steep at 0 (`p′(0) = a`), so five steps lift every
/// normalised singular value from about 0.01 up into roughly [0.68, 1.13] (smaller ones less
/// far: 10⁻³ ends near 0.47): not exactly 1, which Muon does not need. A wide matrix is
/// iterated as it is and a tall one transposed, so `A` is the smaller Gram matrix. (PyTorch
/// iterates in bfloat16; this runs in the matrix's own dtype.)
pub fn newton_schulz(m: &Tensor, steps: usize, (a, b, c): (f64, f64, f64), eps: f64) -> Result<Tensor> {
    if m.shape().len() != 2 {
        return Err(Error::shape("newton_schulz", &[m.shape()], "expected a 2-D matrix"));
    }
    let tall = m.shape()[0] > m.shape()[1];
    let mut x = if tall { m.t()? } else { m.clone() };
    x = x.mul_scalar(1.0 / x.l2_norm()?.max(eps))?;
    for _ in 0..steps {
        let gram = x.matmul(&x.t()?)?;
        let poly = gram.mul_scalar(b)?.add(&gram.matmul(&gram)?.mul_scalar(c)?)?;
        x = x.mul_scalar(a)?.add(&poly.matmul(&x)?)?;
    }
    if tall {
        x.t()
    } else {
        Ok(x)
    }
}

/// Muon over 2-D parameters (see the module documentation).
pub struct Muon {
    params: Vec<Var>,
    momentum: Vec<Option<Tensor>>,
    config: MuonConfig,
}

impl Muon {
    /// An optimizer over `params`, each of which must be a matrix.
    pub fn new(params: Vec<Var>, config: MuonConfig) -> Result<Muon> {
        let c = &config;
        let valid = c.lr >= 0.0
            && (0.0..1.0).contains(&c.momentum)
            && c.weight_decay >= 0.0
            && c.eps > 0.0
            && (1..100).contains(&c.ns_steps);
        if !valid {
            return Err(Error::invalid("Muon", format!("invalid hyper-parameters {config:?}")));
        }
        if let Some(p) = params.iter().find(|p| p.shape().len() != 2) {
            return Err(Error::shape(
                "Muon",
                &[p.shape().as_slice()],
                "Muon updates 2-D weight matrices; give vectors, embeddings and heads to AdamW",
            ));
        }
        Ok(Muon { momentum: vec![None; params.len()], params, config })
    }
}

impl Optimizer for Muon {
    fn step(&mut self) -> Result<()> {
        let c = self.config;
        for (p, buf) in self.params.iter().zip(&mut self.momentum) {
            let Some(g) = p.grad() else { continue };
            let b = match buf.take() {
                Some(b) => b.mul_scalar(c.momentum)?.add(&g.mul_scalar(1.0 - c.momentum)?)?,
                None => g.mul_scalar(1.0 - c.momentum)?,
            };
            let m =
                if c.nesterov { g.mul_scalar(1.0 - c.momentum)?.add(&b.mul_scalar(c.momentum)?)? } else { b.clone() };
            *buf = Some(b);
            let o = newton_schulz(&m, c.ns_steps, c.ns_coefficients, c.eps)?;
            let shape = p.shape();
            let step = c.lr * c.adjust_lr.ratio(shape[0], shape[1]);
            let w = p.value();
            p.set_value(w.mul_scalar(1.0 - c.lr * c.weight_decay)?.sub(&o.mul_scalar(step)?)?)?;
        }
        Ok(())
    }

    fn params(&self) -> &[Var] {
        &self.params
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }
}
