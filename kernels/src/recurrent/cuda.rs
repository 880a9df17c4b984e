//! CUDA launchers for `recurrent.cu`: the fused per-step passes of the LSTM, the GRU and the
//! Elman RNN, forward and backward. The time loops and the per-step products run in the tensor
//! layer (`Tensor::lstm_forward`, `gru_forward`, `rnn_forward` and their backwards), which
//! call these once per step.

use super::Recurrence;
use crate::cuda::{grid_for, launch, GpuBuffer, GpuError, GpuFloat};

/// The sizes as the kernels take them, after checking every buffer's length and that the
/// indices fit in 32 bits.
fn sizes<T: GpuFloat>(
    kernel: &'static str,
    r: Recurrence,
    t: usize,
    prev: Option<usize>,
    buffers: &[(&GpuBuffer<T>, usize)],
) -> Result<[i32; 5], GpuError> {
    let invalid = |message: String| GpuError::Invalid { kernel, message };
    let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
    if t >= s || prev.is_some_and(|p| p >= s || p == t) {
        return Err(invalid(format!("step {t} (after {prev:?}) of {s}")));
    }
    if [b, s, 4 * h, b * s].iter().any(|&v| v > i32::MAX as usize) {
        return Err(invalid(format!("sizes {r:?} exceed 32-bit indices")));
    }
    for (buf, need) in buffers {
        if buf.len() < *need {
            return Err(invalid(format!("a buffer of {} values, {need} needed", buf.len())));
        }
    }
    Ok([b as i32, s as i32, h as i32, t as i32, prev.map_or(-1, |p| p as i32)])
}

/// Step `t` of an LSTM forward pass, after the state of step `prev` (`None`: `c0`): reads
/// `xproj [B, S, 4H]` and `rec = h_prev·W_hhᵀ [B, 4H]`, writes `h_t`, `c_t` into `states
/// [2, B, S, H]` and the activated gates into `gates [B, S, 4H]`.
#[allow(clippy::too_many_arguments)]
pub fn lstm_step_forward<T: GpuFloat>(
    states: &mut GpuBuffer<T>,
    gates: &mut GpuBuffer<T>,
    xproj: &GpuBuffer<T>,
    rec: &GpuBuffer<T>,
    c0: &GpuBuffer<T>,
    r: Recurrence,
    t: usize,
    prev: Option<usize>,
) -> Result<(), GpuError> {
    let kernel = "lstm_step_forward";
    let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
    let [bi, si, hi, ti, pi] = sizes(
        kernel,
        r,
        t,
        prev,
        &[(states, 2 * b * s * h), (gates, b * s * 4 * h), (xproj, b * s * 4 * h), (rec, b * 4 * h), (c0, b * h)],
    )?;
    if b * h == 0 {
        return Ok(());
    }
    let gpu = xproj.gpu().clone();
    let (mut vs, mut vg, vx, vr, vc) = (states.view_mut(), gates.view_mut(), xproj.view(), rec.view(), c0.view());
    // SAFETY: `lstm_step_forward_<T>(T* states, T* gates, const T* xproj, const T* rec, const T*
    // c0, int B, int S, int H, int t, int prev)`; every buffer holds its documented length
    // (checked by `sizes`), t and prev are steps of the run, so every index is inside.
    unsafe {
        launch!(
            gpu,
            "recurrent",
            format!("{kernel}_{}", T::SUFFIX),
            grid_for(b * h, 65_535),
            [&mut vs, &mut vg, &vx, &vr, &vc, &bi, &si, &hi, &ti, &pi]
        )
    }
}

/// Step `t` of an LSTM backward pass: writes the gates' pre-activation gradients of step `t`
/// into `dxproj [B, S, 4H]` and overwrites `dc [B, H]` (the gradient reaching `c_t` from step
/// t+1) with the one reaching `c_prev`. `dh_next [B, H]` is the gradient reaching `h_t` from
/// step t+1, `grad` is `∂L/∂states [2, B, S, H]`.
#[allow(clippy::too_many_arguments)]
pub fn lstm_step_backward<T: GpuFloat>(
    dxproj: &mut GpuBuffer<T>,
    dc: &mut GpuBuffer<T>,
    dh_next: &GpuBuffer<T>,
    gates: &GpuBuffer<T>,
    states: &GpuBuffer<T>,
    c0: &GpuBuffer<T>,
    grad: &GpuBuffer<T>,
    r: Recurrence,
    t: usize,
    prev: Option<usize>,
) -> Result<(), GpuError> {
    let kernel = "lstm_step_backward";
    let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
    let checks = [
        (&*dxproj, b * s * 4 * h),
        (&*dc, b * h),
        (dh_next, b * h),
        (gates, b * s * 4 * h),
        (states, 2 * b * s * h),
        (c0, b * h),
        (grad, 2 * b * s * h),
    ];
    let [bi, si, hi, ti, pi] = sizes(kernel, r, t, prev, &checks)?;
    if b * h == 0 {
        return Ok(());
    }
    let gpu = states.gpu().clone();
    let (mut vd, mut vc, vh, vg, vs, vc0, vgr) =
        (dxproj.view_mut(), dc.view_mut(), dh_next.view(), gates.view(), states.view(), c0.view(), grad.view());
    // SAFETY: `lstm_step_backward_<T>(T* dxproj, T* dc, const T* dh_next, const T* gates, const
    // T* states, const T* c0, const T* grad, int B, int S, int H, int t, int prev)`; every buffer
    // holds its documented length (checked by `sizes`), t and prev are steps of the run.
    unsafe {
        launch!(
            gpu,
            "recurrent",
            format!("{kernel}_{}", T::SUFFIX),
            grid_for(b * h, 65_535),
            [&mut vd, &mut vc, &vh, &vg, &vs, &vc0, &vgr, &bi, &si, &hi, &ti, &pi]
        )
    }
}

/// Step `t` of a GRU forward pass, after step `prev` (`None`: `h0`): reads `xproj [B, S, 3H]`,
/// `rec = h_prev·W_hhᵀ [B, 3H]` (no bias) and `b_hh [3H]`; writes `h_t` into `out [B, S, H]`
/// and `[r, z, n, u_n]` into `saved [B, S, 4H]`.
#[allow(clippy::too_many_arguments)]
pub fn gru_step_forward<T: GpuFloat>(
    out: &mut GpuBuffer<T>,
    saved: &mut GpuBuffer<T>,
    xproj: &GpuBuffer<T>,
    rec: &GpuBuffer<T>,
    b_hh: &GpuBuffer<T>,
    h0: &GpuBuffer<T>,
    r: Recurrence,
    t: usize,
    prev: Option<usize>,
) -> Result<(), GpuError> {
    let kernel = "gru_step_forward";
    let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
    let checks = [
        (&*out, b * s * h),
        (&*saved, b * s * 4 * h),
        (xproj, b * s * 3 * h),
        (rec, b * 3 * h),
        (b_hh, 3 * h),
        (h0, b * h),
    ];
    let [bi, si, hi, ti, pi] = sizes(kernel, r, t, prev, &checks)?;
    if b * h == 0 {
        return Ok(());
    }
    let gpu = xproj.gpu().clone();
    let (mut vo, mut vs, vx, vr, vb, vh) =
        (out.view_mut(), saved.view_mut(), xproj.view(), rec.view(), b_hh.view(), h0.view());
    // SAFETY: `gru_step_forward_<T>(T* out, T* saved, const T* xproj, const T* rec, const T*
    // b_hh, const T* h0, int B, int S, int H, int t, int prev)`; every buffer holds its
    // documented length (checked by `sizes`), t and prev are steps of the run.
    unsafe {
        launch!(
            gpu,
            "recurrent",
            format!("{kernel}_{}", T::SUFFIX),
            grid_for(b * h, 65_535),
            [&mut vo, &mut vs, &vx, &vr, &vb, &vh, &bi, &si, &hi, &ti, &pi]
        )
    }
}

/// Step `t` of a GRU backward pass: writes step `t`'s rows of `dxproj` and `du` (`[B, S, 3H]`,
/// the gradient of `u = h_prev·W_hhᵀ + b_hh`) and replaces `dh [B, H]` (the direct part of the
/// gradient reaching `h_t` from step t+1) with the direct part reaching `h_prev`; `through [B,
/// H]` is step t+1's `∂u·W_hh`, `grad` is `∂L/∂out [B, S, H]`.
#[allow(clippy::too_many_arguments)]
pub fn gru_step_backward<T: GpuFloat>(
    dxproj: &mut GpuBuffer<T>,
    du: &mut GpuBuffer<T>,
    dh: &mut GpuBuffer<T>,
    through: &GpuBuffer<T>,
    saved: &GpuBuffer<T>,
    out: &GpuBuffer<T>,
    h0: &GpuBuffer<T>,
    grad: &GpuBuffer<T>,
    r: Recurrence,
    t: usize,
    prev: Option<usize>,
) -> Result<(), GpuError> {
    let kernel = "gru_step_backward";
    let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
    let checks = [
        (&*dxproj, b * s * 3 * h),
        (&*du, b * s * 3 * h),
        (&*dh, b * h),
        (through, b * h),
        (saved, b * s * 4 * h),
        (out, b * s * h),
        (h0, b * h),
        (grad, b * s * h),
    ];
    let [bi, si, hi, ti, pi] = sizes(kernel, r, t, prev, &checks)?;
    if b * h == 0 {
        return Ok(());
    }
    let gpu = out.gpu().clone();
    let (mut vx, mut vu, mut vd) = (dxproj.view_mut(), du.view_mut(), dh.view_mut());
    let (vt, vs, vo, vh, vg) = (through.view(), saved.view(), out.view(), h0.view(), grad.view());
    // SAFETY: `gru_step_backward_<T>(T* dxproj, T* du, T* dh, const T* through, const T* saved,
    // const T* out, const T* h0, const T* grad, int B, int S, int H, int t, int prev)`; every
    // buffer holds its documented length (checked by `sizes`), t and prev are steps of the run.
    unsafe {
        launch!(
            gpu,
            "recurrent",
            format!("{kernel}_{}", T::SUFFIX),
            grid_for(b * h, 65_535),
            [&mut vx, &mut vu, &mut vd, &vt, &vs, &vo, &vh, &vg, &bi, &si, &hi, &ti, &pi]
        )
    }
}

/// Step `t` of an Elman RNN: `out[:, t] = tanh(xproj[:, t] + rec)` with `rec = h_prev·W_hhᵀ`.
pub fn rnn_step_forward<T: GpuFloat>(
    out: &mut GpuBuffer<T>,
    xproj: &GpuBuffer<T>,
    rec: &GpuBuffer<T>,
    r: Recurrence,
    t: usize,
) -> Result<(), GpuError> {
    let kernel = "rnn_step_forward";
    let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
    let [bi, si, hi, ti, _] = sizes(kernel, r, t, None, &[(&*out, b * s * h), (xproj, b * s * h), (rec, b * h)])?;
    if b * h == 0 {
        return Ok(());
    }
    let gpu = xproj.gpu().clone();
    let (mut vo, vx, vr) = (out.view_mut(), xproj.view(), rec.view());
    // SAFETY: `rnn_step_forward_<T>(T* out, const T* xproj, const T* rec, int B, int S, int H,
    // int t)`; the buffers hold their documented lengths (checked by `sizes`), t < S.
    unsafe {
        launch!(
            gpu,
            "recurrent",
            format!("{kernel}_{}", T::SUFFIX),
            grid_for(b * h, 65_535),
            [&mut vo, &vx, &vr, &bi, &si, &hi, &ti]
        )
    }
}

/// Step `t` of an Elman RNN's backward pass: `dxproj[:, t] = (grad[:, t] + dh)·(1 − out[:, t]²)`,
/// with `dh [B, H]` the gradient reaching `h_t` from step t+1.
pub fn rnn_step_backward<T: GpuFloat>(
    dxproj: &mut GpuBuffer<T>,
    out: &GpuBuffer<T>,
    grad: &GpuBuffer<T>,
    dh: &GpuBuffer<T>,
    r: Recurrence,
    t: usize,
) -> Result<(), GpuError> {
    let kernel = "rnn_step_backward";
    let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
    let checks = [(&*dxproj, b * s * h), (out, b * s * h), (grad, b * s * h), (dh, b * h)];
    let [bi, si, hi, ti, _] = sizes(kernel, r, t, None, &checks)?;
    if b * h == 0 {
        return Ok(());
    }
    let gpu = out.gpu().clone();
    let (mut vx, vo, vg, vd) = (dxproj.view_mut(), out.view(), grad.view(), dh.view());
    // SAFETY: `rnn_step_backward_<T>(T* dxproj, const T* out, const T* grad, const T* dh, int B,
    // int S, int H, int t)`; the buffers hold their documented lengths (checked by `sizes`), t < S.
    unsafe {
        launch!(
            gpu,
            "recurrent",
            format!("{kernel}_{}", T::SUFFIX),
            grid_for(b * h, 65_535),
            [&mut vx, &vo, &vg, &vd, &bi, &si, &hi, &ti]
        )
    }
}
