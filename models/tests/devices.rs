//! Whole training steps on the GPU against the same steps on the CPU: the networks of
//! `mnist_mlp` (Linear, ReLU) and `mnist_cnn` (Conv2d, MaxPool2d, Flatten, Dropout), with
//! cross-entropy and Adam, moved with `Module::to_device`, must end each step with the same loss
//! and the same parameters. This is the path `--device cuda` takes in those examples.
//!
//! Without the `cuda` feature or a GPU the GPU side is skipped (and said so); the test passes.

use ferrograd_autograd::{DType, Device, Error, Rng, Tensor, Var, Window};
use ferrograd_models::layers::{
    BatchNorm, Conv2d, Embedding, Flatten, LeakyRelu, Linear, Recurrent, RecurrentConfig, Relu, Sequential,
    SinusoidalPositionalEncoding, TransformerBlock, TransformerConfig,
};
use ferrograd_models::loss::cross_entropy;
use ferrograd_models::optim::{Adam, AdamConfig, Optimizer};
use ferrograd_models::{zoo, Module};

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

/// A 20-32-5 MLP, the same weights for the same seed.
fn mlp() -> Sequential {
    let mut rng = Rng::new(7);
    Sequential::new()
        .add(Linear::new(20, 32, true, DType::F32, &mut rng).unwrap())
        .add(Relu)
        .add(Linear::new(32, 5, true, DType::F32, &mut rng).unwrap())
}

/// Trains a fresh `model()` for `steps` Adam steps on `device`, and returns the loss of each
/// step and the final parameters, on the host, followed by the logits of `x` in evaluation mode
/// (which reads `BatchNorm`'s running statistics).
fn train(model: fn() -> Sequential, device: Device, x: &Tensor, y: &Tensor, steps: usize) -> (Vec<f64>, Vec<Vec<f32>>) {
    let model = model();
    model.to_device(device).unwrap();
    let mut opt = Adam::new(model.parameters(), AdamConfig { lr: 1e-3, ..Default::default() }).unwrap();
    let (x, y) = (Var::constant(x.to_device(device).unwrap()), y.to_device(device).unwrap());
    let mut losses = Vec::new();
    for _ in 0..steps {
        let loss = cross_entropy(&model.forward(&x).unwrap(), &y).unwrap();
        opt.zero_grad();
        loss.backward().unwrap();
        opt.step().unwrap();
        losses.push(loss.value().item().unwrap());
    }
    let mut params: Vec<Vec<f32>> = model
        .parameters()
        .iter()
        .map(|p| {
            assert_eq!(p.value().device(), device, "a parameter left the device");
            p.value().to_vec::<f32>().unwrap()
        })
        .collect();
    model.eval();
    params.push(model.forward(&x).unwrap().value().to_vec::<f32>().unwrap());
    (losses, params)
}

/// Five steps on a batch of 16. The two devices sum the products in another order, so each f32
/// value differs by a few roundings (relative ~1e-6) per step: the losses agree to 1e-5
/// relative. Adam moves each parameter by about lr·m̂/√v̂ ≤ lr = 1e-3 per step, a ratio that
/// carries the gradients' relative differences, amplified where a gradient is small against
/// its rounding errors; parameters are compared to 1e-4 of their tensor's largest magnitude
/// (3e-5 absolute for weights of magnitude 0.3: a few percent of one step).
#[test]
fn mlp_training_steps_agree() {
    let mut rng = Rng::new(11);
    let x = rng.normal_tensor(&[16, 20], 0.0, 1.0, DType::F32).unwrap();
    let labels: Vec<i64> = (0..16).map(|i| (i * 7 % 5) as i64).collect();
    let y = Tensor::from_vec(labels, &[16]).unwrap();
    agree(mlp, &x, &y, 5);
}

/// The `mnist_cnn` network (32 hidden units), three steps on 8 random 28×28 images: convolution
/// sums of up to 288 products and max pooling (ties are impossible with random values, so the
/// same element wins on both devices). Dropout draws its masks on the host from its own seed,
/// the same on both devices. Same tolerances as above.
#[test]
fn cnn_training_steps_agree() {
    let mut rng = Rng::new(12);
    let x = rng.normal_tensor(&[8, 1, 28, 28], 0.0, 1.0, DType::F32).unwrap();
    let y = Tensor::from_vec((0..8).map(|i| (i * 3 % 10) as i64).collect(), &[8]).unwrap();
    fn cnn() -> Sequential {
        zoo::mnist_cnn(32, 0.25, 3, &mut Rng::new(5)).unwrap()
    }
    agree(cnn, &x, &y, 3);
}

/// A strided convolution, batch norm and LeakyReLU, as in the DCGAN discriminator; its eval
/// logits check that the running statistics moved to the GPU and were updated there.
#[test]
fn batch_norm_training_steps_agree() {
    let mut rng = Rng::new(13);
    let x = rng.normal_tensor(&[8, 1, 9, 9], 0.0, 1.0, DType::F32).unwrap();
    let y = Tensor::from_vec((0..8).map(|i| (i % 5) as i64).collect(), &[8]).unwrap();
    fn net() -> Sequential {
        let mut rng = Rng::new(6);
        Sequential::new()
            .add(Conv2d::new(1, 4, [3, 3], Window::default().stride(2), 1, true, DType::F32, &mut rng).unwrap())
            .add(BatchNorm::new(4, DType::F32))
            .add(LeakyRelu(0.2))
            .add(Flatten)
            .add(Linear::new(64, 5, true, DType::F32, &mut rng).unwrap())
    }
    agree(net, &x, &y, 3);
}

/// Sequence models on token ids: an Embedding, then either a two-layer LSTM with dropout between
/// the layers (its time loop fused on both devices: per step one GEMM and one step kernel) or
/// sinusoidal positions and a causal Transformer block with dropout (attention composed from
/// elementary ops on the GPU, fused on the CPU; layer norm fused on both).
#[test]
fn sequence_training_steps_agree() {
    let mut rng = Rng::new(14);
    let ids = rng.randint(&[6, 7], 10).unwrap();
    let y = Tensor::from_vec((0..6).map(|i| (i % 5) as i64).collect(), &[6]).unwrap();
    fn lstm() -> Sequential {
        let mut rng = Rng::new(8);
        let cfg = RecurrentConfig { num_layers: 2, dropout: 0.2, seed: 1, ..RecurrentConfig::new(8, 12) };
        Sequential::new()
            .add(Embedding::new(10, 8, Some(0), DType::F32, &mut rng).unwrap())
            .add(Recurrent::lstm(cfg, DType::F32, &mut rng).unwrap())
            .add(Flatten)
            .add(Linear::new(7 * 12, 5, true, DType::F32, &mut rng).unwrap())
    }
    fn gpt() -> Sequential {
        let mut rng = Rng::new(9);
        let cfg = TransformerConfig { dropout: 0.1, seed: 2, ..TransformerConfig::decoder_only(8, 2) };
        Sequential::new()
            .add(Embedding::new(10, 8, None, DType::F32, &mut rng).unwrap())
            .add(SinusoidalPositionalEncoding::new(16, 8, DType::F32).unwrap())
            .add(TransformerBlock::new(cfg, DType::F32, &mut rng).unwrap())
            .add(Flatten)
            .add(Linear::new(7 * 8, 5, true, DType::F32, &mut rng).unwrap())
    }
    agree(lstm, &ids, &y, 3);
    agree(gpt, &ids, &y, 3);
}

/// Trains `model` on each device and compares the losses (1e-5 relative) and the parameters
/// (1e-4 of each tensor's largest magnitude; see `mlp_training_steps_agree`).
fn agree(model: fn() -> Sequential, x: &Tensor, y: &Tensor, steps: usize) {
    let (cpu_losses, cpu_params) = train(model, Device::Cpu, x, y, steps);
    assert!(cpu_losses[steps - 1] < cpu_losses[0], "the CPU run does not learn: {cpu_losses:?}");
    let Some(device) = gpu() else { return };
    let (gpu_losses, gpu_params) = train(model, device, x, y, steps);
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
