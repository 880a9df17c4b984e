//! The losses and layers are compositions of differentiable ops: check that their gradients and
//! second derivatives agree with finite differences, in f64.

use ferrograd::autograd::{GradcheckOptions, Tensor, Var};
use ferrograd::models::layers::{Linear, Sequential, Tanh};
use ferrograd::models::loss::{
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, gaussian_kl_divergence,
    gaussian_kl_divergence_between, mse_loss, reparameterize, Reduction,
};
use ferrograd::{gradcheck, gradgradcheck, DType, Module, Rng};
use proptest::prelude::*;

fn check(name: &str, f: impl Fn(&[Var]) -> ferrograd::Result<Var>, inputs: &[Tensor], seed: u64) {
    let opts = GradcheckOptions::default();
    let r = gradcheck(name, &f, inputs, opts).unwrap();
    assert!(r.passed, "{r}");
    let r = gradgradcheck(name, &f, inputs, opts, seed).unwrap();
    assert!(r.passed, "{r}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn cross_entropy_gradients(batch in 1usize..5, classes in 2usize..6, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let logits = rng.normal_tensor(&[batch, classes], 0.0, 2.0, DType::F64).unwrap();
        let targets = rng.randint(&[batch], classes as u64).unwrap();
        check("cross_entropy", |v| cross_entropy(&v[0], &targets), &[logits], seed);
    }

    #[test]
    fn bce_and_mse_gradients(n in 1usize..8, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        // Logits at least 0.1 from 0 (|x| has a kink there, though the loss itself is smooth).
        let logits = rng.uniform_tensor(&[n], 0.1, 3.0, DType::F64).unwrap()
            .mul(&rng.randint(&[n], 2).unwrap().to_dtype(DType::F64).unwrap().mul_scalar(2.0).unwrap().add_scalar(-1.0).unwrap())
            .unwrap();
        let targets = rng.uniform_tensor(&[n], 0.0, 1.0, DType::F64).unwrap();
        check("bce_with_logits", |v| binary_cross_entropy_with_logits(&v[0], &v[1], Reduction::Mean), &[logits.clone(), targets.clone()], seed);
        check("mse", |v| mse_loss(&v[0], &v[1]), &[logits, targets], seed);
    }

    #[test]
    fn bce_on_probabilities_gradients(
        rows in 1usize..4, cols in 1usize..5, sum in any::<bool>(), seed in any::<u64>()
    ) {
        let mut rng = Rng::new(seed);
        // Probabilities in [0.05, 0.95]: inside the clamp, where ln p and ln(1 − p) are smooth
        // and a step of 1e-6 stays in (0, 1).
        let probs = rng.uniform_tensor(&[rows, cols], 0.05, 0.95, DType::F64).unwrap();
        let targets = rng.uniform_tensor(&[rows, cols], 0.0, 1.0, DType::F64).unwrap();
        let reduction = if sum { Reduction::Sum } else { Reduction::Mean };
        check("bce", |v| binary_cross_entropy(&v[0], &v[1], reduction), &[probs.clone(), targets.clone()], seed);
        check("bce_none", |v| binary_cross_entropy(&v[0], &v[1], Reduction::None), &[probs, targets], seed);
    }

    #[test]
    fn gaussian_kl_and_reparameterisation_gradients(batch in 1usize..4, latent in 1usize..5, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let shape = [batch, latent];
        let mean = rng.normal_tensor(&shape, 0.0, 1.0, DType::F64).unwrap();
        let log_var = rng.normal_tensor(&shape, 0.0, 1.0, DType::F64).unwrap();
        let p_mean = rng.normal_tensor(&shape, 0.0, 1.0, DType::F64).unwrap();
        let p_log_var = rng.normal_tensor(&shape, 0.0, 1.0, DType::F64).unwrap();
        check("gaussian_kl", |v| gaussian_kl_divergence(&v[0], &v[1], Reduction::Sum), &[mean.clone(), log_var.clone()], seed);
        check(
            "gaussian_kl_between",
            |v| gaussian_kl_divergence_between((&v[0], &v[1]), (&v[2], &v[3]), Reduction::Mean),
            &[mean.clone(), log_var.clone(), p_mean, p_log_var],
            seed,
        );
        // The same noise at every evaluation (a fresh generator with one seed): z is then a
        // smooth function of μ and log σ², which the finite differences probe.
        let noise_seed = seed ^ 0x5EED;
        check(
            "reparameterize",
            |v| reparameterize(&v[0], &v[1], &mut Rng::new(noise_seed)),
            &[mean, log_var],
            seed,
        );
    }
}

#[test]
fn two_layer_network_gradients() {
    // Gradients with respect to the input of a small network with fixed f64 weights.
    let mut rng = Rng::new(7);
    let net = Sequential::new()
        .add(Linear::new(3, 4, true, DType::F64, &mut rng).unwrap())
        .add(Tanh)
        .add(Linear::new(4, 2, true, DType::F64, &mut rng).unwrap());
    let x = rng.normal_tensor(&[5, 3], 0.0, 1.0, DType::F64).unwrap();
    check("mlp(x)", |v| net.forward(&v[0]), &[x], 7);
}

#[test]
fn cross_entropy_is_stable_for_huge_logits() {
    let logits = Var::parameter(Tensor::from_vec(vec![1000.0f32, 0.0, -1000.0], &[1, 3]).unwrap());
    let loss = cross_entropy(&logits, &Tensor::from_vec(vec![0i64], &[1]).unwrap()).unwrap();
    assert_eq!(loss.value().item().unwrap(), 0.0);
    loss.backward().unwrap();
    assert!(logits.grad().unwrap().to_vec::<f32>().unwrap().iter().all(|g| g.is_finite()));
}

#[test]
fn bce_gradient_at_a_zero_logit_is_sigmoid_minus_target() {
    // At x = 0 the gradient is σ(0) − y = 0.5 − y (per element, divided by n for the mean).
    let x = Var::parameter(Tensor::from_vec(vec![0.0f64, 0.0], &[2]).unwrap());
    let y = Var::constant(Tensor::from_vec(vec![0.0f64, 1.0], &[2]).unwrap());
    binary_cross_entropy_with_logits(&x, &y, Reduction::Mean).unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![0.25, -0.25]);
}

#[test]
fn cross_entropy_rejects_a_target_out_of_range() {
    let logits = Var::parameter(Tensor::zeros(&[2, 3], DType::F32));
    let e = cross_entropy(&logits, &Tensor::from_vec(vec![0i64, 3], &[2]).unwrap()).unwrap_err();
    assert_eq!(e, ferrograd::Error::IndexOutOfRange { op: "cross_entropy", index: 3, size: 3 });
}
