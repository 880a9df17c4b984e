//! Criterion benchmark of one DCGAN training step (both networks, batch 64: the `dcgan`
//! example's defaults), the unit of the DCGAN's time per epoch.
//!
//! ```text
//! cargo bench --bench generative
//! /work/torchenv/bin/python bench/pytorch_dcgan.py     # the same step in PyTorch, 2 threads
//! ```
//!
//! One epoch is 937 such steps (60,000 images, the last partial batch dropped).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrograd::models::optim::{Adam, AdamConfig};
use ferrograd::models::zoo::{dcgan_discriminator, dcgan_generator, dcgan_init, gan_train_step};
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

criterion_group!(benches, dcgan_step);
criterion_main!(benches);
