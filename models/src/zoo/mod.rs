//! Ready-made models, as the examples train them: the MNIST classifier (which also scores
//! generated digits), autoencoders, the variational autoencoder, and the generators and
//! discriminators of the MLP GAN and the DCGAN, and GPT-2's initialisation. Each is built from [`crate::layers`]; read
//! them as worked examples of composing layers.

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
