//! Recurrences over whole sequences (Elman RNN, LSTM, GRU): forward, and the hand-derived
//! backward through time. The formulas are in `ferrograd_kernels::recurrent`.
//!
//! Every function takes the input projection `xproj = x · W_ihᵀ + b` for all time steps
//! (`[B, T, gates·H]`, computed by the caller as one matmul), the recurrent weight `w_hh
//! [gates·H, H]` and the initial state `[B, H]`. `reverse` runs from the last step to the first.

use crate::pool::{filled, overwritten};
use crate::tensor::with_float;
use crate::{Error, Result, Tensor};
use ferrograd_kernels::recurrent::{self, Recurrence};

/// Checks the operands of a recurrence with `gates` gates per hidden unit and returns its sizes.
fn recurrence(
    op: &'static str,
    gates: usize,
    xproj: &Tensor,
    w_hh: &Tensor,
    h0: &Tensor,
    reverse: bool,
) -> Result<Recurrence> {
    xproj.same_kind(w_hh, op)?;
    xproj.same_kind(h0, op)?;
    let [batch, steps, hidden] = Tensor::check_recurrence(op, gates, xproj.shape(), w_hh.shape(), h0.shape())?;
    Ok(Recurrence { batch, steps, hidden, reverse })
}

/// Checks that a tensor has the given shape (the other operands of a recurrence).
fn expect_shape(op: &'static str, what: &str, t: &Tensor, shape: &[usize]) -> Result<()> {
    if t.shape() == shape {
        Ok(())
    } else {
        Err(Error::shape(op, &[t.shape(), shape], format!("{what} must be {shape:?}")))
    }
}

/// The gradients of a recurrence's inputs.
#[derive(Debug)]
pub struct RecurrentGrads {
    /// `∂L/∂xproj`, `[B, T, gates·H]`: the gates' pre-activation gradients.
    pub xproj: Tensor,
    /// `∂L/∂W_hh`, `[gates·H, H]`.
    pub w_hh: Tensor,
    /// `∂L/∂b_hh`, `[gates·H]` (GRU only: the others fold their biases into `xproj`).
    pub b_hh: Option<Tensor>,
    /// `∂L/∂h0`, `[B, H]`.
    pub h0: Tensor,
    /// `∂L/∂c0`, `[B, H]` (LSTM only).
    pub c0: Option<Tensor>,
}

impl Tensor {
    /// Checks the shapes of a recurrence with `gates` gates per hidden unit (1 RNN, 4 LSTM, 3
    /// GRU): `xproj [B, T, gates·H]`, `w_hh [gates·H, H]`, initial state `[B, H]`. Returns
    /// `[B, T, H]`.
    pub fn check_recurrence(
        op: &'static str,
        gates: usize,
        xproj: &[usize],
        w_hh: &[usize],
        h0: &[usize],
    ) -> Result<[usize; 3]> {
        let bad = |why: String| Error::shape(op, &[xproj, w_hh, h0], why);
        if w_hh.len() != 2 || w_hh[0] != gates * w_hh[1] {
            return Err(bad(format!("w_hh must be [{gates}·H, H]")));
        }
        let hidden = w_hh[1];
        if xproj.len() != 3 || xproj[2] != gates * hidden {
            return Err(bad(format!("xproj must be [batch, steps, {}]", gates * hidden)));
        }
        if h0 != [xproj[0], hidden] {
            return Err(bad(format!("the initial state must be [{}, {hidden}]", xproj[0])));
        }
        Ok([xproj[0], xproj[1], hidden])
    }

    /// Elman RNN, `h_t = tanh(xproj_t + h_{t−1} · W_hhᵀ)` → every `h_t`, `[B, T, H]`.
    pub fn rnn_forward(xproj: &Tensor, w_hh: &Tensor, h0: &Tensor, reverse: bool) -> Result<Tensor> {
        let r = recurrence("rnn", 1, xproj, w_hh, h0, reverse)?;
        #[cfg(feature = "cuda")]
        if xproj.is_cuda() {
            return gpu_rnn_forward(r, xproj, w_hh, h0);
        }
        with_float!(xproj, "rnn", |T| {
            let mut out = overwritten(xproj.numel(), 0.0 as T);
            let (x, w, h) = (xproj.dense_data::<T>("rnn")?, w_hh.dense_data::<T>("rnn")?, h0.dense_data::<T>("rnn")?);
            recurrent::rnn_forward(r, &x, &w, &h, &mut out);
            Ok(Tensor::dense(out, xproj.shape().to_vec()))
        })
    }

    /// Backward of [`Tensor::rnn_forward`]: `out` is its result and `g = ∂L/∂out`.
    pub fn rnn_backward(w_hh: &Tensor, h0: &Tensor, out: &Tensor, g: &Tensor, reverse: bool) -> Result<RecurrentGrads> {
        let r = recurrence("rnn backward", 1, out, w_hh, h0, reverse)?;
        expect_shape("rnn backward", "g", g, out.shape())?;
        #[cfg(feature = "cuda")]
        if out.is_cuda() {
            out.same_kind(g, "rnn backward")?;
            return gpu_rnn_backward(r, w_hh, h0, out, g);
        }
        with_float!(out, "rnn backward", |T| {
            let op = "rnn backward";
            let (w, h, y, gy) =
                (w_hh.dense_data::<T>(op)?, h0.dense_data::<T>(op)?, out.dense_data::<T>(op)?, g.dense_data::<T>(op)?);
            let (mut dx, mut dw, mut dh) =
                (overwritten(out.numel(), 0.0 as T), filled(w_hh.numel(), 0.0 as T), filled(h0.numel(), 0.0 as T));
            recurrent::rnn_backward(r, &w, &h, &y, &gy, &mut dx, &mut dw, &mut dh);
            Ok(RecurrentGrads {
                xproj: Tensor::dense(dx, out.shape().to_vec()),
                w_hh: Tensor::dense(dw, w_hh.shape().to_vec()),
                b_hh: None,
                h0: Tensor::dense(dh, h0.shape().to_vec()),
                c0: None,
            })
        })
    }

    /// LSTM (gates i, f, g, o) → `(states, gates)`: `states [2, B, T, H]` holds every `h_t` and
    /// then every `c_t`; `gates [B, T, 4H]` the activated gates, which backward reads — kept only
    /// if `keep_gates` (inference needs none, and skips writing them).
    pub fn lstm_forward(
        xproj: &Tensor,
        w_hh: &Tensor,
        h0: &Tensor,
        c0: &Tensor,
        reverse: bool,
        keep_gates: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let r = recurrence("lstm", 4, xproj, w_hh, h0, reverse)?;
        expect_shape("lstm", "c0", c0, h0.shape())?;
        xproj.same_kind(c0, "lstm")?;
        let states_shape = vec![2, r.batch, r.steps, r.hidden];
        #[cfg(feature = "cuda")]
        if xproj.is_cuda() {
            return gpu_lstm_forward(r, xproj, w_hh, h0, c0, keep_gates);
        }
        with_float!(xproj, "lstm", |T| {
            let op = "lstm";
            let (x, w) = (xproj.dense_data::<T>(op)?, w_hh.dense_data::<T>(op)?);
            let (h, c) = (h0.dense_data::<T>(op)?, c0.dense_data::<T>(op)?);
            let mut states = overwritten(states_shape.iter().product(), 0.0 as T);
            let mut gates = keep_gates.then(|| overwritten(xproj.numel(), 0.0 as T));
            recurrent::lstm_forward(r, &x, &w, &h, &c, &mut states, gates.as_deref_mut());
            let gates = gates.map(|g| Tensor::dense(g, xproj.shape().to_vec()));
            Ok((Tensor::dense(states, states_shape), gates))
        })
    }

    /// Backward of [`Tensor::lstm_forward`]: `states` and `gates` are its results and
    /// `g = ∂L/∂states`.
    pub fn lstm_backward(
        w_hh: &Tensor,
        h0: &Tensor,
        c0: &Tensor,
        states: &Tensor,
        gates: &Tensor,
        g: &Tensor,
        reverse: bool,
    ) -> Result<RecurrentGrads> {
        let op = "lstm backward";
        let r = recurrence(op, 4, gates, w_hh, h0, reverse)?;
        expect_shape(op, "c0", c0, h0.shape())?;
        expect_shape(op, "states", states, &[2, r.batch, r.steps, r.hidden])?;
        expect_shape(op, "g", g, states.shape())?;
        #[cfg(feature = "cuda")]
        if states.is_cuda() {
            for t in [w_hh, h0, c0, gates, g] {
                states.same_kind(t, op)?;
            }
            return gpu_lstm_backward(r, w_hh, h0, c0, states, gates, g);
        }
        with_float!(states, op, |T| {
            let (w, h, c) = (w_hh.dense_data::<T>(op)?, h0.dense_data::<T>(op)?, c0.dense_data::<T>(op)?);
            let (s, a, gs) = (states.dense_data::<T>(op)?, gates.dense_data::<T>(op)?, g.dense_data::<T>(op)?);
            let mut dx = overwritten(gates.numel(), 0.0 as T);
            let mut dw = filled(w_hh.numel(), 0.0 as T);
            let (mut dh, mut dc) = (filled(h0.numel(), 0.0 as T), filled(h0.numel(), 0.0 as T));
            recurrent::lstm_backward(r, &w, &h, &c, &s, &a, &gs, &mut dx, &mut dw, &mut dh, &mut dc);
            Ok(RecurrentGrads {
                xproj: Tensor::dense(dx, gates.shape().to_vec()),
                w_hh: Tensor::dense(dw, w_hh.shape().to_vec()),
                b_hh: None,
                h0: Tensor::dense(dh, h0.shape().to_vec()),
                c0: Some(Tensor::dense(dc, h0.shape().to_vec())),
            })
        })
    }

    /// GRU (gates r, z, n) → `(out, saved)`: `out [B, T, H]` holds every `h_t`, `saved
    /// [B, T, 4H]` the gates `r, z, n` and `u_n = h_{t−1}·W_hnᵀ + b_hn`, which backward reads.
    pub fn gru_forward(
        xproj: &Tensor,
        w_hh: &Tensor,
        b_hh: &Tensor,
        h0: &Tensor,
        reverse: bool,
    ) -> Result<(Tensor, Tensor)> {
        let r = recurrence("gru", 3, xproj, w_hh, h0, reverse)?;
        expect_shape("gru", "b_hh", b_hh, &[3 * r.hidden])?;
        xproj.same_kind(b_hh, "gru")?;
        let (out_shape, saved_shape) = (vec![r.batch, r.steps, r.hidden], vec![r.batch, r.steps, 4 * r.hidden]);
        #[cfg(feature = "cuda")]
        if xproj.is_cuda() {
            return gpu_gru_forward(r, xproj, w_hh, b_hh, h0);
        }
        with_float!(xproj, "gru", |T| {
            let op = "gru";
            let (x, w, b, h) = (
                xproj.dense_data::<T>(op)?,
                w_hh.dense_data::<T>(op)?,
                b_hh.dense_data::<T>(op)?,
                h0.dense_data::<T>(op)?,
            );
            let mut out = overwritten(out_shape.iter().product(), 0.0 as T);
            let mut saved = overwritten(saved_shape.iter().product(), 0.0 as T);
            recurrent::gru_forward(r, &x, &w, &b, &h, &mut out, &mut saved);
            Ok((Tensor::dense(out, out_shape), Tensor::dense(saved, saved_shape)))
        })
    }

    /// Backward of [`Tensor::gru_forward`]: `out` and `saved` are its results and `g = ∂L/∂out`.
    pub fn gru_backward(
        w_hh: &Tensor,
        h0: &Tensor,
        out: &Tensor,
        saved: &Tensor,
        g: &Tensor,
        reverse: bool,
    ) -> Result<RecurrentGrads> {
        let op = "gru backward";
        let (ws, os) = (w_hh.shape(), out.shape());
        if ws.len() != 2 || ws[0] != 3 * ws[1] || os.len() != 3 || os[2] != ws[1] {
            return Err(Error::shape(op, &[ws, os], "expected w_hh [3H, H] and out [batch, steps, H]"));
        }
        let (b, s, hidden) = (os[0], os[1], ws[1]);
        expect_shape(op, "h0", h0, &[b, hidden])?;
        expect_shape(op, "saved", saved, &[b, s, 4 * hidden])?;
        expect_shape(op, "g", g, os)?;
        for t in [w_hh, h0, saved, g] {
            out.same_kind(t, op)?;
        }
        let r = Recurrence { batch: b, steps: s, hidden, reverse };
        #[cfg(feature = "cuda")]
        if out.is_cuda() {
            return gpu_gru_backward(r, w_hh, h0, out, saved, g);
        }
        with_float!(out, op, |T| {
            let (w, h, y) = (w_hh.dense_data::<T>(op)?, h0.dense_data::<T>(op)?, out.dense_data::<T>(op)?);
            let (sv, gy) = (saved.dense_data::<T>(op)?, g.dense_data::<T>(op)?);
            let mut dx = overwritten(3 * out.numel(), 0.0 as T);
            let (mut dw, mut db) = (filled(w_hh.numel(), 0.0 as T), filled(3 * hidden, 0.0 as T));
            let mut dh = filled(h0.numel(), 0.0 as T);
            recurrent::gru_backward(r, &w, &h, &y, &sv, &gy, &mut dx, &mut dw, &mut db, &mut dh);
            Ok(RecurrentGrads {
                xproj: Tensor::dense(dx, vec![b, s, 3 * hidden]),
                w_hh: Tensor::dense(dw, w_hh.shape().to_vec()),
                b_hh: Some(Tensor::dense(db, vec![3 * hidden])),
                h0: Tensor::dense(dh, h0.shape().to_vec()),
                c0: None,
            })
        })
    }
}

// ------------------------------------------------------------------------------ CUDA

/// The steps in the order a run visits them, each with the step whose state it reads.
#[cfg(feature = "cuda")]
fn visits(r: Recurrence) -> Vec<(usize, Option<usize>)> {
    (0..r.steps)
        .map(|i| {
            if r.reverse {
                let t = r.steps - 1 - i;
                (t, (t + 1 < r.steps).then_some(t + 1))
            } else {
                (i, i.checked_sub(1))
            }
        })
        .collect()
}

/// [`Tensor::lstm_forward`] on a GPU: per step, `rec = h_prev · W_hhᵀ` by the GEMM kernels, then
/// the fused step kernel. The gates are always written (the step kernel needs somewhere to put
/// them); they are returned only if `keep_gates`.
#[cfg(feature = "cuda")]
fn gpu_lstm_forward(
    r: Recurrence,
    xproj: &Tensor,
    w_hh: &Tensor,
    h0: &Tensor,
    c0: &Tensor,
    keep_gates: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let op = "lstm";
    let (x, h0, c0) = (xproj.gpu_exact(op)?, h0.gpu_exact(op)?, c0.gpu_exact(op)?);
    let w_t = w_hh.t()?; // [H, 4H], read transposed in place by the GEMM
    let mut states = xproj.full_on(&[2, r.batch, r.steps, r.hidden], 0.0);
    let mut gates = xproj.full_on(xproj.shape(), 0.0);
    for (t, prev) in visits(r) {
        // The view of `states` is dropped before the step writes it (a live view would make
        // the buffer look shared, and the write would copy it); the GEMM reading it is queued
        // on the stream before the step kernel, so it reads the state before the update.
        let rec = match prev {
            None => h0.matmul(&w_t)?,
            Some(p) => states.narrow(0, 0, 1)?.squeeze(0)?.narrow(1, p, 1)?.squeeze(1)?.matmul(&w_t)?,
        };
        with_float!(@dtype xproj.dtype(), op, |T| {
            ferrograd_kernels::recurrent::cuda::lstm_step_forward(
                states.gpu_buffer_mut::<T>(op)?,
                gates.gpu_buffer_mut::<T>(op)?,
                x.gpu_buffer::<T>(op)?,
                rec.gpu_buffer::<T>(op)?,
                c0.gpu_buffer::<T>(op)?,
                r,
                t,
                prev,
            )
            .map_err(crate::cuda::gpu_err(op))
        })?;
    }
    Ok((states, keep_gates.then_some(gates)))
}

/// [`Tensor::lstm_backward`] on a GPU: per step in reverse, the fused step kernel, then
/// `∂h_prev = ∂a_t · W_hh` by the GEMM kernels; at the end `∂W_hh = Σ_t ∂a_tᵀ · h_{t−1}` as one
/// product over every (sequence, step) row.
#[cfg(feature = "cuda")]
fn gpu_lstm_backward(
    r: Recurrence,
    w_hh: &Tensor,
    h0: &Tensor,
    c0: &Tensor,
    states: &Tensor,
    gates: &Tensor,
    g: &Tensor,
) -> Result<RecurrentGrads> {
    let op = "lstm backward";
    let (b, h) = (r.batch, r.hidden);
    let (st, ga, gr, c0) = (states.gpu_exact(op)?, gates.gpu_exact(op)?, g.gpu_exact(op)?, c0.gpu_exact(op)?);
    let mut dx = gates.full_on(gates.shape(), 0.0);
    let mut dc = h0.full_on(&[b, h], 0.0);
    let mut dh = h0.full_on(&[b, h], 0.0);
    for (t, prev) in visits(r).into_iter().rev() {
        with_float!(@dtype states.dtype(), op, |T| {
            ferrograd_kernels::recurrent::cuda::lstm_step_backward(
                dx.gpu_buffer_mut::<T>(op)?,
                dc.gpu_buffer_mut::<T>(op)?,
                dh.gpu_buffer::<T>(op)?,
                ga.gpu_buffer::<T>(op)?,
                st.gpu_buffer::<T>(op)?,
                c0.gpu_buffer::<T>(op)?,
                gr.gpu_buffer::<T>(op)?,
                r,
                t,
                prev,
            )
            .map_err(crate::cuda::gpu_err(op))
        })?;
        // A fresh [B, H] for the next step (the view of `dx` is dropped before dx is written).
        dh = dx.narrow(1, t, 1)?.squeeze(1)?.matmul(w_hh)?;
    }
    let dw = weight_grad(r, &dx, &st.narrow(0, 0, 1)?.squeeze(0)?, h0, w_hh)?;
    Ok(RecurrentGrads { xproj: dx, w_hh: dw, b_hh: None, h0: dh, c0: Some(dc) })
}

/// `∂W_hh = Σ_t ∂u_tᵀ · h_{t−1}` as one product over every (sequence, step) row: `du [B, S, G·H]`
/// is the gradient of each step's `h_prev·W_hhᵀ`, `hs [B, S, H]` every state, and the state
/// step t read is `h0` for the first step visited, else its neighbour in visiting order.
#[cfg(feature = "cuda")]
fn weight_grad(r: Recurrence, du: &Tensor, hs: &Tensor, h0: &Tensor, w_hh: &Tensor) -> Result<Tensor> {
    let (b, s, h) = (r.batch, r.steps, r.hidden);
    let first = h0.unsqueeze(1)?;
    let previous = match (s, r.reverse) {
        (0, _) => return Ok(w_hh.full_on(w_hh.shape(), 0.0)),
        (1, _) => first,
        (_, false) => Tensor::cat(&[&first, &hs.narrow(1, 0, s - 1)?], 1)?,
        (_, true) => Tensor::cat(&[&hs.narrow(1, 1, s - 1)?, &first], 1)?,
    };
    du.reshape(&[b * s, w_hh.shape()[0]])?.t()?.matmul(&previous.reshape(&[b * s, h])?)
}

/// [`Tensor::rnn_forward`] on a GPU: per step, `rec = h_prev · W_hhᵀ` by the GEMM kernels, then
/// the step kernel `h_t = tanh(xproj_t + rec)`.
#[cfg(feature = "cuda")]
fn gpu_rnn_forward(r: Recurrence, xproj: &Tensor, w_hh: &Tensor, h0: &Tensor) -> Result<Tensor> {
    let op = "rnn";
    let x = xproj.gpu_exact(op)?;
    let w_t = w_hh.t()?;
    let mut out = xproj.full_on(xproj.shape(), 0.0);
    for (t, prev) in visits(r) {
        // The view of `out` is dropped before the step writes it (see `gpu_lstm_forward`).
        let rec = match prev {
            None => h0.matmul(&w_t)?,
            Some(p) => out.narrow(1, p, 1)?.squeeze(1)?.matmul(&w_t)?,
        };
        with_float!(@dtype xproj.dtype(), op, |T| {
            ferrograd_kernels::recurrent::cuda::rnn_step_forward(
                out.gpu_buffer_mut::<T>(op)?,
                x.gpu_buffer::<T>(op)?,
                rec.gpu_buffer::<T>(op)?,
                r,
                t,
            )
            .map_err(crate::cuda::gpu_err(op))
        })?;
    }
    Ok(out)
}

/// [`Tensor::rnn_backward`] on a GPU: per step in reverse, the step kernel, then
/// `∂h_prev = ∂a_t · W_hh`.
#[cfg(feature = "cuda")]
fn gpu_rnn_backward(r: Recurrence, w_hh: &Tensor, h0: &Tensor, out: &Tensor, g: &Tensor) -> Result<RecurrentGrads> {
    let op = "rnn backward";
    let (y, gr) = (out.gpu_exact(op)?, g.gpu_exact(op)?);
    let mut dx = out.full_on(out.shape(), 0.0);
    let mut dh = h0.full_on(h0.shape(), 0.0);
    for (t, _) in visits(r).into_iter().rev() {
        with_float!(@dtype out.dtype(), op, |T| {
            ferrograd_kernels::recurrent::cuda::rnn_step_backward(
                dx.gpu_buffer_mut::<T>(op)?,
                y.gpu_buffer::<T>(op)?,
                gr.gpu_buffer::<T>(op)?,
                dh.gpu_buffer::<T>(op)?,
                r,
                t,
            )
            .map_err(crate::cuda::gpu_err(op))
        })?;
        dh = dx.narrow(1, t, 1)?.squeeze(1)?.matmul(w_hh)?;
    }
    let dw = weight_grad(r, &dx, &y, h0, w_hh)?;
    Ok(RecurrentGrads { xproj: dx, w_hh: dw, b_hh: None, h0: dh, c0: None })
}

/// [`Tensor::gru_forward`] on a GPU: per step, `rec = h_prev · W_hhᵀ` by the GEMM kernels (the
/// bias is added in the step kernel, where `r` multiplies `u_n`), then the fused step kernel.
#[cfg(feature = "cuda")]
fn gpu_gru_forward(
    r: Recurrence,
    xproj: &Tensor,
    w_hh: &Tensor,
    b_hh: &Tensor,
    h0: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let op = "gru";
    let (x, b, h0) = (xproj.gpu_exact(op)?, b_hh.gpu_exact(op)?, h0.gpu_exact(op)?);
    let w_t = w_hh.t()?;
    let mut out = xproj.full_on(&[r.batch, r.steps, r.hidden], 0.0);
    let mut saved = xproj.full_on(&[r.batch, r.steps, 4 * r.hidden], 0.0);
    for (t, prev) in visits(r) {
        let rec = match prev {
            None => h0.matmul(&w_t)?,
            Some(p) => out.narrow(1, p, 1)?.squeeze(1)?.matmul(&w_t)?,
        };
        with_float!(@dtype xproj.dtype(), op, |T| {
            ferrograd_kernels::recurrent::cuda::gru_step_forward(
                out.gpu_buffer_mut::<T>(op)?,
                saved.gpu_buffer_mut::<T>(op)?,
                x.gpu_buffer::<T>(op)?,
                rec.gpu_buffer::<T>(op)?,
                b.gpu_buffer::<T>(op)?,
                h0.gpu_buffer::<T>(op)?,
                r,
                t,
                prev,
            )
            .map_err(crate::cuda::gpu_err(op))
        })?;
    }
    Ok((out, saved))
}

/// [`Tensor::gru_backward`] on a GPU: per step in reverse, the fused step kernel, then
/// `through = ∂u_t · W_hh`; `∂h_0` is the last step's direct part plus its `through`.
#[cfg(feature = "cuda")]
fn gpu_gru_backward(
    r: Recurrence,
    w_hh: &Tensor,
    h0: &Tensor,
    out: &Tensor,
    saved: &Tensor,
    g: &Tensor,
) -> Result<RecurrentGrads> {
    let op = "gru backward";
    let (b, s, h) = (r.batch, r.steps, r.hidden);
    let (y, sv, gr, h0d) = (out.gpu_exact(op)?, saved.gpu_exact(op)?, g.gpu_exact(op)?, h0.gpu_exact(op)?);
    let mut dx = out.full_on(&[b, s, 3 * h], 0.0);
    let mut du = out.full_on(&[b, s, 3 * h], 0.0);
    let mut dh = h0.full_on(h0.shape(), 0.0);
    let mut through = h0.full_on(h0.shape(), 0.0);
    for (t, prev) in visits(r).into_iter().rev() {
        with_float!(@dtype out.dtype(), op, |T| {
            ferrograd_kernels::recurrent::cuda::gru_step_backward(
                dx.gpu_buffer_mut::<T>(op)?,
                du.gpu_buffer_mut::<T>(op)?,
                dh.gpu_buffer_mut::<T>(op)?,
                through.gpu_buffer::<T>(op)?,
                sv.gpu_buffer::<T>(op)?,
                y.gpu_buffer::<T>(op)?,
                h0d.gpu_buffer::<T>(op)?,
                gr.gpu_buffer::<T>(op)?,
                r,
                t,
                prev,
            )
            .map_err(crate::cuda::gpu_err(op))
        })?;
        through = du.narrow(1, t, 1)?.squeeze(1)?.matmul(w_hh)?;
    }
    let dh0 = dh.add(&through)?;
    let dw = weight_grad(r, &du, &y, &h0d, w_hh)?;
    let db = du.reshape(&[b * s, 3 * h])?.sum(vec![0usize], false)?;
    Ok(RecurrentGrads { xproj: dx, w_hh: dw, b_hh: Some(db), h0: dh0, c0: None })
}
