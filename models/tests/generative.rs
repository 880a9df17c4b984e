//! The generative models of `zoo` and the sample score: shapes, the VAE's loss against its
//! parts computed by hand, DCGAN initialisation, and the inception score on distributions whose
//! score is known in closed form.

mod common;

use common::*;
use ferrograd_autograd::{no_grad, DType, Error, Rng, Tensor, Var};
use ferrograd_models::layers::Unflatten;
use ferrograd_models::loss::{binary_cross_entropy_with_logits, gaussian_kl_divergence, reparameterize, Reduction};
use ferrograd_models::metrics::{class_histogram, inception_score};
use ferrograd_models::optim::{Sgd, SgdConfig};
use ferrograd_models::zoo::{
    dcgan_discriminator, dcgan_generator, dcgan_init, gan_train_step, generator_step, mlp_discriminator, mlp_generator,
    mnist_cnn, Autoencoder, Vae,
};
use ferrograd_models::Module;
use proptest::prelude::*;

fn noise(shape: &[usize], seed: u64) -> Var {
    Var::constant(Rng::new(seed).normal_tensor(shape, 0.0, 1.0, DType::F32).unwrap())
}

#[test]
fn every_zoo_model_maps_its_input_to_the_documented_shape() {
    let mut rng = Rng::new(1);
    let flat = Var::constant(rng.uniform_tensor(&[3, 784], 0.0, 1.0, DType::F32).unwrap());
    let images = Var::constant(flat.value().reshape(&[3, 1, 28, 28]).unwrap());
    assert_eq!(mnist_cnn(32, 0.25, 0, &mut rng).unwrap().forward(&images).unwrap().shape(), vec![3, 10]);
    assert_eq!(Autoencoder::dense(&mut rng).unwrap().forward(&flat).unwrap().shape(), vec![3, 784]);
    let conv = Autoencoder::conv(&mut rng).unwrap();
    assert_eq!(conv.encode(&images).unwrap().shape(), vec![3, 64]);
    let r = conv.reconstruct(&images).unwrap();
    assert_eq!(r.shape(), vec![3, 1, 28, 28]);
    assert!(vals(&r.value()).iter().all(|&p| p > 0.0 && p < 1.0));
    assert_eq!(mlp_generator(16, &mut rng).unwrap().forward(&noise(&[3, 16], 2)).unwrap().shape(), vec![3, 784]);
    assert_eq!(mlp_discriminator(0.3, 0, &mut rng).unwrap().forward(&flat).unwrap().shape(), vec![3, 1]);
    let g = dcgan_generator(16, 8, &mut rng).unwrap();
    let fake = g.forward(&noise(&[3, 16], 3)).unwrap();
    assert_eq!(fake.shape(), vec![3, 1, 28, 28]);
    assert!(vals(&fake.value()).iter().all(|v| v.abs() < 1.0), "tanh output");
    assert_eq!(dcgan_discriminator(8, 0.3, 0, &mut rng).unwrap().forward(&fake).unwrap().shape(), vec![3, 1]);
    let vae = Vae::new(784, 32, 5, &mut rng).unwrap();
    let (mean, log_var) = vae.encode(&flat).unwrap();
    assert_eq!((mean.shape(), log_var.shape()), (vec![3, 5], vec![3, 5]));
    assert_eq!(vae.forward(&flat).unwrap().shape(), vec![3, 784]);
}

#[test]
fn the_vae_loss_is_its_reconstruction_plus_beta_times_kl_per_image() {
    let mut rng = Rng::new(4);
    let vae = Vae::new(12, 8, 3, &mut rng).unwrap();
    let x = Var::constant(
        rng.uniform_tensor(&[5, 12], 0.0, 1.0, DType::F32)
            .unwrap()
            .lt(&Tensor::full(&[5, 12], 0.5, DType::F32))
            .unwrap(),
    );
    let l = vae.negative_elbo(&x, 0.5, &mut Rng::new(9)).unwrap();
    // The same computation written out: encode, sample with the same noise, decode, and the
    // two terms summed per image and averaged over the 5 images.
    let (mean, log_var) = vae.encode(&x).unwrap();
    let z = reparameterize(&mean, &log_var, &mut Rng::new(9)).unwrap();
    let recon =
        binary_cross_entropy_with_logits(&vae.decode(&z).unwrap(), &x, Reduction::Sum).unwrap().value().item().unwrap()
            / 5.0;
    let kl = gaussian_kl_divergence(&mean, &log_var, Reduction::Sum).unwrap().value().item().unwrap() / 5.0;
    let got = [l.reconstruction.value().item().unwrap(), l.kl.value().item().unwrap(), l.loss.value().item().unwrap()];
    // f32 sums of 60 and 15 terms of size ~1: a few ulps of the total.
    for (g, w) in got.iter().zip([recon, kl, recon + 0.5 * kl]) {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{got:?} vs {recon}, {kl}");
    }
    assert!(kl >= 0.0);
    // Every parameter gets a gradient (the encoder through the reparameterised sample).
    l.loss.backward().unwrap();
    for (name, p) in vae.named_parameters() {
        let g = vals(&p.grad().unwrap_or_else(|| panic!("{name} has no gradient")));
        assert!(g.iter().any(|v| *v != 0.0), "{name}: zero gradient");
    }
    assert!(matches!(Vae::new(784, 8, 0, &mut rng), Err(Error::InvalidArgument { .. })));
}

#[test]
fn dcgan_init_draws_weights_from_n0_002_and_bn_scales_around_one() {
    let mut rng = Rng::new(5);
    let g = dcgan_generator(64, 32, &mut rng).unwrap();
    dcgan_init(&g, &mut rng).unwrap();
    for (name, p) in g.named_parameters() {
        let v = vals(&p.value());
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        if name.ends_with("bias") {
            assert!(v.iter().all(|&x| x == 0.0), "{name}");
        } else if p.shape().len() == 1 {
            // BatchNorm scale: N(1, 0.02²), 32 to 128 draws; the mean within 5 standard errors.
            assert!((mean - 1.0).abs() < 5.0 * 0.02 / n.sqrt(), "{name}: mean {mean}");
        } else {
            // Thousands of draws of N(0, 0.02²): mean within 5·0.02/√n, std within 10%.
            assert!(mean.abs() < 5.0 * 0.02 / n.sqrt(), "{name}: mean {mean}");
            assert!((std - 0.02).abs() < 0.002, "{name}: std {std}");
        }
    }
}

#[test]
fn unflatten_inverts_flatten_and_names_a_bad_size() {
    let x = noise(&[2, 12], 6);
    let y = Unflatten(vec![3, 2, 2]).forward(&x).unwrap();
    assert_eq!(y.shape(), vec![2, 3, 2, 2]);
    assert_eq!(vals(&y.value()), vals(&x.value()));
    assert!(matches!(Unflatten(vec![5]).forward(&x), Err(Error::ShapeMismatch { op: "Unflatten", .. })));
}

proptest! {
    #![proptest_config(config())]

    /// Rows that are one-hot over `k` of `classes` classes, used equally often, score exactly
    /// `k` (each row's KL to the uniform marginal over k classes is ln k); rows that all equal the
    /// same distribution score exactly 1 (each row *is* the marginal).
    #[test]
    fn inception_score_of_known_distributions(classes in 2usize..12, used in 1usize..12, copies in 1usize..5, seed in any::<u64>()) {
        let k = used.min(classes);
        let n = k * copies;
        let mut confident = vec![0.0f64; n * classes];
        for i in 0..n {
            confident[i * classes + i % k] = 1.0;
        }
        let p = Tensor::from_vec(confident, &[n, classes]).unwrap();
        let score = inception_score(&p).unwrap();
        prop_assert!((score - k as f64).abs() <= 1e-12 * k as f64, "score {} for {} classes", score, k);
        let mut hist = vec![0usize; classes];
        hist[..k].iter_mut().for_each(|h| *h = copies);
        prop_assert_eq!(class_histogram(&p).unwrap(), hist);

        let row = Rng::new(seed).uniform_tensor(&[1, classes], 0.1, 1.0, DType::F64).unwrap();
        let row = row.div(&row.sum([1], true).unwrap()).unwrap();
        let same = row.broadcast_to(&[n, classes]).unwrap().contiguous().unwrap();
        prop_assert!((inception_score(&same).unwrap() - 1.0).abs() <= 1e-12);

        // Any other rows land in between.
        let logits = Rng::new(seed).normal_tensor(&[n, classes], 0.0, 3.0, DType::F64).unwrap();
        let s = inception_score(&logits.softmax(1).unwrap()).unwrap();
        prop_assert!((1.0 - 1e-12..=classes as f64 + 1e-12).contains(&s), "{}", s);
    }
}

#[test]
fn inception_score_rejects_what_is_not_a_probability_table() {
    assert!(matches!(inception_score(&Tensor::zeros(&[3], DType::F32)), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(inception_score(&Tensor::zeros(&[0, 10], DType::F32)), Err(Error::ShapeMismatch { .. })));
    let bad = Tensor::from_vec(vec![1.5f64, -0.5], &[1, 2]).unwrap();
    assert!(matches!(inception_score(&bad), Err(Error::InvalidArgument { .. })));
    no_grad(|| assert!(class_histogram(&Tensor::zeros(&[4], DType::F32)).is_err()));
}

#[test]
fn a_gan_step_moves_both_networks_with_the_losses_it_reports() {
    let mut rng = Rng::new(8);
    let g = mlp_generator(4, &mut rng).unwrap();
    let d = mlp_discriminator(0.0, 0, &mut rng).unwrap();
    let real = Var::constant(rng.uniform_tensor(&[6, 784], -1.0, 1.0, DType::F32).unwrap());
    let z = noise(&[6, 4], 9);
    // The losses the step should report, computed before it changes anything.
    let fake = g.forward(&z).unwrap();
    let bce = |x: &Var, target: f64| {
        let t = Var::constant(Tensor::full(&[6, 1], target, DType::F32));
        binary_cross_entropy_with_logits(&d.forward(x).unwrap(), &t, Reduction::Mean).unwrap().value().item().unwrap()
    };
    let want_d = bce(&real, 1.0) + bce(&fake, 0.0);
    let fake = Var::constant(fake.value());
    let before: Vec<Vec<f64>> = g.parameters().iter().chain(&d.parameters()).map(|p| vals(&p.value())).collect();
    let sgd = SgdConfig { lr: 0.1, ..Default::default() };
    let mut opt_g = Sgd::new(g.parameters(), sgd).unwrap();
    let mut opt_d = Sgd::new(d.parameters(), sgd).unwrap();
    let losses = gan_train_step(&g, &d, &mut opt_g, &mut opt_d, &real, &z).unwrap();
    assert!((losses.discriminator - want_d).abs() < 1e-5, "{} vs {want_d}", losses.discriminator);
    let after: Vec<Vec<f64>> = g.parameters().iter().chain(&d.parameters()).map(|p| vals(&p.value())).collect();
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert_ne!(b, a, "parameter {i} did not move");
    }
    // The generator's loss is that of the same generated batch under the *updated*
    // discriminator (no dropout here, so it can be recomputed exactly).
    let want_g = bce(&fake, 1.0);
    assert!((losses.generator - want_g).abs() < 1e-5, "{} vs {want_g}", losses.generator);
}

#[test]
fn a_generator_step_moves_only_the_generator_and_reports_its_loss() {
    let mut rng = Rng::new(10);
    let g = mlp_generator(4, &mut rng).unwrap();
    let d = mlp_discriminator(0.0, 0, &mut rng).unwrap();
    let z = noise(&[6, 4], 11);
    let ones = Var::constant(Tensor::full(&[6, 1], 1.0, DType::F32));
    let d_of = |x: &Var| d.forward(x).unwrap();
    let want = binary_cross_entropy_with_logits(&d_of(&g.forward(&z).unwrap()), &ones, Reduction::Mean).unwrap();
    let (g_before, d_before): (Vec<Vec<f64>>, Vec<Vec<f64>>) = (
        g.parameters().iter().map(|p| vals(&p.value())).collect(),
        d.parameters().iter().map(|p| vals(&p.value())).collect(),
    );
    let mut opt_g = Sgd::new(g.parameters(), SgdConfig { lr: 0.1, ..Default::default() }).unwrap();
    let loss = generator_step(&g, &d, &mut opt_g, &z).unwrap();
    assert!((loss - want.value().item().unwrap()).abs() < 1e-6);
    for (i, (b, p)) in g_before.iter().zip(g.parameters()).enumerate() {
        assert_ne!(b, &vals(&p.value()), "generator parameter {i} did not move");
    }
    for (i, (b, p)) in d_before.iter().zip(d.parameters()).enumerate() {
        assert_eq!(b, &vals(&p.value()), "discriminator parameter {i} moved");
    }
}
