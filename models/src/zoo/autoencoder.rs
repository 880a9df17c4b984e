//! Autoencoders: an encoder squeezes an image into a short code, a decoder rebuilds the image
//! from it, and the pair is trained to reproduce its input.

use crate::layers::{Conv2d, ConvTranspose2d, Flatten, Linear, Relu, Sequential, Unflatten};
use crate::{prefixed_parameters, Module};
use ferrograd_autograd::{DType, Result, Rng, Var, Window};

/// An encoder and a decoder. The decoder outputs *logits*: `sigmoid(logits)` is the
/// reconstruction, and training uses binary cross-entropy on the logits
/// ([`crate::loss::binary_cross_entropy_with_logits`]), the same loss as BCE after a sigmoid
/// output layer but without rounding a probability to 0 or 1 before taking its log.
pub struct Autoencoder {
    /// Image → code.
    pub encoder: Sequential,
    /// Code → logits of the image.
    pub decoder: Sequential,
}

impl Autoencoder {
    /// The dense 784 → 128 → 64 → 128 → 784 autoencoder on flat `[N, 784]` images.
    pub fn dense(rng: &mut Rng) -> Result<Autoencoder> {
        Ok(Autoencoder {
            encoder: Sequential::new()
                .add(Linear::new(784, 128, true, DType::F32, rng)?)
                .add(Relu)
                .add(Linear::new(128, 64, true, DType::F32, rng)?)
                .add(Relu),
            decoder: Sequential::new().add(Linear::new(64, 128, true, DType::F32, rng)?).add(Relu).add(Linear::new(
                128,
                784,
                true,
                DType::F32,
                rng,
            )?),
        })
    }

    /// A convolutional autoencoder on `[N, 1, 28, 28]` images with the dense one's 64-number
    /// code: two stride-2 convolutions (28 → 14 → 7) and a dense layer down, and their mirror
    /// image up (dense, then two stride-2 transposed convolutions, 7 → 14 → 28).
    pub fn conv(rng: &mut Rng) -> Result<Autoencoder> {
        let down = Window::default().stride(2).padding(1);
        Ok(Autoencoder {
            encoder: Sequential::new()
                .add(Conv2d::new(1, 16, [3, 3], down, 1, true, DType::F32, rng)?)
                .add(Relu)
                .add(Conv2d::new(16, 32, [3, 3], down, 1, true, DType::F32, rng)?)
                .add(Relu)
                .add(Flatten)
                .add(Linear::new(32 * 7 * 7, 64, true, DType::F32, rng)?)
                .add(Relu),
            decoder: Sequential::new()
                .add(Linear::new(64, 32 * 7 * 7, true, DType::F32, rng)?)
                .add(Relu)
                .add(Unflatten(vec![32, 7, 7]))
                // output_padding 1: a stride-2 convolution maps both 13 and 14 to 7; pick 14.
                .add(ConvTranspose2d::new(32, 16, [3, 3], down, [1, 1], 1, true, DType::F32, rng)?)
                .add(Relu)
                .add(ConvTranspose2d::new(16, 1, [3, 3], down, [1, 1], 1, true, DType::F32, rng)?),
        })
    }

    /// The code of `x`.
    pub fn encode(&self, x: &Var) -> Result<Var> {
        self.encoder.forward(x)
    }

    /// The reconstruction `sigmoid(decoder(encoder(x)))`, pixel intensities in (0, 1).
    pub fn reconstruct(&self, x: &Var) -> Result<Var> {
        self.forward(x)?.sigmoid()
    }
}

impl Module for Autoencoder {
    /// The reconstruction's logits, in `x`'s shape.
    fn forward(&self, x: &Var) -> Result<Var> {
        self.decoder.forward(&self.encoder.forward(x)?)
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        prefixed_parameters([("encoder", &self.encoder as &dyn Module), ("decoder", &self.decoder)])
    }

    fn set_training(&self, training: bool) {
        self.encoder.set_training(training);
        self.decoder.set_training(training);
    }
}
