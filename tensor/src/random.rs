//! Seeded random numbers: reproducible across runs and machines.
//!
//! The generator is xoshiro256++ (Blackman & Vigna), seeded through SplitMix64 as its authors
//! recommend. It is small, fast and statistically solid; we write it here (20 lines) rather than
//! depend on a crate whose stream could change between versions and break reproducibility.

use crate::{DType, Error, Result, Tensor};

/// A seeded pseudo-random generator.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole stream is determined by `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut split_mix = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng { s: [split_mix(), split_mix(), split_mix(), split_mix()] }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal, by the Box–Muller transform.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // in (0, 1], so ln is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform integer in `0..n` (`n > 0`), without modulo bias (Lemire's method).
    pub fn below(&mut self, n: u64) -> u64 {
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// A uniformly random permutation of `0..n` (Fisher–Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            p.swap(i, self.below(i as u64 + 1) as usize);
        }
        p
    }

    /// Fills `n` values drawn from `draw` into a tensor of `shape` and `dtype`.
    fn tensor(&mut self, shape: &[usize], dtype: DType, mut draw: impl FnMut(&mut Rng) -> f64) -> Result<Tensor> {
        let n = crate::checked_numel("random", shape)?;
        match dtype {
            DType::F32 => Tensor::from_vec((0..n).map(|_| draw(self) as f32).collect(), shape),
            DType::F64 => Tensor::from_vec((0..n).map(|_| draw(self)).collect(), shape),
            DType::I64 => Err(Error::UnsupportedDType { op: "random", dtype }),
        }
    }

    /// Uniform values in `[lo, hi)`.
    pub fn uniform_tensor(&mut self, shape: &[usize], lo: f64, hi: f64, dtype: DType) -> Result<Tensor> {
        self.tensor(shape, dtype, |r| lo + (hi - lo) * r.uniform())
    }

    /// Normal values with mean `mean` and standard deviation `std`.
    pub fn normal_tensor(&mut self, shape: &[usize], mean: f64, std: f64, dtype: DType) -> Result<Tensor> {
        self.tensor(shape, dtype, |r| mean + std * r.normal())
    }

    /// Random `i64` values in `0..high`.
    pub fn randint(&mut self, shape: &[usize], high: u64) -> Result<Tensor> {
        if high == 0 {
            return Err(Error::invalid("randint", "high must be positive"));
        }
        let n = crate::checked_numel("randint", shape)?;
        Tensor::from_vec((0..n).map(|_| self.below(high) as i64).collect(), shape)
    }

    /// Kaiming (He) uniform initialisation for a layer with `fan_in` inputs followed by ReLU:
    /// `U(−b, b)` with `b = gain · √(3 / fan_in)`, `gain = √2`. (PyTorch's `nn.Linear` default uses
    /// `a = √5`, i.e. `b = 1/√fan_in`; see [`Rng::linear_init`].)
    pub fn kaiming_uniform(&mut self, shape: &[usize], fan_in: usize, dtype: DType) -> Result<Tensor> {
        let bound = (2.0f64).sqrt() * (3.0 / fan_in.max(1) as f64).sqrt();
        self.uniform_tensor(shape, -bound, bound, dtype)
    }

    /// Kaiming (He) normal initialisation: `N(0, 2 / fan_in)`.
    pub fn kaiming_normal(&mut self, shape: &[usize], fan_in: usize, dtype: DType) -> Result<Tensor> {
        self.normal_tensor(shape, 0.0, (2.0 / fan_in.max(1) as f64).sqrt(), dtype)
    }

    /// Xavier (Glorot) uniform initialisation: `U(−b, b)`, `b = √(6 / (fan_in + fan_out))`.
    pub fn xavier_uniform(&mut self, shape: &[usize], fan_in: usize, fan_out: usize, dtype: DType) -> Result<Tensor> {
        let bound = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt();
        self.uniform_tensor(shape, -bound, bound, dtype)
    }

    /// Xavier (Glorot) normal initialisation: `N(0, 2 / (fan_in + fan_out))`.
    pub fn xavier_normal(&mut self, shape: &[usize], fan_in: usize, fan_out: usize, dtype: DType) -> Result<Tensor> {
        self.normal_tensor(shape, 0.0, (2.0 / (fan_in + fan_out).max(1) as f64).sqrt(), dtype)
    }

    /// PyTorch's default for `nn.Linear` weights and biases: `U(−1/√fan_in, 1/√fan_in)`.
    pub fn linear_init(&mut self, shape: &[usize], fan_in: usize, dtype: DType) -> Result<Tensor> {
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        self.uniform_tensor(shape, -bound, bound, dtype)
    }
}

impl Tensor {
    /// Standard normal values in a new tensor with this one's shape, dtype and device (PyTorch's
    /// `torch.randn_like`), drawn from `rng`. The noise `ε` of the reparameterisation trick
    /// `z = μ + σ·ε`: it is a constant, so gradients flow to `μ` and `σ` only.
    pub fn randn_like(&self, rng: &mut Rng) -> Result<Tensor> {
        rng.normal_tensor(self.shape(), 0.0, 1.0, self.dtype())?.to_device(self.device())
    }

    /// Uniform values in `[0, 1)` in a new tensor with this one's shape, dtype and device
    /// (`torch.rand_like`), drawn from `rng`.
    pub fn rand_like(&self, rng: &mut Rng) -> Result<Tensor> {
        rng.uniform_tensor(self.shape(), 0.0, 1.0, self.dtype())?.to_device(self.device())
    }
}
