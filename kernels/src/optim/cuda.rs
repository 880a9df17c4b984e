//! CUDA launchers for `optim.cu`: fused, in-place optimizer steps.

use super::{AdamParams, SgdParams};
use crate::cuda::{grid_for, launch, GpuBuffer, GpuError, GpuFloat};

fn check_lengths(kernel: &'static str, lens: &[usize]) -> Result<(), GpuError> {
    if lens.windows(2).any(|w| w[0] != w[1]) {
        return Err(GpuError::Invalid {
            kernel,
            message: format!("parameter, gradient and state lengths differ: {lens:?}"),
        });
    }
    Ok(())
}

/// One Adam/AdamW step in place on the device (the twin of [`super::adam_step`], same formula).
pub fn adam_step<T: GpuFloat>(
    p: &mut GpuBuffer<T>,
    g: &GpuBuffer<T>,
    m: &mut GpuBuffer<T>,
    v: &mut GpuBuffer<T>,
    h: AdamParams,
) -> Result<(), GpuError> {
    check_lengths("adam_step", &[p.len(), g.len(), m.len(), v.len()])?;
    if p.is_empty() {
        return Ok(());
    }
    let gpu = p.gpu().clone();
    let f = T::from_f64;
    let t = h.step.max(1) as i32;
    let (bc1, bc2) = (1.0 - h.beta1.powi(t), 1.0 - h.beta2.powi(t));
    let (b1, b2, step_size, inv_sqrt_bc2, eps) = (f(h.beta1), f(h.beta2), f(h.lr / bc1), f(1.0 / bc2.sqrt()), f(h.eps));
    let (one_b1, one_b2) = (f(1.0 - h.beta1), f(1.0 - h.beta2));
    let l2 = if h.decoupled { f(0.0) } else { f(h.weight_decay) };
    let shrink = if h.decoupled { f(1.0 - h.lr * h.weight_decay) } else { f(1.0) };
    let n = p.len() as i64;
    let cfg = grid_for(p.len(), 65_535);
    let (mut vp, vg, mut vm, mut vv) = (p.view_mut(), g.view(), m.view_mut(), v.view_mut());
    // SAFETY: `adam_<T>(T* p, const T* g, T* m, T* v, i64 n, T b1, T b2, T one_b1, T one_b2, T
    // step_size, T inv_sqrt_bc2, T eps, T l2, T shrink)`; all four buffers hold n values (checked
    // above).
    unsafe {
        launch!(
            gpu,
            "optim",
            format!("adam_{}", T::SUFFIX),
            cfg,
            [
                &mut vp,
                &vg,
                &mut vm,
                &mut vv,
                &n,
                &b1,
                &b2,
                &one_b1,
                &one_b2,
                &step_size,
                &inv_sqrt_bc2,
                &eps,
                &l2,
                &shrink
            ]
        )
    }
}

/// One SGD step in place on the device (the twin of [`super::sgd_step`]). `v` is read and written
/// only with momentum; without it any buffer (of any length) may be passed.
pub fn sgd_step<T: GpuFloat>(
    p: &mut GpuBuffer<T>,
    g: &GpuBuffer<T>,
    v: &mut GpuBuffer<T>,
    h: SgdParams,
) -> Result<(), GpuError> {
    let momentum = h.momentum != 0.0;
    check_lengths("sgd_step", &[p.len(), g.len()])?;
    if momentum {
        check_lengths("sgd_step", &[p.len(), v.len()])?;
    }
    if p.is_empty() {
        return Ok(());
    }
    let gpu = p.gpu().clone();
    let f = T::from_f64;
    let (lr, mu, damp, wd) = (f(h.lr), f(h.momentum), f(1.0 - h.dampening), f(h.weight_decay));
    let (use_m, nesterov, first) = (i32::from(momentum), i32::from(h.nesterov), i32::from(h.first_step));
    let n = p.len() as i64;
    let cfg = grid_for(p.len(), 65_535);
    let (mut vp, vg, mut vv) = (p.view_mut(), g.view(), v.view_mut());
    // SAFETY: `sgd_<T>(T* p, const T* g, T* v, i64 n, T lr, T mu, T damp, T wd, int momentum,
    // int nesterov, int first)`; p and g hold n values, and v does whenever the kernel reads it
    // (momentum on).
    unsafe {
        launch!(
            gpu,
            "optim",
            format!("sgd_{}", T::SUFFIX),
            cfg,
            [&mut vp, &vg, &mut vv, &n, &lr, &mu, &damp, &wd, &use_m, &nesterov, &first]
        )
    }
}
