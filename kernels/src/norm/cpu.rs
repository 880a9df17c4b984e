//! CPU batch normalisation, fused: three passes forward and three backward, where the same maths
//! written with elementary ops takes about ten of each.
//!
//! With `M = N·S` values per channel, mean `μ`, population variance `σ²` and `r = 1/√(σ² + ε)`:
//! ```text
//! forward    x̂ = (x − μ)·r,   y = γ·x̂ + β
//! backward   ∂β = Σ g,   ∂γ = Σ g·x̂,   ∂x = γ·r·(g − ∂β/M − x̂·∂γ/M)
//! ```
//! The input gradient follows from differentiating `x̂` through `μ` and `r` as well as directly:
//! `∂x̂/∂x` has the identity part `r`, the mean part `−r/M` and the variance part `−x̂·x̂ᵀ·r/M`.
//!
//! Each pass is either a per-channel reduction (parallel over channels, reading a channel's
//! `N` rows of `S` values) or a per-row affine map `out = a·u + b·v + c` with per-channel
//! coefficients (parallel over rows). Row sums are taken in `T` with independent lanes ([`row_sum`]), and
//! added up over rows in `f64`.

use crate::parallel::{row_blocks, PAR_MIN_ELEMS};
use crate::simd::{row_sum, vectorized};
use crate::{Float, Slot};
use rayon::prelude::*;

/// The layout of batch-norm data: `n` samples of `c` channels of `s` values each (`[N, C, S]`,
/// dense, row-major).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelLayout {
    /// Samples (the batch).
    pub n: usize,
    /// Channels: one set of statistics each.
    pub c: usize,
    /// Values per sample and channel (`H·W`).
    pub s: usize,
}

impl ChannelLayout {
    /// Elements `N·C·S`.
    pub fn len(&self) -> usize {
        self.n * self.c * self.s
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values per channel, `M = N·S`.
    fn per_channel(&self) -> usize {
        self.n * self.s
    }
}

/// For every channel `ch`, `Σ_{n, j} f(u[n, ch, j], v[n, ch, j])` in `f64`, computed by
/// `per_channel(ch, sum)` into `out[ch]`; parallel over channels when the data is large.
fn channel_sums<T: Float>(lay: ChannelLayout, u: &[T], v: &[T], f: impl Fn(usize, T, T) -> T + Sync, out: &mut [f64]) {
    let one = |ch: usize, out: &mut f64| {
        *out = vectorized(
            #[inline(always)]
            || {
                (0..lay.n)
                    .map(|n| {
                        let at = (n * lay.c + ch) * lay.s;
                        row_sum(&u[at..at + lay.s], &v[at..at + lay.s], |a, b| f(ch, a, b)).to_f64()
                    })
                    .sum()
            },
        );
    };
    if lay.len() < PAR_MIN_ELEMS {
        out.iter_mut().enumerate().for_each(|(ch, o)| one(ch, o));
    } else {
        out.par_iter_mut().enumerate().for_each(|(ch, o)| one(ch, o));
    }
}

/// `out[n, ch, j] = a[ch]·u[n, ch, j] + b[ch]·(v[n, ch, j] − d[ch]) + c[ch]`, parallel over
/// rows. Writes every element of `out`. (`v − d` is centred before scaling, so that data with a
/// large mean `d` loses no digits.)
fn channel_affine<T: Float, O: Slot<T>>(lay: ChannelLayout, u: &[T], v: &[T], [a, b, d, c]: [&[T]; 4], out: &mut [O]) {
    row_blocks(out, lay.s, |row0, block| {
        vectorized(
            #[inline(always)]
            || {
                for (r, out) in block.chunks_exact_mut(lay.s).enumerate() {
                    let (row, ch) = (row0 + r, (row0 + r) % lay.c);
                    let (u, v) = (&u[row * lay.s..][..lay.s], &v[row * lay.s..][..lay.s]);
                    let (a, b, d, c) = (a[ch], b[ch], d[ch], c[ch]);
                    for ((o, &u), &v) in out.iter_mut().zip(u).zip(v) {
                        o.set(a * u + b * (v - d) + c);
                    }
                }
            },
        )
    });
}

/// Training-mode batch norm: `y = γ·(x − μ)·r + β` with the batch's per-channel mean `μ` and
/// population variance `σ²` (written to `mean` and `var`, each `[C]`) and `r = 1/√(σ² + eps)`.
/// `x` and `y` are `[N, C, S]` (every element of `y` written); `gamma`, `beta` are `[C]`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward<T: Float, O: Slot<T>>(
    x: &[T],
    lay: ChannelLayout,
    gamma: &[T],
    beta: &[T],
    eps: f64,
    y: &mut [O],
    mean: &mut [T],
    var: &mut [T],
) {
    let c = lay.c;
    assert!(x.len() == lay.len() && y.len() == lay.len(), "batch_norm: data length");
    assert!([gamma.len(), beta.len(), mean.len(), var.len()].iter().all(|&l| l == c), "batch_norm: per-channel length");
    let m = lay.per_channel().max(1) as f64;
    // Pass 1: the means. Pass 2: the variances about them (two passes, so that a large mean
    // does not cancel the variance's digits, as `E[x²] − μ²` would).
    let mut sums = vec![0.0f64; c];
    channel_sums(lay, x, x, |_, a, _| a, &mut sums);
    let mu: Vec<T> = sums.iter().map(|&s| T::from_f64(s / m)).collect();
    channel_sums(lay, x, x, |ch, a, _| (a - mu[ch]) * (a - mu[ch]), &mut sums);
    for ch in 0..c {
        mean[ch] = mu[ch];
        var[ch] = T::from_f64(sums[ch] / m);
    }
    // Pass 3: y = γ·r·(x − μ) + β.
    let scale: Vec<T> = (0..c).map(|ch| T::from_f64(gamma[ch].to_f64() / (var[ch].to_f64() + eps).sqrt())).collect();
    channel_affine(lay, x, x, [&vec![T::ZERO; c], &scale, &mu, beta], y);
}

/// The gradients of [`batch_norm_forward`] given `g = ∂L/∂y`, from the saved `mean` and `var`:
/// `∂β = Σ g`, `∂γ = Σ g·x̂` (into `gbeta`, `ggamma`, `[C]`) and
/// `∂x = γ·r·(g − ∂β/M − x̂·∂γ/M)` into `gx` (`[N, C, S]`, every element written).
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward<T: Float, O: Slot<T>>(
    x: &[T],
    g: &[T],
    lay: ChannelLayout,
    [gamma, mean, var]: [&[T]; 3],
    eps: f64,
    gx: &mut [O],
    ggamma: &mut [T],
    gbeta: &mut [T],
) {
    let c = lay.c;
    assert!(x.len() == lay.len() && g.len() == lay.len() && gx.len() == lay.len(), "batch_norm backward: data length");
    assert!(
        [gamma.len(), mean.len(), var.len(), ggamma.len(), gbeta.len()].iter().all(|&l| l == c),
        "batch_norm backward: per-channel length"
    );
    let m = lay.per_channel().max(1) as f64;
    let r: Vec<f64> = var.iter().map(|&v| 1.0 / (v.to_f64() + eps).sqrt()).collect();
    // Pass 1: ∂β = Σ g and Σ g·(x − μ) (= ∂γ / r).
    let (mut sum_g, mut sum_gxc) = (vec![0.0f64; c], vec![0.0f64; c]);
    channel_sums(lay, g, g, |_, a, _| a, &mut sum_g);
    channel_sums(lay, g, x, |ch, gv, xv| gv * (xv - mean[ch]), &mut sum_gxc);
    for ch in 0..c {
        gbeta[ch] = T::from_f64(sum_g[ch]);
        ggamma[ch] = T::from_f64(sum_gxc[ch] * r[ch]);
    }
    // Pass 2: ∂x = a·g + b·(x − μ) + k, expanding x̂ = (x − μ)·r:
    //   a = γ·r,   b = −γ·r³·Σg(x − μ)/M,   k = −a·Σg/M.
    let a: Vec<T> = (0..c).map(|ch| T::from_f64(gamma[ch].to_f64() * r[ch])).collect();
    let b: Vec<T> = (0..c).map(|ch| T::from_f64(-gamma[ch].to_f64() * r[ch].powi(3) * sum_gxc[ch] / m)).collect();
    let k: Vec<T> = (0..c).map(|ch| T::from_f64(-gamma[ch].to_f64() * r[ch] * sum_g[ch] / m)).collect();
    channel_affine(lay, g, x, [&a, &b, mean, &k], gx);
}
