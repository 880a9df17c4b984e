//! The variational autoencoder (Kingma & Welling, 2014).
//!
//! The encoder maps an image `x` to a diagonal Gaussian `q(z|x) = N(μ(x), diag σ²(x))` over a
//! latent code; the decoder maps a code `z` to independent Bernoulli pixel probabilities
//! `p(x|z)`. Training maximises the evidence lower bound
//!
//! ```text
//! log p(x) ≥ ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I))
//! ```
//!
//! estimated with one sample `z = μ + σ·ε` (the reparameterisation trick, which makes the sample
//! differentiable in μ and σ). Its negative, in nats per image, is the loss and the reported
//! figure: the reconstruction term is the binary cross-entropy summed over the 784 pixels, the KL
//! term has a closed form.

use crate::layers::{Linear, Relu, Sequential};
use crate::loss::{binary_cross_entropy_with_logits, gaussian_kl_divergence, reparameterize, Reduction};
use crate::{prefixed_parameters, Module};
use ferrograd_autograd::{DType, Error, Result, Rng, Var};

/// An MLP VAE on flat `[N, 784]` images: 784 → hidden → (μ, log σ²) of `latent` dims, and
/// latent → hidden → 784 Bernoulli logits.
pub struct Vae {
    /// `x → h`, the shared trunk of the two heads.
    pub encoder: Sequential,
    /// `h → μ`
    pub mean: Linear,
    /// `h → log σ²` (a log-variance: any real number is a valid output).
    pub log_var: Linear,
    /// `z → logits of p(x|z)`
    pub decoder: Sequential,
    latent: usize,
}

/// The negative ELBO of a batch and its two parts, each in nats per image (summed over pixels or
/// latent dims, averaged over the batch).
pub struct VaeLoss {
    /// `reconstruction + β·kl`: what training minimises.
    pub loss: Var,
    /// `−E_q[log p(x|z)]`, one sample.
    pub reconstruction: Var,
    /// `KL(q(z|x) ‖ N(0, I))`.
    pub kl: Var,
}

impl Vae {
    /// A VAE with PyTorch's default layer initialisation.
    pub fn new(pixels: usize, hidden: usize, latent: usize, rng: &mut Rng) -> Result<Vae> {
        if latent == 0 {
            return Err(Error::invalid("Vae", "the latent space needs at least one dimension"));
        }
        Ok(Vae {
            encoder: Sequential::new().add(Linear::new(pixels, hidden, true, DType::F32, rng)?).add(Relu),
            mean: Linear::new(hidden, latent, true, DType::F32, rng)?,
            log_var: Linear::new(hidden, latent, true, DType::F32, rng)?,
            decoder: Sequential::new()
                .add(Linear::new(latent, hidden, true, DType::F32, rng)?)
                .add(Relu)
                .add(Linear::new(hidden, pixels, true, DType::F32, rng)?),
            latent,
        })
    }

    /// The latent size.
    pub fn latent(&self) -> usize {
        self.latent
    }

    /// `q(z|x)` as `(μ, log σ²)`, each `[N, latent]`.
    pub fn encode(&self, x: &Var) -> Result<(Var, Var)> {
        let h = self.encoder.forward(x)?;
        Ok((self.mean.forward(&h)?, self.log_var.forward(&h)?))
    }

    /// The logits of `p(x|z)`, `[N, pixels]`; `sigmoid` of them are the pixel probabilities.
    pub fn decode(&self, z: &Var) -> Result<Var> {
        self.decoder.forward(z)
    }

    /// The negative ELBO of `x` (pixel values in [0, 1], `[N, pixels]`) with the KL term weighted
    /// by `beta` (1 for the true bound; β-VAEs use other weights), one latent sample per image
    /// drawn from `rng`.
    pub fn negative_elbo(&self, x: &Var, beta: f64, rng: &mut Rng) -> Result<VaeLoss> {
        let batch = x.shape().first().copied().unwrap_or(0).max(1) as f64;
        let (mean, log_var) = self.encode(x)?;
        let z = reparameterize(&mean, &log_var, rng)?;
        let logits = self.decode(&z)?;
        let reconstruction = binary_cross_entropy_with_logits(&logits, x, Reduction::Sum)?.mul_scalar(1.0 / batch)?;
        let kl = gaussian_kl_divergence(&mean, &log_var, Reduction::Sum)?.mul_scalar(1.0 / batch)?;
        let loss = reconstruction.add(&kl.mul_scalar(beta)?)?;
        Ok(VaeLoss { loss, reconstruction, kl })
    }
}

impl Module for Vae {
    /// The mean reconstruction's logits: decode the posterior mean μ(x) (no sampling).
    fn forward(&self, x: &Var) -> Result<Var> {
        self.decode(&self.encode(x)?.0)
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        prefixed_parameters([
            ("encoder", &self.encoder as &dyn Module),
            ("mean", &self.mean),
            ("log_var", &self.log_var),
            ("decoder", &self.decoder),
        ])
    }
}
