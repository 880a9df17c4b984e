//! The time loops of recurrent layers (Elman RNN, LSTM, GRU), each in two forms that compute the
//! same values and gradients:
//!
//! - **fused** (`rnn_sequence`, `lstm_sequence`, `gru_sequence`): one op for the whole sequence.
//!   Forward runs one GEMM and one fused elementwise pass per step; backward is backpropagation
//!   through time derived by hand (the formulas are in each op's doc comment and in
//!   `ferrograd_kernels::recurrent`). One graph node instead of a dozen per step, and the weight
//!   gradient is one large product instead of one small product per step.
//! - **unfused** (`…_unfused`): the textbook equations written with elementary ops, one step at a
//!   time, so that their gradient is the composition of those ops' rules — what a learner derives
//!   on paper, and a reference that the tests compare the fused form against.
//!
//! Every form takes the input projection `xproj = x · W_ihᵀ + b` for all steps at once
//! (`[B, T, gates·H]`): it does not depend on the state, so the layer computes it as one matmul.
//!
//! The fused rules compute on tensors, so they have no graph of their own. With `create_graph`
//! (double backward) they instead differentiate the unfused form, which gives the same gradient
//! as a differentiable function of the inputs.

use crate::var::records_graph;
use crate::{grad, is_grad_enabled, OpInfo, Saved, Var};
use ferrograd_tensor::{Error, RecurrentGrads, Result, Tensor};

/// The unfused form of a fused op (its inputs, `reverse`), which its double backward differentiates.
type Unfused = fn(&[Var], bool) -> Result<Var>;

/// The gradients a fused rule returns: from the hand-derived tensors, or — with `create_graph` —
/// from differentiating the unfused form at the same inputs.
fn input_grads(
    v: &[Var],
    g: &Var,
    reverse: bool,
    unfused: Unfused,
    fused: impl FnOnce() -> Result<Vec<Tensor>>,
) -> Result<Vec<Option<Var>>> {
    if is_grad_enabled() {
        let y = unfused(v, reverse)?;
        return grad(&[&y], &v.iter().collect::<Vec<_>>(), &[g], true);
    }
    Ok(fused()?.into_iter().map(|t| Some(Var::constant(t))).collect())
}

/// The state after the last step a direction visits: step `T − 1` forward, step 0 in reverse.
fn last_step(steps: usize, reverse: bool) -> usize {
    if reverse {
        0
    } else {
        steps.saturating_sub(1)
    }
}

/// The time steps in the order a direction visits them.
fn visit_order(steps: usize, reverse: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..steps).collect();
    if reverse {
        order.reverse();
    }
    order
}

/// Row `t` of a `[B, T, X]` sequence, as `[B, X]`.
fn step(x: &Var, t: usize) -> Result<Var> {
    x.narrow(1, t, 1)?.squeeze(1)
}

/// Gate `k` (of width `h`) of `[B, gates·H]` pre-activations.
fn gate(a: &Var, k: usize, h: usize) -> Result<Var> {
    a.narrow(1, k * h, h)
}

/// Per-step results `[B, H]` (indexed by time) stacked into `[B, T, H]`.
fn stack_steps(steps: &[Option<Var>], shape: [usize; 3], like: &Var) -> Result<Var> {
    if steps.is_empty() {
        return Ok(Var::constant(like.value().full_on(&shape, 0.0)));
    }
    let steps: Vec<&Var> = steps.iter().map(|s| s.as_ref().expect("every step ran")).collect();
    Var::stack(&steps, 1)
}

impl Var {
    /// Elman RNN over a sequence (`self` = `xproj [B, T, H]`, `w_hh [H, H]`, `h0 [B, H]`):
    /// `h_t = tanh(xproj_t + h_{t−1} · W_hhᵀ)` → every `h_t`, `[B, T, H]`.
    ///
    /// Backward through time, with `∂h_t = g_t + ∂a_{t+1} · W_hh`: `∂a_t = ∂h_t · (1 − h_t²)`,
    /// `∂xproj_t = ∂a_t`, `∂W_hh = Σ_t ∂a_tᵀ · h_{t−1}`, `∂h0 = ∂a_first · W_hh`.
    #[track_caller]
    pub fn rnn_sequence(&self, w_hh: &Var, h0: &Var, reverse: bool) -> Result<Var> {
        let out = Tensor::rnn_forward(&self.value(), &w_hh.value(), &h0.value(), reverse)?;
        Var::from_op(
            &OpInfo {
                name: "rnn_sequence",
                rule: "∂a_t = (g_t + ∂a_{t+1}·W_hh)·(1 − h_t²), ∂xproj_t = ∂a_t, ∂W_hh = Σ_t ∂a_tᵀ·h_{t−1}, ∂h0 = ∂a_first·W_hh",
                saves: &[Saved::Input(1), Saved::Input(2), Saved::Output],
            },
            out,
            &[self, w_hh, h0],
            move |v, y, g| {
                input_grads(v, g, reverse, |v, r| v[0].rnn_sequence_unfused(&v[1], &v[2], r), || {
                    let gr = Tensor::rnn_backward(&v[1].value(), &v[2].value(), &y.value(), &g.value(), reverse)?;
                    Ok(vec![gr.xproj, gr.w_hh, gr.h0])
                })
            },
        )
    }

    /// [`Var::rnn_sequence`] from elementary ops, one step at a time.
    #[track_caller]
    pub fn rnn_sequence_unfused(&self, w_hh: &Var, h0: &Var, reverse: bool) -> Result<Var> {
        let [b, s, h] = Tensor::check_recurrence("rnn", 1, &self.shape(), &w_hh.shape(), &h0.shape())?;
        let w_t = w_hh.t()?;
        let (mut state, mut outs) = (h0.clone(), vec![None; s]);
        for t in visit_order(s, reverse) {
            state = step(self, t)?.add(&state.matmul(&w_t)?)?.tanh()?;
            outs[t] = Some(state.clone());
        }
        stack_steps(&outs, [b, s, h], self)
    }

    /// LSTM over a sequence (`self` = `xproj [B, T, 4H]`, gates in PyTorch's order i, f, g, o;
    /// `w_hh [4H, H]`; `h0`, `c0` `[B, H]`) → `[2, B, T, H]`: every `h_t`, then every `c_t`.
    /// With `a = xproj_t + h_{t−1} · W_hhᵀ`: `i, f, o = σ(a_i, a_f, a_o)`, `g = tanh(a_g)`,
    /// `c_t = f·c_{t−1} + i·g`, `h_t = o·tanh(c_t)`.
    ///
    /// Backward through time (`∂h`, `∂c`: the totals reaching `h_t`, `c_t` from the output and
    /// from step t+1; `c̃ = tanh c_t`): `∂o = ∂h·c̃`, `∂c += ∂h·o·(1 − c̃²)`, `∂i = ∂c·g`,
    /// `∂g = ∂c·i`, `∂f = ∂c·c_{t−1}`, `∂c_{t−1} = ∂c·f`; through the nonlinearities
    /// `∂a = [∂i·i(1−i), ∂f·f(1−f), ∂g·(1−g²), ∂o·o(1−o)] = ∂xproj_t`; then
    /// `∂h_{t−1} = ∂a · W_hh` and `∂W_hh = Σ_t ∂a_tᵀ · h_{t−1}`.
    #[track_caller]
    pub fn lstm_sequence(&self, w_hh: &Var, h0: &Var, c0: &Var, reverse: bool) -> Result<Var> {
        // Without a graph nothing reads the activated gates: the kernel keeps one step of them.
        let keep_gates = records_graph(&[self, w_hh, h0, c0]);
        let (x, w, h, c) = (self.value(), w_hh.value(), h0.value(), c0.value());
        let (states, gates) = Tensor::lstm_forward(&x, &w, &h, &c, reverse, keep_gates)?;
        Var::from_op(
            &OpInfo {
                name: "lstm_sequence",
                rule: "∂o = ∂h·tanh c, ∂c += ∂h·o·(1 − tanh² c), ∂i = ∂c·g, ∂g = ∂c·i, ∂f = ∂c·c_{t−1}, ∂c_{t−1} = ∂c·f, ∂xproj_t = ∂a, ∂h_{t−1} = ∂a·W_hh, ∂W_hh = Σ_t ∂a_tᵀ·h_{t−1}",
                saves: &[Saved::Input(1), Saved::Input(2), Saved::Input(3), Saved::Output, Saved::Extra("gates")],
            },
            states,
            &[self, w_hh, h0, c0],
            move |v, y, g| {
                let unfused: Unfused = |v, r| v[0].lstm_sequence_unfused(&v[1], &v[2], &v[3], r);
                input_grads(v, g, reverse, unfused, || {
                    let (w, h, c) = (v[1].value(), v[2].value(), v[3].value());
                    let gates = gates.as_ref().ok_or_else(|| Error::invalid("lstm backward", "the forward pass kept no gates"))?;
                    let gr: RecurrentGrads = Tensor::lstm_backward(&w, &h, &c, &y.value(), gates, &g.value(), reverse)?;
                    Ok(vec![gr.xproj, gr.w_hh, gr.h0, gr.c0.expect("the LSTM has a cell state")])
                })
            },
        )
    }

    /// [`Var::lstm_sequence`] from elementary ops, one step at a time.
    #[track_caller]
    pub fn lstm_sequence_unfused(&self, w_hh: &Var, h0: &Var, c0: &Var, reverse: bool) -> Result<Var> {
        let [b, s, h] = Tensor::check_recurrence("lstm", 4, &self.shape(), &w_hh.shape(), &h0.shape())?;
        Tensor::check_recurrence("lstm", 4, &self.shape(), &w_hh.shape(), &c0.shape())?;
        let w_t = w_hh.t()?;
        let (mut hid, mut cell) = (h0.clone(), c0.clone());
        let (mut hs, mut cs) = (vec![None; s], vec![None; s]);
        for t in visit_order(s, reverse) {
            let a = step(self, t)?.add(&hid.matmul(&w_t)?)?;
            let (i, f) = (gate(&a, 0, h)?.sigmoid()?, gate(&a, 1, h)?.sigmoid()?);
            let (g, o) = (gate(&a, 2, h)?.tanh()?, gate(&a, 3, h)?.sigmoid()?);
            cell = f.mul(&cell)?.add(&i.mul(&g)?)?;
            hid = o.mul(&cell.tanh()?)?;
            (hs[t], cs[t]) = (Some(hid.clone()), Some(cell.clone()));
        }
        let (hs, cs) = (stack_steps(&hs, [b, s, h], self)?, stack_steps(&cs, [b, s, h], self)?);
        Var::stack(&[&hs, &cs], 0)
    }

    /// GRU over a sequence (`self` = `xproj [B, T, 3H]` with `b_ih`, gates in PyTorch's order
    /// r, z, n; `w_hh [3H, H]`; `b_hh [3H]`; `h0 [B, H]`) → every `h_t`, `[B, T, H]`. With
    /// `u = h_{t−1} · W_hhᵀ + b_hh`: `r = σ(x_r + u_r)`, `z = σ(x_z + u_z)`,
    /// `n = tanh(x_n + r·u_n)`, `h_t = (1 − z)·n + z·h_{t−1}`.
    ///
    /// Backward through time (`∂h` the total reaching `h_t`): `∂n = ∂h·(1 − z)`,
    /// `∂z = ∂h·(h_{t−1} − n)`, `∂a_n = ∂n·(1 − n²)`, `∂a_r = ∂a_n·u_n·r(1 − r)`,
    /// `∂a_z = ∂z·z(1 − z)`; `∂xproj_t = [∂a_r, ∂a_z, ∂a_n]`, `∂u = [∂a_r, ∂a_z, ∂a_n·r]`,
    /// `∂h_{t−1} = ∂h·z + ∂u · W_hh`, `∂W_hh = Σ_t ∂u_tᵀ · h_{t−1}`, `∂b_hh = Σ_t ∂u_t`.
    #[track_caller]
    pub fn gru_sequence(&self, w_hh: &Var, b_hh: &Var, h0: &Var, reverse: bool) -> Result<Var> {
        let (out, saved) = Tensor::gru_forward(&self.value(), &w_hh.value(), &b_hh.value(), &h0.value(), reverse)?;
        Var::from_op(
            &OpInfo {
                name: "gru_sequence",
                rule: "∂n = ∂h·(1 − z), ∂z = ∂h·(h_{t−1} − n), ∂a_n = ∂n·(1 − n²), ∂a_r = ∂a_n·u_n·r(1 − r), ∂a_z = ∂z·z(1 − z), ∂xproj_t = [∂a_r, ∂a_z, ∂a_n], ∂u = [∂a_r, ∂a_z, ∂a_n·r], ∂h_{t−1} = ∂h·z + ∂u·W_hh, ∂W_hh = Σ_t ∂u_tᵀ·h_{t−1}, ∂b_hh = Σ_t ∂u_t",
                saves: &[Saved::Input(1), Saved::Input(3), Saved::Output, Saved::Extra("gates")],
            },
            out,
            &[self, w_hh, b_hh, h0],
            move |v, y, g| {
                let unfused: Unfused = |v, r| v[0].gru_sequence_unfused(&v[1], &v[2], &v[3], r);
                input_grads(v, g, reverse, unfused, || {
                    let (w, h) = (v[1].value(), v[3].value());
                    let gr = Tensor::gru_backward(&w, &h, &y.value(), &saved, &g.value(), reverse)?;
                    Ok(vec![gr.xproj, gr.w_hh, gr.b_hh.expect("the GRU has b_hh"), gr.h0])
                })
            },
        )
    }

    /// [`Var::gru_sequence`] from elementary ops, one step at a time.
    #[track_caller]
    pub fn gru_sequence_unfused(&self, w_hh: &Var, b_hh: &Var, h0: &Var, reverse: bool) -> Result<Var> {
        let [b, s, h] = Tensor::check_recurrence("gru", 3, &self.shape(), &w_hh.shape(), &h0.shape())?;
        if b_hh.shape() != [3 * h] {
            return Err(ferrograd_tensor::Error::shape("gru", &[&b_hh.shape()], format!("b_hh must be [{}]", 3 * h)));
        }
        let w_t = w_hh.t()?;
        let (mut hid, mut outs) = (h0.clone(), vec![None; s]);
        for t in visit_order(s, reverse) {
            let (x, u) = (step(self, t)?, hid.matmul(&w_t)?.add(b_hh)?);
            let r = gate(&x, 0, h)?.add(&gate(&u, 0, h)?)?.sigmoid()?;
            let z = gate(&x, 1, h)?.add(&gate(&u, 1, h)?)?.sigmoid()?;
            let n = gate(&x, 2, h)?.add(&r.mul(&gate(&u, 2, h)?)?)?.tanh()?;
            hid = n.add(&z.mul(&hid.sub(&n)?)?)?;
            outs[t] = Some(hid.clone());
        }
        stack_steps(&outs, [b, s, h], self)
    }

    /// The state a recurrence ends in: from its per-step output `[B, T, H]` (for an LSTM, the
    /// `h` or `c` half of [`Var::lstm_sequence`]'s result), the step a direction visits last.
    pub fn final_state(&self, reverse: bool) -> Result<Var> {
        let steps = self.shape().get(1).copied().unwrap_or(0);
        step(self, last_step(steps, reverse))
    }
}
