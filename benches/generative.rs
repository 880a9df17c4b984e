//! Criterion benchmark of one DCGAN training step (both networks, batch 64: the `dcgan`
//! example's defaults), the unit of the DCGAN's time per epoch.
//!
//! ```text
//! cargo bench --bench generative
//! /work/torchenv/bin/python bench/pytorch_dcgan.py     # the same step in PyTorch, 2 threads
//! ```
//!
//! One epoch is 937 such steps (60,000 images, the last partial batch dropped).
//!
//! The `dcgan_layers` group times each layer alone (forward, then backward of the sum of its
//! output: input and parameter gradients), as `bench/pytorch_dcgan.py --layers` does.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrograd::models::layers::{BatchNorm, Conv2d, ConvTranspose2d, LeakyRelu, Relu, Sequential};
use ferrograd::models::optim::{Adam, AdamConfig};
use ferrograd::models::zoo::{dcgan_discriminator, dcgan_generator, dcgan_init, gan_train_step};
use ferrograd::tensor::Window;
use ferrograd::{DType, Module, Rng, Var};
use std::hint::black_box;
use std::time::Duration;

fn dcgan_step(c: &mut Criterion) {
    let (batch, latent, g_width, d_width) = (64, 64, 16, 32);
    let mut rng = Rng::new(1);
    let generator = dcgan_generator(latent, g_width, &mut rng).unwrap();
    let discriminator = dcgan_discriminator(d_width, 0.0, 2, &mut rng).unwrap();
    dcgan_init(&generator, &mut rng).unwrap();
    dcgan_init(&discriminator, &mut rng).unwrap();
    let adam = AdamConfig { lr: 2e-4, betas: (0.5, 0.999), ..Default::default() };
    let mut opt_g = Adam::new(generator.parameters(), adam).unwrap();
    let mut opt_d = Adam::new(discriminator.parameters(), adam).unwrap();
    let real = Var::constant(rng.uniform_tensor(&[batch, 1, 28, 28], -1.0, 1.0, DType::F32).unwrap());
    let mut g = c.benchmark_group("dcgan");
    g.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(8)).sample_size(20);
    g.throughput(Throughput::Elements(batch as u64));
    g.bench_function("train_step_b64", |b| {
        b.iter(|| {
            let noise = Var::constant(rng.normal_tensor(&[batch, latent], 0.0, 1.0, DType::F32).unwrap());
            black_box(gan_train_step(&generator, &discriminator, &mut opt_g, &mut opt_d, &real, &noise).unwrap())
        })
    });
    g.finish();
}

fn dcgan_layers(c: &mut Criterion) {
    let (batch, latent, w, dw) = (64, 64, 16, 32);
    let mut rng = Rng::new(2);
    let (none, up) = (Window::default(), Window::default().stride(2).padding(1));
    let f = DType::F32;
    let layers: Vec<(&str, Box<dyn Module>, [usize; 3])> = vec![
        (
            "g_convt_1_to_7",
            Box::new(ConvTranspose2d::new(latent, 4 * w, [7, 7], none, [0, 0], 1, false, f, &mut rng).unwrap()),
            [latent, 1, 1],
        ),
        (
            "g_convt_7_to_14",
            Box::new(ConvTranspose2d::new(4 * w, 2 * w, [4, 4], up, [0, 0], 1, false, f, &mut rng).unwrap()),
            [4 * w, 7, 7],
        ),
        (
            "g_convt_14_to_28",
            Box::new(ConvTranspose2d::new(2 * w, w, [4, 4], up, [0, 0], 1, false, f, &mut rng).unwrap()),
            [2 * w, 14, 14],
        ),
        (
            "g_conv_out_28",
            Box::new(Conv2d::new(w, 1, [3, 3], Window::default().padding(1), 1, true, f, &mut rng).unwrap()),
            [w, 28, 28],
        ),
        ("g_batchnorm_relu_28", Box::new(Sequential::new().add(BatchNorm::new(w, f)).add(Relu)), [w, 28, 28]),
        ("d_conv_28_to_14", Box::new(Conv2d::new(1, dw, [4, 4], up, 1, true, f, &mut rng).unwrap()), [1, 28, 28]),
        ("d_conv_14_to_7", Box::new(Conv2d::new(dw, 2 * dw, [4, 4], up, 1, false, f, &mut rng).unwrap()), [dw, 14, 14]),
        ("d_leaky_relu_14", Box::new(LeakyRelu(0.2)), [dw, 14, 14]),
    ];
    let mut g = c.benchmark_group("dcgan_layers");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    for (name, layer, [ch, h, wd]) in layers {
        let x = Var::parameter(rng.normal_tensor(&[batch, ch, h, wd], 0.0, 1.0, f).unwrap());
        g.bench_function(name, |b| {
            b.iter(|| {
                x.zero_grad();
                layer.zero_grad();
                layer.forward(&x).unwrap().sum_all().unwrap().backward().unwrap();
                black_box(x.grad())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, dcgan_step, dcgan_layers);
criterion_main!(benches);
