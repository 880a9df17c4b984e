//! A whole training step on the GPU against the same step on the CPU: the MLP of `mnist_mlp`
//! (Linear, ReLU, cross-entropy, Adam), moved with `Module::to_device`, must end each step with
//! the same loss and the same parameters. This is the path `mnist_mlp --device cuda` takes.
//!
//! Without the `cuda` feature or a GPU the GPU side is skipped (and said so); the test passes.

use ferrograd_autograd::{DType, Device, Error, Rng, Tensor, Var};
use ferrograd_models::layers::{Linear, Relu, Sequential};
use ferrograd_models::loss::cross_entropy;
use ferrograd_models::optim::{Adam, AdamConfig, Optimizer};
use ferrograd_models::Module;

fn gpu() -> Option<Device> {
    match Tensor::scalar(1.0f32).to_device(Device::Cuda(0)) {
        Ok(_) => Some(Device::Cuda(0)),
        Err(e @ Error::DeviceUnavailable { .. }) => {
            eprintln!("GPU side skipped: {e}");
            None
        }
        Err(e) => panic!("unexpected error probing the GPU: {e}"),
    }
}

/// Trains a fresh 20-32-5 MLP (same seed, so the same initial weights) for `steps` Adam steps on
/// `device`, and returns the loss of each step and the final parameters, on the host.
fn train(device: Device, x: &Tensor, y: &Tensor, steps: usize) -> (Vec<f64>, Vec<Vec<f32>>) {
    let mut rng = Rng::new(7);
    let model = Sequential::new()
        .add(Linear::new(20, 32, true, DType::F32, &mut rng).unwrap())
        .add(Relu)
        .add(Linear::new(32, 5, true, DType::F32, &mut rng).unwrap());
    model.to_device(device).unwrap();
    let mut opt = Adam::new(model.parameters(), AdamConfig { lr: 1e-2, ..Default::default() }).unwrap();
    let (x, y) = (Var::constant(x.to_device(device).unwrap()), y.to_device(device).unwrap());
    let mut losses = Vec::new();
    for _ in 0..steps {
        let loss = cross_entropy(&model.forward(&x).unwrap(), &y).unwrap();
        opt.zero_grad();
        loss.backward().unwrap();
        opt.step().unwrap();
        losses.push(loss.value().item().unwrap());
    }
    let params = model
        .parameters()
        .iter()
        .map(|p| {
            assert_eq!(p.value().device(), device, "a parameter left the device");
            p.value().to_vec::<f32>().unwrap()
        })
        .collect();
    (losses, params)
}

/// Five steps on a batch of 16. The two devices sum the products in another order, so each f32
/// value differs by a few roundings per step; Adam divides by √v, which can amplify a small
/// gradient difference for a parameter whose gradient is tiny, so parameters are compared to
/// 1e-4 of the largest magnitude of their tensor (each step moves a parameter by at most
/// lr = 1e-2, and the tolerance is 1 % of one step).
#[test]
fn mlp_training_steps_agree() {
    let mut rng = Rng::new(11);
    let x = rng.normal_tensor(&[16, 20], 0.0, 1.0, DType::F32).unwrap();
    let labels: Vec<i64> = (0..16).map(|i| (i * 7 % 5) as i64).collect();
    let y = Tensor::from_vec(labels, &[16]).unwrap();
    let (cpu_losses, cpu_params) = train(Device::Cpu, &x, &y, 5);
    assert!(cpu_losses[4] < cpu_losses[0], "the CPU run does not learn: {cpu_losses:?}");
    let Some(device) = gpu() else { return };
    let (gpu_losses, gpu_params) = train(device, &x, &y, 5);
    for (step, (g, c)) in gpu_losses.iter().zip(&cpu_losses).enumerate() {
        assert!((g - c).abs() <= 1e-5 * c.abs(), "step {step}: loss {g} on {device}, {c} on the CPU");
    }
    for (p, (g, c)) in gpu_params.iter().zip(&cpu_params).enumerate() {
        let scale = c.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in g.iter().zip(c).enumerate() {
            assert!((a - b).abs() <= 1e-4 * scale, "param {p}[{i}]: {a} on {device}, {b} on the CPU");
        }
    }
}
