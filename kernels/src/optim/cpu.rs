//! CPU optimizer kernels.

use crate::parallel::{chunk_len, PAR_MIN_ELEMS};
use crate::simd::vectorized;
use crate::Float;
use rayon::prelude::*;

/// Hyper-parameters of one SGD step.
#[derive(Clone, Copy, Debug)]
pub struct SgdParams {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0 disables the velocity buffer).
    pub momentum: f64,
    /// Dampening of the gradient added to the velocity.
    pub dampening: f64,
    /// L2 penalty added to the gradient (`g + wd·p`).
    pub weight_decay: f64,
    /// Nesterov momentum: step along `g + momentum·v` instead of `v`.
    pub nesterov: bool,
    /// Whether this is the first step (the velocity starts as the gradient, as in PyTorch).
    pub first_step: bool,
}

/// One SGD step in place:
/// `g ← g + wd·p;  v ← μ·v + (1−τ)·g  (v ← g on the first step);  d = nesterov ? g + μ·v : v;
/// p ← p − lr·d`.
pub fn sgd_step<T: Float>(p: &mut [T], g: &[T], v: &mut [T], h: SgdParams) {
    assert!(p.len() == g.len() && (h.momentum == 0.0 || v.len() == p.len()), "sgd_step: lengths");
    let f = T::from_f64;
    let (lr, mu, damp, wd) = (f(h.lr), f(h.momentum), f(T::ONE.to_f64() - h.dampening), f(h.weight_decay));
    let use_momentum = h.momentum != 0.0;
    let body = |p: &mut [T], g: &[T], v: &mut [T]| {
        vectorized(
            #[inline(always)]
            || {
                for i in 0..p.len() {
                    let gi = g[i] + wd * p[i];
                    let d = if use_momentum {
                        let vi = if h.first_step { gi } else { mu * v[i] + damp * gi };
                        v[i] = vi;
                        if h.nesterov {
                            gi + mu * vi
                        } else {
                            vi
                        }
                    } else {
                        gi
                    };
                    p[i] -= lr * d;
                }
            },
        )
    };
    if !use_momentum {
        // No velocity buffer: pass an empty one of matching chunking.
        let mut scratch = vec![T::ZERO; 0];
        par3(p, g, &mut scratch, false, body);
    } else {
        par3(p, g, v, true, body);
    }
}

/// Hyper-parameters of one Adam / AdamW step.
#[derive(Clone, Copy, Debug)]
pub struct AdamParams {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to `√v̂` in the denominator.
    pub eps: f64,
    /// Weight decay: L2 on the gradient (Adam) or decoupled (AdamW).
    pub weight_decay: f64,
    /// `true` for AdamW's decoupled decay `p ← p·(1 − lr·wd)`.
    pub decoupled: bool,
    /// The step number, from 1 (for bias correction).
    pub step: u64,
}

/// One Adam/AdamW step in place:
/// `g ← g + wd·p (Adam);  p ← p·(1 − lr·wd) (AdamW);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
/// p ← p − lr · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)`.
pub fn adam_step<T: Float>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], h: AdamParams) {
    assert!(p.len() == g.len() && p.len() == m.len() && p.len() == v.len(), "adam_step: lengths");
    let f = T::from_f64;
    let t = h.step.max(1) as i32;
    let bc1 = 1.0 - h.beta1.powi(t);
    let bc2 = 1.0 - h.beta2.powi(t);
    let (b1, b2, one_b1, one_b2) = (f(h.beta1), f(h.beta2), f(1.0 - h.beta1), f(1.0 - h.beta2));
    let step_size = f(h.lr / bc1);
    let inv_sqrt_bc2 = f(1.0 / bc2.sqrt());
    let eps = f(h.eps);
    let l2 = if h.decoupled { T::ZERO } else { f(h.weight_decay) };
    let shrink = if h.decoupled { f(1.0 - h.lr * h.weight_decay) } else { T::ONE };
    let run = |p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]| {
        vectorized(
            #[inline(always)]
            || {
                for i in 0..p.len() {
                    let gi = g[i] + l2 * p[i];
                    let mi = b1 * m[i] + one_b1 * gi;
                    let vi = b2 * v[i] + one_b2 * gi * gi;
                    m[i] = mi;
                    v[i] = vi;
                    p[i] = p[i] * shrink - step_size * mi / ((vi).sqrt() * inv_sqrt_bc2 + eps);
                }
            },
        )
    };
    if p.len() < PAR_MIN_ELEMS {
        run(p, g, m, v);
    } else {
        let c = chunk_len(p.len());
        p.par_chunks_mut(c)
            .zip(g.par_chunks(c))
            .zip(m.par_chunks_mut(c))
            .zip(v.par_chunks_mut(c))
            .for_each(|(((p, g), m), v)| run(p, g, m, v));
    }
}

/// Runs `body(p, g, v)` over matching chunks, in parallel when large. When `has_v` is false, `v`
/// is empty and each call gets an empty slice.
fn par3<T: Float>(p: &mut [T], g: &[T], v: &mut [T], has_v: bool, body: impl Fn(&mut [T], &[T], &mut [T]) + Sync) {
    if p.len() < PAR_MIN_ELEMS {
        body(p, g, v);
        return;
    }
    let c = chunk_len(p.len());
    if has_v {
        p.par_chunks_mut(c).zip(g.par_chunks(c)).zip(v.par_chunks_mut(c)).for_each(|((p, g), v)| body(p, g, v));
    } else {
        p.par_chunks_mut(c).zip(g.par_chunks(c)).for_each(|(p, g)| body(p, g, &mut []));
    }
}
