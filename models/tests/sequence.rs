//! Sequence layers: recurrent layers (shapes, states, fused vs unfused, PyTorch names),
//! attention (against a loop-by-loop reference, masks), the Transformer block (gradcheck,
//! causality), embeddings, gradient clipping and the warm-up + cosine schedule.

use ferrograd_autograd::ops::{causal_mask, padding_mask};
use ferrograd_autograd::{gradcheck, DType, GradcheckOptions, Rng, Tensor, Var};
use ferrograd_models::layers::{
    Embedding, MultiHeadAttention, Recurrent, RecurrentConfig, RecurrentState, RotaryEmbedding, TransformerBlock,
    TransformerConfig,
};
use ferrograd_models::optim::{clip_grad_norm, WarmupCosine};
use ferrograd_models::Module;

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let (a, b) = (
        a.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap(),
        b.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap(),
    );
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

fn lstm_config() -> RecurrentConfig {
    RecurrentConfig { num_layers: 2, bidirectional: true, ..RecurrentConfig::new(3, 4) }
}

#[test]
fn a_two_layer_bidirectional_lstm_has_pytorch_shapes_and_names() {
    let mut rng = Rng::new(0);
    let lstm = Recurrent::lstm(lstm_config(), DType::F32, &mut rng).unwrap();
    let x = Var::constant(rng.normal_tensor(&[5, 7, 3], 0.0, 1.0, DType::F32).unwrap());
    let (y, state) = lstm.forward_with_state(&x, None).unwrap();
    assert_eq!(y.shape(), [5, 7, 8]);
    assert_eq!(state.h.shape(), [4, 5, 4]);
    assert_eq!(state.c.unwrap().shape(), [4, 5, 4]);
    let names: Vec<String> = lstm.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(&names[..4], ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]);
    assert_eq!(names[4], "weight_ih_l0_reverse");
    assert_eq!(names.len(), 16);
    // Layer 1 reads both directions of layer 0: W_ih is [4H, 2H].
    assert_eq!(lstm.named_parameters()[8].1.shape(), [16, 8]);
}

/// The final state is the output at the last step forward, and at step 0 for the reverse
/// direction.
#[test]
fn the_final_state_matches_the_output_sequence() {
    let mut rng = Rng::new(1);
    let cfg = RecurrentConfig { bidirectional: true, ..RecurrentConfig::new(3, 4) };
    for rnn in
        [Recurrent::gru(cfg.clone(), DType::F64, &mut rng).unwrap(), Recurrent::rnn(cfg, DType::F64, &mut rng).unwrap()]
    {
        let x = Var::constant(rng.normal_tensor(&[2, 5, 3], 0.0, 1.0, DType::F64).unwrap());
        let (y, state) = rnn.forward_with_state(&x, None).unwrap();
        let y = y.value();
        let fwd_last = y.narrow(1, 4, 1).unwrap().narrow(2, 0, 4).unwrap().reshape(&[2, 4]).unwrap();
        let rev_first = y.narrow(1, 0, 1).unwrap().narrow(2, 4, 4).unwrap().reshape(&[2, 4]).unwrap();
        assert_eq!(max_diff(&state.h.value().narrow(0, 0, 1).unwrap().reshape(&[2, 4]).unwrap(), &fwd_last), 0.0);
        assert_eq!(max_diff(&state.h.value().narrow(0, 1, 1).unwrap().reshape(&[2, 4]).unwrap(), &rev_first), 0.0);
    }
}

/// Running a sequence in two halves, passing the state along, equals running it whole; and
/// `step` is one time step of the same computation.
#[test]
fn state_carries_across_calls_and_step_is_one_time_step() {
    let mut rng = Rng::new(2);
    let lstm =
        Recurrent::lstm(RecurrentConfig { num_layers: 2, ..RecurrentConfig::new(3, 4) }, DType::F64, &mut rng).unwrap();
    let x = Var::constant(rng.normal_tensor(&[2, 6, 3], 0.0, 1.0, DType::F64).unwrap());
    let (whole, _) = lstm.forward_with_state(&x, None).unwrap();
    let (first, state) = lstm.forward_with_state(&x.narrow(1, 0, 4).unwrap(), None).unwrap();
    let (second, state) = lstm.forward_with_state(&x.narrow(1, 4, 2).unwrap(), Some(&state)).unwrap();
    let joined = Var::cat(&[&first, &second], 1).unwrap();
    assert!(max_diff(&whole.value(), &joined.value()) < 1e-14);
    let detached: RecurrentState = state.detach();
    let (out, _) = lstm.step(&x.narrow(1, 0, 1).unwrap().squeeze(1).unwrap(), Some(&detached)).unwrap();
    assert_eq!(out.shape(), [2, 4]);
}

/// A whole multi-layer bidirectional LSTM and GRU, fused and unfused, f32: outputs and every
/// parameter's gradient agree (the tolerance of the op-level test, `1e-5` relative).
#[test]
fn fused_and_unfused_layers_agree() {
    for gru in [false, true] {
        let build = || {
            let mut rng = Rng::new(3);
            let cfg = lstm_config();
            if gru { Recurrent::gru(cfg, DType::F32, &mut rng) } else { Recurrent::lstm(cfg, DType::F32, &mut rng) }
                .unwrap()
        };
        let (fused, mut unfused) = (build(), build());
        unfused.set_fused(false);
        let x = Var::constant(Rng::new(4).normal_tensor(&[3, 9, 3], 0.0, 1.0, DType::F32).unwrap());
        let mut results = Vec::new();
        for layer in [&fused, &unfused] {
            let (y, state) = layer.forward_with_state(&x, None).unwrap();
            y.sum_all().unwrap().add(&state.h.mul_scalar(0.5).unwrap().sum_all().unwrap()).unwrap().backward().unwrap();
            let grads: Vec<Tensor> = layer.parameters().iter().map(|p| p.grad().unwrap()).collect();
            results.push((y.value(), grads));
        }
        assert!(max_diff(&results[0].0, &results[1].0) < 1e-5);
        for (a, b) in results[0].1.iter().zip(&results[1].1) {
            let scale = b.to_vec::<f32>().unwrap().iter().fold(1.0f64, |m, &x| m.max(x.abs() as f64));
            assert!(max_diff(a, b) <= 1e-5 * scale, "gru={gru}: {} (scale {scale})", max_diff(a, b));
        }
    }
}

/// Weight drop thins `W_hh` once per call: in training mode the layer computes exactly what a
/// layer without weight drop computes with the thinned matrix in place of `W_hh`, at every step
/// of every sequence. Which entries were dropped is read off `W_hh`'s gradient (exactly zero
/// there, and almost surely nowhere else). In evaluation mode the weights are used whole.
#[test]
fn weight_drop_thins_the_recurrent_weights_once_per_call() {
    let p = 0.4;
    let build = |weight_drop| {
        let cfg = RecurrentConfig { num_layers: 2, weight_drop, seed: 7, ..RecurrentConfig::new(3, 5) };
        Recurrent::lstm(cfg, DType::F64, &mut Rng::new(8)).unwrap()
    };
    let (dropped, plain) = (build(p), build(0.0));
    let x = Var::constant(Rng::new(9).normal_tensor(&[3, 6, 3], 0.0, 1.0, DType::F64).unwrap());
    dropped.eval();
    assert_eq!(max_diff(&dropped.forward(&x).unwrap().value(), &plain.forward(&x).unwrap().value()), 0.0);
    dropped.train();
    let y = dropped.forward(&x).unwrap();
    y.sum_all().unwrap().backward().unwrap();
    let mut dropped_count = 0;
    for ((name, w), (_, w_plain)) in dropped.named_parameters().into_iter().zip(plain.named_parameters()) {
        let grad = w.grad().unwrap().to_vec::<f64>().unwrap();
        if !name.starts_with("weight_hh") {
            assert!(grad.iter().all(|&g| g != 0.0), "{name}: only W_hh is thinned");
            continue;
        }
        let thinned: Vec<f64> = (w.value().to_vec::<f64>().unwrap().iter().zip(&grad))
            .map(|(&w, &g)| if g == 0.0 { 0.0 } else { w / (1.0 - p) })
            .collect();
        dropped_count += thinned.iter().filter(|&&v| v == 0.0).count();
        w_plain.set_value(Tensor::from_vec(thinned, &w.shape()).unwrap()).unwrap();
    }
    // 200 entries of W_hh over both layers, each dropped with probability 0.4 (sd ≈ 7).
    assert!((45..=115).contains(&dropped_count), "{dropped_count} of 200 dropped");
    assert!(max_diff(&y.value(), &plain.forward(&x).unwrap().value()) < 1e-12);
    for (dropout, weight_drop) in [(0.0, 1.0), (0.0, f64::NAN), (-0.1, 0.0)] {
        let cfg = RecurrentConfig { dropout, weight_drop, ..RecurrentConfig::new(3, 5) };
        assert!(Recurrent::lstm(cfg, DType::F64, &mut Rng::new(0)).is_err(), "{dropout}, {weight_drop}");
    }
}

/// Finite differences through a whole two-layer bidirectional LSTM and GRU, in f64, with
/// respect to the input sequence.
#[test]
fn recurrent_layers_pass_gradcheck() {
    let mut rng = Rng::new(5);
    let cfg = RecurrentConfig { num_layers: 2, bidirectional: true, ..RecurrentConfig::new(2, 3) };
    for layer in [
        Recurrent::lstm(cfg.clone(), DType::F64, &mut rng).unwrap(),
        Recurrent::gru(cfg, DType::F64, &mut rng).unwrap(),
    ] {
        let x = rng.normal_tensor(&[2, 3, 2], 0.0, 1.0, DType::F64).unwrap();
        let report =
            gradcheck("recurrent", |v: &[Var]| layer.forward(&v[0]), &[x], GradcheckOptions::default()).unwrap();
        assert!(report.passed, "{report}");
    }
}

/// Attention computed with explicit loops over batch, query and key, in f64.
#[allow(clippy::too_many_arguments)]
fn reference_attention(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    b: usize,
    tq: usize,
    tk: usize,
    d: usize,
    blocked: impl Fn(usize, usize, usize) -> bool,
) -> Vec<f64> {
    let mut out = vec![0.0; b * tq * d];
    for bi in 0..b {
        for i in 0..tq {
            let scores: Vec<f64> = (0..tk)
                .map(|j| {
                    if blocked(bi, i, j) {
                        f64::NEG_INFINITY
                    } else {
                        (0..d).map(|c| q[(bi * tq + i) * d + c] * k[(bi * tk + j) * d + c]).sum::<f64>()
                            / (d as f64).sqrt()
                    }
                })
                .collect();
            let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for j in 0..tk {
                for c in 0..d {
                    out[(bi * tq + i) * d + c] += e[j] / z * v[(bi * tk + j) * d + c];
                }
            }
        }
    }
    out
}

#[test]
fn attention_matches_a_loop_reference_with_causal_and_padding_masks() {
    let mut rng = Rng::new(6);
    let (b, t, d) = (2, 5, 3);
    let mk = |rng: &mut Rng| rng.normal_tensor(&[b, t, d], 0.0, 1.0, DType::F64).unwrap();
    let (q, k, v) = (mk(&mut rng), mk(&mut rng), mk(&mut rng));
    let lengths = [5, 3];
    let mask = padding_mask(&lengths, t).unwrap().reshape(&[b, 1, t]).unwrap();
    let y = Var::constant(q.clone())
        .scaled_dot_product_attention(&Var::constant(k.clone()), &Var::constant(v.clone()), Some(&mask), true)
        .unwrap();
    let (qv, kv, vv) = (q.to_vec::<f64>().unwrap(), k.to_vec::<f64>().unwrap(), v.to_vec::<f64>().unwrap());
    let want = reference_attention(&qv, &kv, &vv, b, t, t, d, |bi, i, j| j > i || j >= lengths[bi]);
    let got = y.value().to_vec::<f64>().unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-12, "{g} vs {w}");
    }
    // Two queries that are the last two of three positions: the first may not see the third.
    assert_eq!(causal_mask(2, 3).unwrap().to_vec::<f32>().unwrap(), [0., 0., 1., 0., 0., 0.]);
}

/// Without a mask the fused kernel runs (with a mask, the composed form above): it matches
/// the same loop reference, causal and not.
#[test]
fn fused_attention_matches_the_loop_reference() {
    let mut rng = Rng::new(9);
    let (b, tq, tk, d) = (3, 4, 6, 5);
    let q = rng.normal_tensor(&[b, tq, d], 0.0, 1.0, DType::F64).unwrap();
    let k = rng.normal_tensor(&[b, tk, d], 0.0, 1.0, DType::F64).unwrap();
    let v = rng.normal_tensor(&[b, tk, d], 0.0, 1.0, DType::F64).unwrap();
    let (qv, kv, vv) = (q.to_vec::<f64>().unwrap(), k.to_vec::<f64>().unwrap(), v.to_vec::<f64>().unwrap());
    for causal in [false, true] {
        let y = Var::constant(q.clone())
            .scaled_dot_product_attention(&Var::constant(k.clone()), &Var::constant(v.clone()), None, causal)
            .unwrap();
        // Queries are the last `tq` of `tk` positions.
        let want = reference_attention(&qv, &kv, &vv, b, tq, tk, d, |_, i, j| causal && j > i + tk - tq);
        for (g, w) in y.value().to_vec::<f64>().unwrap().iter().zip(&want) {
            assert!((g - w).abs() < 1e-12, "causal {causal}: {g} vs {w}");
        }
    }
}

/// Self-attention projects q, k and v in one stacked product; attending from three distinct
/// (equal) inputs projects them one by one. Same outputs, same parameter gradients.
#[test]
fn self_attention_stacks_its_projections_without_changing_the_result() {
    let mut rng = Rng::new(10);
    let mha = MultiHeadAttention::new(8, 2, DType::F64, &mut rng).unwrap();
    let x = Var::constant(rng.normal_tensor(&[2, 5, 8], 0.0, 1.0, DType::F64).unwrap());
    let mut runs = Vec::new();
    for stacked in [true, false] {
        mha.zero_grad();
        let y = if stacked {
            mha.self_attend(&x, None, true).unwrap()
        } else {
            let (k, v) = (x.mul_scalar(1.0).unwrap(), x.mul_scalar(1.0).unwrap());
            mha.attend(&x, &k, &v, None, true).unwrap()
        };
        y.mul(&y).unwrap().sum_all().unwrap().backward().unwrap();
        let grads: Vec<Tensor> = mha.parameters().iter().map(|p| p.grad().unwrap()).collect();
        runs.push((y.value(), grads));
    }
    assert!(max_diff(&runs[0].0, &runs[1].0) < 1e-12);
    for (a, b) in runs[0].1.iter().zip(&runs[1].1) {
        assert!(max_diff(a, b) < 1e-12);
    }
}

#[test]
fn attention_passes_gradcheck_with_masks() {
    let mut rng = Rng::new(7);
    let shape = [2, 2, 4, 3]; // [B, heads, T, d]
    let inputs: Vec<Tensor> = (0..3).map(|_| rng.normal_tensor(&shape, 0.0, 1.0, DType::F64).unwrap()).collect();
    let mask = padding_mask(&[4, 2], 4).unwrap();
    let f = |v: &[Var]| v[0].scaled_dot_product_attention(&v[1], &v[2], Some(&mask), true);
    let report = gradcheck("attention", f, &inputs, GradcheckOptions::default()).unwrap();
    assert!(report.passed, "{report}");
}

/// Changing a later token never changes an earlier output of a causal block.
#[test]
fn a_causal_transformer_block_does_not_look_ahead_and_passes_gradcheck() {
    let mut rng = Rng::new(8);
    let block = TransformerBlock::new(
        TransformerConfig { d_ff: 8, ..TransformerConfig::decoder_only(4, 2) },
        DType::F64,
        &mut rng,
    )
    .unwrap();
    let x = rng.normal_tensor(&[2, 5, 4], 0.0, 1.0, DType::F64).unwrap();
    let y1 = block.forward(&Var::constant(x.clone())).unwrap().value();
    let mut changed = x.to_vec::<f64>().unwrap();
    for c in 0..4 {
        changed[4 * 4 + c] += 1.0; // batch 0, position 4 (the last)
    }
    let y2 = block.forward(&Var::constant(Tensor::from_vec(changed, &[2, 5, 4]).unwrap())).unwrap().value();
    let first4 = |y: &Tensor| y.narrow(0, 0, 1).unwrap().narrow(1, 0, 4).unwrap();
    assert_eq!(max_diff(&first4(&y1), &first4(&y2)), 0.0);
    assert!(max_diff(&y1, &y2) > 1e-3, "the last position must change");
    let report =
        gradcheck("transformer block", |v: &[Var]| block.forward(&v[0]), &[x], GradcheckOptions::default()).unwrap();
    assert!(report.passed, "{report}");
}

/// Rotary embeddings against a loop that rotates each pair `(x_i, x_{i+h})` by `t·θ_i`, on a
/// strided view (heads split out of `[B, T, D]`, as attention reads them).
#[test]
fn rotary_embedding_rotates_each_pair_by_its_angle() {
    let mut rng = Rng::new(11);
    let (b, t, heads, dh) = (2, 7, 3, 6);
    let x = rng.normal_tensor(&[b, t, heads * dh], 0.0, 1.0, DType::F64).unwrap();
    let view = Var::constant(x.clone()).reshape(&[b, t, heads, dh]).unwrap().permute(&[0, 2, 1, 3]).unwrap();
    let got = RotaryEmbedding::new(dh).unwrap().rotate(&view).unwrap().value().to_vec::<f64>().unwrap();
    let xv = x.to_vec::<f64>().unwrap();
    let half = dh / 2;
    for (bi, h, pos, i) in (0..b).flat_map(|bi| {
        (0..heads).flat_map(move |h| (0..t).flat_map(move |pos| (0..half).map(move |i| (bi, h, pos, i))))
    }) {
        let angle = pos as f64 * 10000f64.powf(-2.0 * i as f64 / dh as f64);
        let at = |j: usize| xv[(bi * t + pos) * heads * dh + h * dh + j];
        let (x1, x2) = (at(i), at(i + half));
        let out = |j: usize| got[((bi * heads + h) * t + pos) * dh + j];
        assert!((out(i) - (x1 * angle.cos() - x2 * angle.sin())).abs() < 1e-12);
        assert!((out(i + half) - (x2 * angle.cos() + x1 * angle.sin())).abs() < 1e-12);
    }
    assert!(RotaryEmbedding::new(5).is_err(), "an odd head width has no pairs");
    let wrong = Var::constant(Tensor::zeros(&[2, 3, 4], DType::F64));
    let err = RotaryEmbedding::new(6).unwrap().rotate(&wrong).unwrap_err().to_string();
    assert!(err.contains("RotaryEmbedding") && err.contains("[2, 3, 4]"), "{err}");
}

/// The point of rotary embeddings: a query–key score depends on the positions only through
/// their offset. Shifting a sequence later leaves every score between its members unchanged.
#[test]
fn rotary_scores_depend_only_on_the_offset() {
    let mut rng = Rng::new(12);
    let (dh, t, shift) = (8, 5, 3);
    let rope = RotaryEmbedding::new(dh).unwrap();
    let (q, k) = (
        rng.normal_tensor(&[t, dh], 0.0, 1.0, DType::F64).unwrap(),
        rng.normal_tensor(&[t, dh], 0.0, 1.0, DType::F64).unwrap(),
    );
    // The same rows placed at positions 0..t, and at shift..shift + t after random filler.
    let place = |rows: &Tensor, at: usize| {
        let filler = Tensor::ones(&[at, dh], DType::F64);
        Var::constant(Tensor::cat(&[&filler, rows], 0).unwrap())
    };
    let scores = |at: usize| {
        let (qr, kr) = (rope.rotate(&place(&q, at)).unwrap(), rope.rotate(&place(&k, at)).unwrap());
        let (qr, kr) = (qr.narrow(0, at, t).unwrap(), kr.narrow(0, at, t).unwrap());
        qr.matmul(&kr.transpose(0, 1).unwrap()).unwrap().value()
    };
    let (near, far) = (scores(0), scores(shift));
    assert!(max_diff(&near, &far) < 1e-12, "scores moved with the absolute position");
    // Without rotation the same check is trivially true; with it, the scores differ from q·kᵀ.
    let plain = Var::constant(q.clone()).matmul(&Var::constant(k.transpose(0, 1).unwrap())).unwrap().value();
    assert!(max_diff(&near, &plain) > 1e-3);
}

/// A causal block with rotary self-attention: no look-ahead, and its gradient (through the
/// rotation of queries and keys) passes gradcheck.
#[test]
fn a_rotary_causal_block_does_not_look_ahead_and_passes_gradcheck() {
    let mut rng = Rng::new(13);
    let cfg = TransformerConfig { d_ff: 8, rotary: true, ..TransformerConfig::decoder_only(8, 2) };
    let block = TransformerBlock::new(cfg, DType::F64, &mut rng).unwrap();
    let x = rng.normal_tensor(&[2, 5, 8], 0.0, 1.0, DType::F64).unwrap();
    let y1 = block.forward(&Var::constant(x.clone())).unwrap().value();
    let mut changed = x.to_vec::<f64>().unwrap();
    for v in &mut changed[4 * 8..5 * 8] {
        *v += 1.0; // batch 0, position 4 (the last)
    }
    let y2 = block.forward(&Var::constant(Tensor::from_vec(changed, &[2, 5, 8]).unwrap())).unwrap().value();
    let first4 = |y: &Tensor| y.narrow(0, 0, 1).unwrap().narrow(1, 0, 4).unwrap();
    assert_eq!(max_diff(&first4(&y1), &first4(&y2)), 0.0);
    let report =
        gradcheck("rotary block", |v: &[Var]| block.forward(&v[0]), &[x], GradcheckOptions::default()).unwrap();
    assert!(report.passed, "{report}");
    // The rotation alone, on a non-contiguous input (a transposed view).
    let rope = RotaryEmbedding::new(4).unwrap();
    let z = rng.normal_tensor(&[4, 6, 3], 0.0, 1.0, DType::F64).unwrap();
    let f = |v: &[Var]| rope.rotate(&v[0].transpose(1, 2)?.narrow(2, 1, 4)?);
    let report = gradcheck("rotary", f, &[z], GradcheckOptions::default()).unwrap();
    assert!(report.passed, "{report}");
}

#[test]
fn an_encoder_decoder_block_attends_to_memory() {
    let mut rng = Rng::new(9);
    let dec = TransformerBlock::new(TransformerConfig::decoder(8, 2), DType::F64, &mut rng).unwrap();
    let x = Var::constant(rng.normal_tensor(&[2, 3, 8], 0.0, 1.0, DType::F64).unwrap());
    let memory = rng.normal_tensor(&[2, 6, 8], 0.0, 1.0, DType::F64).unwrap();
    let mask = padding_mask(&[6, 4], 6).unwrap();
    let y = dec.forward_with(&x, None, Some(&Var::constant(memory.clone())), Some(&mask)).unwrap();
    assert_eq!(y.shape(), [2, 3, 8]);
    // Padded memory positions (batch 1, positions 4–5) do not affect the output.
    let mut m2 = memory.to_vec::<f64>().unwrap();
    for v in &mut m2[(6 + 4) * 8..] {
        *v += 3.0;
    }
    let y2 = dec
        .forward_with(&x, None, Some(&Var::constant(Tensor::from_vec(m2, &[2, 6, 8]).unwrap())), Some(&mask))
        .unwrap();
    assert!(max_diff(&y.value(), &y2.value()) < 1e-12);
    assert!(dec.forward(&x).is_err(), "a decoder block needs its memory");
    let mha = MultiHeadAttention::new(8, 3, DType::F64, &mut rng);
    assert!(mha.is_err(), "8 is not a multiple of 3 heads");
}

#[test]
fn embedding_padding_rows_start_at_zero_and_never_train() {
    let mut rng = Rng::new(10);
    let emb = Embedding::new(5, 3, Some(2), DType::F32, &mut rng).unwrap();
    assert_eq!(emb.weight.value().narrow(0, 2, 1).unwrap().to_vec::<f32>().unwrap(), [0.0; 3]);
    let ids = Tensor::from_vec(vec![2i64, 4, 2], &[3]).unwrap();
    emb.lookup(&ids).unwrap().sum_all().unwrap().backward().unwrap();
    let g = emb.weight.grad().unwrap().to_vec::<f32>().unwrap();
    assert_eq!(&g[6..9], [0.0; 3]);
    assert_eq!(&g[12..15], [1.0; 3]);
    assert!(Embedding::new(5, 3, Some(5), DType::F32, &mut rng).is_err());
}

#[test]
fn clip_grad_norm_scales_to_the_global_norm() {
    let a = Var::parameter(Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap());
    let b = Var::parameter(Tensor::from_vec(vec![3.0f32], &[1]).unwrap());
    // ∂/∂a Σ 3·a² = 6a = [6, 12]; ∂/∂b 2·b² = 4b = 12: the global norm is √(36 + 144 + 144) = 18.
    a.mul(&a)
        .unwrap()
        .mul_scalar(3.0)
        .unwrap()
        .sum_all()
        .unwrap()
        .add(&b.mul(&b).unwrap().mul_scalar(2.0).unwrap().sum_all().unwrap())
        .unwrap()
        .backward()
        .unwrap();
    let norm = clip_grad_norm(&[a.clone(), b.clone()], 9.0).unwrap();
    assert!((norm - 18.0).abs() < 1e-5);
    let ga = a.grad().unwrap().to_vec::<f32>().unwrap();
    assert!((ga[0] - 3.0).abs() < 1e-5 && (ga[1] - 6.0).abs() < 1e-5, "{ga:?}");
    assert!((b.grad().unwrap().to_vec::<f32>().unwrap()[0] - 6.0).abs() < 1e-5);
    // Below the threshold nothing changes.
    assert!((clip_grad_norm(&[a.clone(), b.clone()], 100.0).unwrap() - 9.0).abs() < 1e-4);
    assert!((b.grad().unwrap().to_vec::<f32>().unwrap()[0] - 6.0).abs() < 1e-5);
}

#[test]
fn warmup_cosine_rises_linearly_then_decays_to_the_floor() {
    let s = WarmupCosine { peak: 1.0, min_lr: 0.1, warmup: 10, total: 110 };
    assert!((s.lr(0) - 0.1).abs() < 1e-12);
    assert!((s.lr(9) - 1.0).abs() < 1e-12);
    assert!((s.lr(10) - 1.0).abs() < 1e-12);
    assert!((s.lr(60) - 0.55).abs() < 1e-12, "half-way down the cosine");
    assert!((s.lr(110) - 0.1).abs() < 1e-12 && (s.lr(500) - 0.1).abs() < 1e-12);
}
