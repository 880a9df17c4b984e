//! Tour, step 8: backpropagation through time, and why the LSTM was invented.
//!
//! ```text
//! cargo run --release --example 08_backprop_through_time
//! cargo run --release --example 08_backprop_through_time -- --steps 60 --hidden 64
//! ```
//!
//! A recurrent network applies the same cell at every step, `h_t = cell(x_t, h_{t−1})`;
//! unrolled, it is one long graph, and backward runs through it from the last step to the
//! first. By the chain rule, the gradient that reaches an early state is a product of one
//! Jacobian per step:
//!
//! ```text
//! ∂L/∂h_t = (∂h_{t+1}/∂h_t)ᵀ · ∂L/∂h_{t+1}
//! plain RNN, h_{t+1} = tanh(W_x x + W_h h_t + b):  ∂h_{t+1}/∂h_t = diag(1 − h_{t+1}²) · W_h
//! ```
//!
//! With `tanh′ ≤ 1` and a weight matrix of norm below 1, the product shrinks geometrically: the
//! gradient *vanishes*, and the early steps learn nothing. The LSTM adds a cell state updated
//! additively, `c_{t+1} = f · c_t + i · g`, whose Jacobian along the cell path is just the
//! forget gate `diag(f)`: with `f` near 1 the gradient passes through many steps intact.
//!
//! Both cells are built here from plain ops (matmul, sigmoid, tanh, narrow), so backward runs
//! through their rules; a gradient hook on every `h_t` records `‖∂L/∂h_t‖` as backward passes
//! it. The loss reads only the last state.

use clap::Parser;
use ferrograd::{DType, Rng, Tensor, Var};
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Parser, Debug)]
#[command(about = "Tour 8: gradient norms through time, plain RNN against LSTM")]
struct Args {
    /// Sequence length.
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// Hidden size.
    #[arg(long, default_value_t = 32)]
    hidden: usize,
    /// Sequences in the batch.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Seed for weights and inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// `U(−1/√fan, 1/√fan)` weights, PyTorch's initialisation of its RNN and LSTM layers.
fn weight(rng: &mut Rng, shape: &[usize], hidden: usize) -> ferrograd::Result<Var> {
    let bound = 1.0 / (hidden as f64).sqrt();
    Ok(Var::parameter(rng.uniform_tensor(shape, -bound, bound, DType::F64)?))
}

/// Runs a cell over the inputs, returning the states `h_1 … h_T`.
fn unroll(
    xs: &[Var],
    h0: &Var,
    mut cell: impl FnMut(&Var, &Var) -> ferrograd::Result<Var>,
) -> ferrograd::Result<Vec<Var>> {
    let mut states = Vec::with_capacity(xs.len());
    let mut h = h0.clone();
    for x in xs {
        h = cell(x, &h)?;
        states.push(h.clone());
    }
    Ok(states)
}

/// `‖∂L/∂h_t‖` for every step, recorded by hooks during one backward pass from `L = Σ h_T · v`.
fn gradient_norms(states: &[Var], readout: &Var) -> ferrograd::Result<Vec<f64>> {
    let norms = Rc::new(RefCell::new(vec![0.0; states.len()]));
    for (t, h) in states.iter().enumerate() {
        let norms = norms.clone();
        let _ = h.register_hook(move |g| {
            let v = g.value().to_vec::<f64>()?;
            norms.borrow_mut()[t] = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            Ok(None)
        })?;
    }
    let last = states.last().expect("at least one step");
    last.matmul(readout)?.sum_all()?.backward()?;
    let out = norms.borrow().clone();
    Ok(out)
}

fn main() -> ferrograd::Result<()> {
    let args = Args::parse();
    let (b, n, hd, steps) = (args.batch_size, 4, args.hidden, args.steps.max(1));
    let mut rng = Rng::new(args.seed);
    let xs: Vec<Var> = (0..steps)
        .map(|_| rng.normal_tensor(&[b, n], 0.0, 1.0, DType::F64).map(Var::constant))
        .collect::<Result<_, _>>()?;
    let h0 = Var::constant(Tensor::zeros(&[b, hd], DType::F64));
    let readout = Var::constant(rng.normal_tensor(&[hd, 1], 0.0, 1.0, DType::F64)?);

    // Plain RNN: h' = tanh(x·Wx + h·Wh + b).
    let (wx, wh, bias) =
        (weight(&mut rng, &[n, hd], hd)?, weight(&mut rng, &[hd, hd], hd)?, weight(&mut rng, &[hd], hd)?);
    let rnn = unroll(&xs, &h0, |x, h| x.matmul(&wx)?.add(&h.matmul(&wh)?)?.add(&bias)?.tanh())?;
    let rnn_norms = gradient_norms(&rnn, &readout)?;

    // LSTM: gates = x·Wx + h·Wh + b, split into input, forget, candidate and output gates;
    // c' = f·c + i·g, h' = o·tanh(c'). The forget gate's bias starts at 1 (a common choice).
    let (wx, wh) = (weight(&mut rng, &[n, 4 * hd], hd)?, weight(&mut rng, &[hd, 4 * hd], hd)?);
    let mut b4 = rng.uniform_tensor(&[4 * hd], -0.1, 0.1, DType::F64)?.to_vec::<f64>()?;
    b4[hd..2 * hd].iter_mut().for_each(|v| *v += 1.0);
    let bias = Var::parameter(Tensor::from_vec(b4, &[4 * hd])?);
    let mut c = h0.clone();
    let lstm = unroll(&xs, &h0, |x, h| {
        let gates = x.matmul(&wx)?.add(&h.matmul(&wh)?)?.add(&bias)?;
        let gate = |k: usize| gates.narrow(1, k * hd, hd);
        let (i, f, g, o) = (gate(0)?.sigmoid()?, gate(1)?.sigmoid()?, gate(2)?.tanh()?, gate(3)?.sigmoid()?);
        c = f.mul(&c)?.add(&i.mul(&g)?)?;
        o.mul(&c.tanh()?)
    })?;
    let lstm_norms = gradient_norms(&lstm, &readout)?;

    println!("‖∂L/∂h_t‖ as backward reaches step t (the loss reads h_{steps} only)");
    println!("{:>6} {:>12} {:>12}", "step", "RNN", "LSTM");
    let every = (steps / 10).max(1);
    for t in (0..steps).rev().filter(|t| (steps - 1 - t) % every == 0 || *t == 0) {
        println!("{:>6} {:>12.3e} {:>12.3e}", t + 1, rnn_norms[t], lstm_norms[t]);
    }
    let kept = |v: &[f64]| v[0] / v[steps - 1];
    println!(
        "what reaches step 1, relative to step {steps}: RNN {:.1e}, LSTM {:.1e}",
        kept(&rnn_norms),
        kept(&lstm_norms)
    );
    println!(
        "{}",
        serde_json::json!({
            "example": "08_backprop_through_time",
            "steps": steps,
            "rnn_first_to_last": kept(&rnn_norms),
            "lstm_first_to_last": kept(&lstm_norms),
        })
    );
    Ok(())
}
