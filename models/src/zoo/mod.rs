//! Ready-made models, as the examples train them: the MNIST classifier (which also scores
//! generated digits), autoencoders, the variational autoencoder, and the generators and
//! discriminators of the MLP GAN and the DCGAN, and GPT-2's initialisation. Each is built
//! from [`crate::layers`]; read them as worked examples of composing layers.

use crate::Module;
use ferrograd_autograd::{Result, Rng, Tensor};

mod autoencoder;
mod classifier;
mod gan;
mod gpt;
mod vae;

pub use autoencoder::Autoencoder;
pub use classifier::mnist_cnn;
pub use gan::{
    dcgan_discriminator, dcgan_generator, dcgan_init, gan_train_step, generator_step, mlp_discriminator, mlp_generator,
    GanLosses,
};
pub use gpt::{gpt2_init, GPT2_INIT_STD};
pub use vae::{Vae, VaeLoss};

/// How [`reinitialise`] fills one parameter.
enum Init {
    /// Every value the same.
    Constant(f64),
    /// Values from `N(mean, std²)`.
    Normal { mean: f64, std: f64 },
}

/// Sets every parameter of `model` afresh, each as `rule(name, number of dims)` says: the
/// initialisation schemes that published models specify by kind of parameter (DCGAN's, GPT-2's).
fn reinitialise(model: &dyn Module, rng: &mut Rng, rule: impl Fn(&str, usize) -> Init) -> Result<()> {
    for (name, p) in model.named_parameters() {
        let (shape, dtype) = (p.shape(), p.dtype());
        let value = match rule(&name, shape.len()) {
            Init::Constant(c) => Tensor::full(&shape, c, dtype),
            Init::Normal { mean, std } => rng.normal_tensor(&shape, mean, std, dtype)?,
        };
        p.set_value(value.to_device(p.value().device())?)?;
    }
    Ok(())
}
