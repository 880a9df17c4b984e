//! Recurrent layers — Elman RNN (tanh), LSTM and GRU — as `torch.nn.RNN/LSTM/GRU` with
//! `batch_first=True`: several layers, optionally bidirectional, dropout between layers, the
//! whole output sequence and the final state of every layer, and an initial state in.
//!
//! Each layer and direction computes its input projection for all time steps as one matmul,
//! then runs the time loop as one fused op ([`Var::lstm_sequence`] and friends) — or, with
//! `fused: false`, as the textbook equations from elementary ops, one step at a time. Both give
//! the same values and gradients; the fused form is much faster.

use super::Dropout;
use crate::Module;
use ferrograd_autograd::{DType, Error, Result, Rng, Var};

/// Which recurrence a [`Recurrent`] layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// `h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)`.
    Rnn,
    /// Long short-term memory: gates i, f, g, o and a cell state.
    Lstm,
    /// Gated recurrent unit: gates r, z, n.
    Gru,
}

impl CellKind {
    /// Gate blocks in the weights (`W_ih` is `[gates·H, input]`).
    pub fn gates(self) -> usize {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            CellKind::Rnn => "RNN",
            CellKind::Lstm => "LSTM",
            CellKind::Gru => "GRU",
        }
    }
}

/// The shape and options of a recurrent layer (PyTorch's constructor arguments).
#[derive(Clone, Debug)]
pub struct RecurrentConfig {
    /// Features per time step of the input.
    pub input_size: usize,
    /// Size of the hidden state.
    pub hidden_size: usize,
    /// Stacked layers; layer `l > 0` reads layer `l − 1`'s output sequence.
    pub num_layers: usize,
    /// A second direction per layer that reads the sequence backwards; outputs are concatenated
    /// (`[.., 2H]`).
    pub bidirectional: bool,
    /// Dropout probability on the outputs of every layer but the last (training mode only).
    pub dropout: f64,
    /// Share that dropout's mask across the time steps of each sequence (variational dropout,
    /// [`Dropout::forward_shared`]) instead of drawing every element independently.
    pub variational: bool,
    /// DropConnect on the recurrent weights `W_hh` (AWD-LSTM's "weight drop"): in training mode
    /// each forward call zeroes this fraction of `W_hh`'s entries (scaling the rest by
    /// `1/(1−p)`), and every step of every sequence in that call uses the same thinned matrix.
    /// It regularises the recurrence itself, which dropout on the outputs cannot reach.
    pub weight_drop: f64,
    /// Whether the layer has biases `b_ih`, `b_hh`.
    pub bias: bool,
    /// Run each time loop as one fused op (default) rather than from elementary ops.
    pub fused: bool,
    /// Seed of the dropout masks.
    pub seed: u64,
}

impl RecurrentConfig {
    /// One unidirectional layer with biases, no dropout, fused.
    pub fn new(input_size: usize, hidden_size: usize) -> RecurrentConfig {
        RecurrentConfig {
            input_size,
            hidden_size,
            num_layers: 1,
            bidirectional: false,
            dropout: 0.0,
            variational: false,
            weight_drop: 0.0,
            bias: true,
            fused: true,
            seed: 0,
        }
    }

    fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }
}

/// The state of every layer and direction, `[num_layers · directions, B, H]` (PyTorch's `h_n`
/// and, for an LSTM, `c_n`); index `l · directions + d`.
#[derive(Clone)]
pub struct RecurrentState {
    /// Hidden states.
    pub h: Var,
    /// Cell states (LSTM only).
    pub c: Option<Var>,
}

impl RecurrentState {
    /// A state detached from the graph: the same values, no gradient flows back through it
    /// (truncated backpropagation through time between batches).
    pub fn detach(&self) -> RecurrentState {
        RecurrentState { h: self.h.detach(), c: self.c.as_ref().map(Var::detach) }
    }
}

/// One layer and direction's parameters.
struct Direction {
    w_ih: Var,
    w_hh: Var,
    b_ih: Option<Var>,
    b_hh: Option<Var>,
    reverse: bool,
    suffix: String,
}

/// A multi-layer RNN, LSTM or GRU over batch-first sequences `[B, T, input]` → `[B, T, D·H]`
/// (`D = 2` when bidirectional). Parameters are named and initialised as in PyTorch
/// (`weight_ih_l0`, `bias_hh_l1_reverse`, …, all `U(−1/√H, 1/√H)`), so checkpoints map one to one.
pub struct Recurrent {
    kind: CellKind,
    cfg: RecurrentConfig,
    /// Layer-major: layer `l`, direction `d` at `l · D + d`.
    dirs: Vec<Direction>,
    dropout: Option<Dropout>,
    weight_drop: Option<Dropout>,
}

impl Recurrent {
    /// A layer of the given kind, its weights drawn from `rng`.
    pub fn new(kind: CellKind, cfg: RecurrentConfig, dtype: DType, rng: &mut Rng) -> Result<Recurrent> {
        let op = kind.name();
        if cfg.hidden_size == 0 || cfg.num_layers == 0 {
            return Err(Error::invalid(op, "hidden_size and num_layers must be positive"));
        }
        for (name, p) in [("dropout", cfg.dropout), ("weight_drop", cfg.weight_drop)] {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::invalid(op, format!("{name} {p} not in [0, 1)")));
            }
        }
        let dropout =
            (cfg.dropout > 0.0 && cfg.num_layers > 1).then(|| Dropout::new(cfg.dropout, cfg.seed)).transpose()?;
        // Its own generator, so switching it on leaves the other dropout's masks as they were.
        let weight_drop =
            (cfg.weight_drop > 0.0).then(|| Dropout::new(cfg.weight_drop, cfg.seed ^ 0x5745_4947_4854)).transpose()?;
        let (h, g) = (cfg.hidden_size, kind.gates());
        let k = 1.0 / (h as f64).sqrt();
        let mut init =
            |shape: &[usize]| -> Result<Var> { Ok(Var::parameter(rng.uniform_tensor(shape, -k, k, dtype)?)) };
        let mut dirs = Vec::new();
        for l in 0..cfg.num_layers {
            let input = if l == 0 { cfg.input_size } else { h * cfg.directions() };
            for d in 0..cfg.directions() {
                let (w_ih, w_hh) = (init(&[g * h, input])?, init(&[g * h, h])?);
                let (b_ih, b_hh) = if cfg.bias { (Some(init(&[g * h])?), Some(init(&[g * h])?)) } else { (None, None) };
                let suffix = format!("l{l}{}", if d == 1 { "_reverse" } else { "" });
                dirs.push(Direction { w_ih, w_hh, b_ih, b_hh, reverse: d == 1, suffix });
            }
        }
        Ok(Recurrent { kind, cfg, dirs, dropout, weight_drop })
    }

    /// An LSTM (`torch.nn.LSTM(batch_first=True)`).
    pub fn lstm(cfg: RecurrentConfig, dtype: DType, rng: &mut Rng) -> Result<Recurrent> {
        Recurrent::new(CellKind::Lstm, cfg, dtype, rng)
    }

    /// A GRU (`torch.nn.GRU(batch_first=True)`).
    pub fn gru(cfg: RecurrentConfig, dtype: DType, rng: &mut Rng) -> Result<Recurrent> {
        Recurrent::new(CellKind::Gru, cfg, dtype, rng)
    }

    /// An Elman RNN with tanh (`torch.nn.RNN(batch_first=True)`).
    pub fn rnn(cfg: RecurrentConfig, dtype: DType, rng: &mut Rng) -> Result<Recurrent> {
        Recurrent::new(CellKind::Rnn, cfg, dtype, rng)
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &RecurrentConfig {
        &self.cfg
    }

    /// Which recurrence it runs.
    pub fn cell_kind(&self) -> CellKind {
        self.kind
    }

    /// Switches between the fused time loop and the one built from elementary ops.
    pub fn set_fused(&mut self, fused: bool) {
        self.cfg.fused = fused;
    }

    /// The all-zero state for a batch of `batch` sequences (what `forward` starts from).
    pub fn zero_state(&self, batch: usize) -> RecurrentState {
        let shape = [self.dirs.len(), batch, self.cfg.hidden_size];
        // On the parameters' device.
        let zeros = || Var::constant(self.dirs[0].w_hh.value().full_on(&shape, 0.0));
        RecurrentState { h: zeros(), c: (self.kind == CellKind::Lstm).then(zeros) }
    }

    /// Runs the sequences `x [B, T, input]` from `state` (zeros if `None`) → the last layer's
    /// outputs `[B, T, D·H]` and the final state of every layer and direction.
    pub fn forward_with_state(&self, x: &Var, state: Option<&RecurrentState>) -> Result<(Var, RecurrentState)> {
        let op = self.kind.name();
        let xs = x.shape();
        if xs.len() != 3 || xs[2] != self.cfg.input_size {
            return Err(Error::shape(op, &[&xs], format!("expected input [batch, steps, {}]", self.cfg.input_size)));
        }
        let zero = self.zero_state(xs[0]);
        let state = state.unwrap_or(&zero);
        let expect = [self.dirs.len(), xs[0], self.cfg.hidden_size];
        let c_ok = state.c.as_ref().map(|c| c.shape() == expect) == (self.kind == CellKind::Lstm).then_some(true);
        if state.h.shape() != expect || !c_ok {
            return Err(Error::shape(op, &[&xs, &state.h.shape()], format!("the state must be {expect:?}")));
        }
        let d = self.cfg.directions();
        let (mut input, mut h_n, mut c_n) = (x.clone(), Vec::new(), Vec::new());
        for l in 0..self.cfg.num_layers {
            if let Some(dropout) = self.dropout.as_ref().filter(|_| l > 0) {
                input =
                    if self.cfg.variational { dropout.forward_shared(&input, 1)? } else { dropout.forward(&input)? };
            }
            let mut outputs = Vec::new();
            for (i, dir) in self.dirs.iter().enumerate().skip(l * d).take(d) {
                let h0 = state.h.narrow(0, i, 1)?.squeeze(0)?;
                let c0 = state.c.as_ref().map(|c| c.narrow(0, i, 1)?.squeeze(0)).transpose()?;
                let (out, h_last, c_last) = self.run_direction(dir, &input, &h0, c0.as_ref())?;
                outputs.push(out);
                h_n.push(h_last);
                c_n.extend(c_last);
            }
            input = if d == 1 { outputs.remove(0) } else { Var::cat(&[&outputs[0], &outputs[1]], 2)? };
        }
        let h = Var::stack(&h_n.iter().collect::<Vec<_>>(), 0)?;
        let c = (!c_n.is_empty()).then(|| Var::stack(&c_n.iter().collect::<Vec<_>>(), 0)).transpose()?;
        Ok((input, RecurrentState { h, c }))
    }

    /// One time step of a single-layer network (the cell API, as `torch.nn.LSTMCell`):
    /// `x [B, input]` → the output `[B, D·H]` and the new state.
    pub fn step(&self, x: &Var, state: Option<&RecurrentState>) -> Result<(Var, RecurrentState)> {
        let (out, state) = self.forward_with_state(&x.unsqueeze(1)?, state)?;
        Ok((out.squeeze(1)?, state))
    }

    /// One direction of one layer: `(outputs [B, T, H], h_last [B, H], c_last)`.
    fn run_direction(
        &self,
        dir: &Direction,
        input: &Var,
        h0: &Var,
        c0: Option<&Var>,
    ) -> Result<(Var, Var, Option<Var>)> {
        let [b, t, i] = [input.shape()[0], input.shape()[1], input.shape()[2]];
        let gh = self.kind.gates() * self.cfg.hidden_size;
        // The input projection of every step at once: [B·T, input] · W_ihᵀ + bias. RNN and
        // LSTM add both biases here; the GRU keeps b_hh inside its reset gate.
        let bias = match (&dir.b_ih, &dir.b_hh, self.kind) {
            (Some(bi), _, CellKind::Gru) => Some(bi.clone()),
            (Some(bi), Some(bh), _) => Some(bi.add(bh)?),
            _ => None,
        };
        let rows = input.reshape(&[b * t, i])?;
        let xproj = match bias {
            Some(bias) => rows.matmul_bias(&dir.w_ih.t()?, &bias)?,
            None => rows.matmul(&dir.w_ih.t()?)?,
        };
        let xproj = xproj.reshape(&[b, t, gh])?;
        // W_hh thinned once for the whole call (the identity in evaluation mode): its gradient
        // is the fused op's, masked and scaled by the dropout's backward.
        let w_hh = match &self.weight_drop {
            Some(drop) => drop.forward(&dir.w_hh)?,
            None => dir.w_hh.clone(),
        };
        let w_hh = &w_hh;
        // Fused on both devices: on a GPU, one GEMM and one fused step kernel per time step.
        let (fused, rev) = (self.cfg.fused, dir.reverse);
        match self.kind {
            CellKind::Rnn => {
                let out = if fused {
                    xproj.rnn_sequence(w_hh, h0, rev)?
                } else {
                    xproj.rnn_sequence_unfused(w_hh, h0, rev)?
                };
                let last = out.final_state(rev)?;
                Ok((out, last, None))
            }
            CellKind::Gru => {
                let b_hh = match &dir.b_hh {
                    Some(bh) => bh.clone(),
                    None => Var::constant(xproj.value().full_on(&[gh], 0.0)),
                };
                let out = if fused {
                    xproj.gru_sequence(w_hh, &b_hh, h0, rev)?
                } else {
                    xproj.gru_sequence_unfused(w_hh, &b_hh, h0, rev)?
                };
                let last = out.final_state(rev)?;
                Ok((out, last, None))
            }
            CellKind::Lstm => {
                let c0 = c0.expect("an LSTM state has a cell state (checked in forward_with_state)");
                let states = if fused {
                    xproj.lstm_sequence(w_hh, h0, c0, rev)?
                } else {
                    xproj.lstm_sequence_unfused(w_hh, h0, c0, rev)?
                };
                let (hs, cs) = (states.narrow(0, 0, 1)?.squeeze(0)?, states.narrow(0, 1, 1)?.squeeze(0)?);
                let (h_last, c_last) = (hs.final_state(rev)?, cs.final_state(rev)?);
                Ok((hs, h_last, Some(c_last)))
            }
        }
    }
}

impl Module for Recurrent {
    /// The output sequence, from the zero state.
    fn forward(&self, x: &Var) -> Result<Var> {
        Ok(self.forward_with_state(x, None)?.0)
    }

    fn kind(&self) -> &'static str {
        self.kind.name()
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        let mut params = Vec::new();
        for dir in &self.dirs {
            params.push((format!("weight_ih_{}", dir.suffix), dir.w_ih.clone()));
            params.push((format!("weight_hh_{}", dir.suffix), dir.w_hh.clone()));
            for (name, b) in [("bias_ih", &dir.b_ih), ("bias_hh", &dir.b_hh)] {
                if let Some(b) = b {
                    params.push((format!("{name}_{}", dir.suffix), b.clone()));
                }
            }
        }
        params
    }

    fn set_training(&self, training: bool) {
        for d in self.dropout.iter().chain(&self.weight_drop) {
            d.set_training(training);
        }
    }
}
