//! Trains a variational autoencoder (Kingma & Welling, 2014) on MNIST: an MLP encoder to a
//! diagonal Gaussian over a `--latent`-dimensional code, an MLP decoder to Bernoulli pixel
//! probabilities, trained on the negative ELBO = reconstruction + β·KL with the
//! reparameterisation trick.
//!
//! ```text
//! cargo run --release --example vae
//! cargo run --release --example vae -- --latent 2     # and a walk over the 2-d latent space
//! ```
//!
//! The Bernoulli likelihood is for binary pixels, so images are binarised the standard way
//! (each pixel is 1 with probability its grey level): afresh every epoch for training, once with a
//! fixed seed for the test set. Reports the test set's negative ELBO in nats per image (an upper
//! bound on −log p(x)); writes PNGs of samples from the prior, of test digits above their
//! reconstructions and, for a 2-d latent, of the decoded latent grid. The last line is a JSON
//! object with `test_nelbo`.

use clap::{Parser, ValueEnum};
use ferrograd::models::zoo::Vae;
use ferrograd::{no_grad, DType, Device, Module, Rng, Tensor, Var};
use std::path::PathBuf;

#[allow(dead_code)] // the MNIST examples' JSON line and summary
#[path = "common/mod.rs"]
mod common;
#[path = "common/generative.rs"]
mod generative;

/// How grey levels become the binary pixels of the Bernoulli likelihood.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Binarize {
    /// Each pixel is 1 with probability its grey level (the standard for likelihood figures).
    Stochastic,
    /// Grey levels as they are, as soft targets (the loss then includes the targets' entropy).
    None,
}

/// Train a variational autoencoder on MNIST.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "Train a VAE on MNIST and report its test negative ELBO (ferrograd example)",
    mut_arg("epochs", |a| a.default_value("40")),
    mut_arg("batch_size", |a| a.default_value("128"))
)]
struct Args {
    #[command(flatten)]
    run: common::RunArgs,
    /// Dimensions of the latent code.
    #[arg(long, default_value_t = 20)]
    latent: usize,
    /// Width of the encoder's and the decoder's hidden layer.
    #[arg(long, default_value_t = 400)]
    hidden: usize,
    /// Weight of the KL term (1: the true ELBO; the reported test figure always uses 1).
    #[arg(long, default_value_t = 1.0)]
    beta: f64,
    /// How pixels are binarised.
    #[arg(long, value_enum, default_value_t = Binarize::Stochastic)]
    binarize: Binarize,
    /// Folder for the PNGs.
    #[arg(long, default_value = "out")]
    out_dir: PathBuf,
    /// Write the trained weights to this safetensors file.
    #[arg(long)]
    save: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Binary pixels: 1 where a uniform draw falls below the grey level.
fn binarize(pixels: &Tensor, how: Binarize, rng: &mut Rng) -> ferrograd::Result<Tensor> {
    match how {
        Binarize::Stochastic => pixels.rand_like(rng)?.lt(pixels)?.to_dtype(DType::F32),
        Binarize::None => Ok(pixels.clone()),
    }
}

/// The test set's negative ELBO and its two terms, in nats per image (β = 1, one latent sample
/// per image: an unbiased estimate of the ELBO).
fn evaluate(vae: &Vae, test: &Tensor, rng: &mut Rng) -> ferrograd::Result<[f64; 3]> {
    no_grad(|| {
        let n = test.shape()[0];
        let mut sums = [0.0; 3];
        for start in (0..n).step_by(1000) {
            let x = Var::constant(test.narrow(0, start, 1000.min(n - start))?);
            let l = vae.negative_elbo(&x, 1.0, rng)?;
            let b = x.shape()[0] as f64;
            for (s, v) in sums.iter_mut().zip([&l.loss, &l.reconstruction, &l.kl]) {
                *s += v.value().item()? * b;
            }
        }
        Ok(sums.map(|s| s / n as f64))
    })
}

fn run(args: &Args) -> ferrograd::Result<()> {
    let device = Device::parse(&args.run.device)?;
    let (train, test) = generative::load_pixels(&args.run.data_dir)?;
    let mut rng = Rng::new(args.run.seed);
    let test_x = binarize(&test.inputs, args.binarize, &mut Rng::new(0x7E57))?.to_device(device)?;
    let vae = Vae::new(784, args.hidden, args.latent, &mut rng)?;
    generative::move_to(&[&vae], device)?;
    println!(
        "VAE 784-{h}-{z} / {z}-{h}-784: {} parameters; device {device}",
        vae.num_parameters(),
        h = args.hidden,
        z = args.latent
    );
    // Evaluation draws its latent samples from a generator of its own, so that training and
    // evaluation can each hold one.
    let mut eval_rng = Rng::new(args.run.seed ^ 0xE7A1);
    let mut test_terms = evaluate(&vae, &test_x, &mut eval_rng)?;
    let train_seconds = generative::fit(
        &args.run,
        train,
        vae.parameters(),
        |pixels| {
            let x = Var::constant(binarize(&pixels, args.binarize, &mut rng)?.to_device(device)?);
            Ok(vae.negative_elbo(&x, args.beta, &mut rng)?.loss)
        },
        |epoch, train_loss, secs| {
            test_terms = evaluate(&vae, &test_x, &mut eval_rng)?;
            let [nelbo, reconstruction, kl] = test_terms;
            println!(
                "epoch {epoch}: train loss {train_loss:.2}  test −ELBO {nelbo:.2} nats (reconstruction {reconstruction:.2} + KL {kl:.2})  {secs:.1}s"
            );
            Ok(())
        },
    )?;
    write_pictures(&vae, &test_x, args, &mut rng)?;
    if let Some(path) = &args.save {
        ferrograd::models::checkpoint::save(&vae, path)?;
        println!("saved weights to {}", path.display());
    }
    println!(
        "{{\"example\":\"vae\",\"device\":\"{device}\",\"epochs\":{},\"batch_size\":{},\"lr\":{},\"seed\":{},\"latent\":{},\"beta\":{},\"test_nelbo\":{:.3},\"test_reconstruction\":{:.3},\"test_kl\":{:.3},\"train_seconds\":{train_seconds:.1}}}",
        args.run.epochs, args.run.batch_size, args.run.lr, args.run.seed, args.latent, args.beta, test_terms[0], test_terms[1], test_terms[2]
    );
    Ok(())
}

/// Samples from the prior, test digits above their reconstructions and, for a 2-d latent, the
/// decoded grid of latent points; each image drawn as its pixel probabilities.
fn write_pictures(vae: &Vae, test_x: &Tensor, args: &Args, rng: &mut Rng) -> ferrograd::Result<()> {
    generative::ensure_dir(&args.out_dir)?;
    let device = test_x.device();
    let decode = |z: Tensor| -> ferrograd::Result<Tensor> {
        no_grad(|| vae.decode(&Var::constant(z.to_device(device)?))?.sigmoid()).map(|v| v.value())
    };
    let prior = args.out_dir.join("vae_samples.png");
    generative::write_grid(&prior, &decode(rng.normal_tensor(&[64, vae.latent()], 0.0, 1.0, DType::F32)?)?, 8, 2)?;
    let originals = test_x.narrow(0, 0, 16)?;
    let reconstructions = no_grad(|| vae.forward(&Var::constant(originals.clone()))?.sigmoid())?.value();
    let pairs = args.out_dir.join("vae_reconstructions.png");
    generative::write_grid(&pairs, &Tensor::cat(&[&originals, &reconstructions], 0)?, 16, 2)?;
    println!("pictures: {} (prior samples), {} (test digits above reconstructions)", prior.display(), pairs.display());
    if vae.latent() == 2 {
        // A 20×20 walk over [−2.5, 2.5]², where nearly all of the prior's mass lies.
        let side = 20;
        let at = |i: usize| -2.5 + 5.0 * i as f32 / (side - 1) as f32;
        let z: Vec<f32> = (0..side * side).flat_map(|k| [at(k % side), at(side - 1 - k / side)]).collect();
        let walk = args.out_dir.join("vae_latent_walk.png");
        generative::write_grid(&walk, &decode(Tensor::from_vec(z, &[side * side, 2])?)?, side, 1)?;
        println!("latent walk: {}", walk.display());
    }
    Ok(())
}
