//! Attention: the fused op passes gradcheck and gradgradcheck over random sizes, causal and
//! full, on dense and non-contiguous inputs; and it agrees with the composed form in f32 on a
//! Transformer-sized case (values and all three gradients).

mod common;

use common::*;
use ferrograd_autograd::{DType, Rng, Var};
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fused_attention_gradients(
        lead in prop::collection::vec(1usize..=2, 0..=2),
        (tq, tk, d, dv) in (1usize..=4, 1usize..=4, 1usize..=3, 1usize..=3),
        causal in any::<bool>(),
        strided in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let shape = |rows: usize, cols: usize| [lead.as_slice(), &[rows, cols]].concat();
        let (qs, ks, vs) = (shape(tq, d), shape(tk, d), shape(tk, dv));
        let inputs = [uniform(&qs, seed, -2.0, 2.0), uniform(&ks, seed ^ 1, -2.0, 2.0), uniform(&vs, seed ^ 2, -2.0, 2.0)];
        if strided {
            let stored: Vec<_> = inputs.iter().map(stored_reversed).collect();
            check("attention (strided)", move |v| {
                unreverse(&v[0])?.scaled_dot_product_attention(&unreverse(&v[1])?, &unreverse(&v[2])?, None, causal)
            }, &stored, seed);
        } else {
            check("attention", move |v| v[0].scaled_dot_product_attention(&v[1], &v[2], None, causal), &inputs, seed);
        }
    }
}

/// 1e-5 absolute: values and gradients are O(1) sums of at most 64·128 products of O(1)
/// terms in f32 (u ≈ 6e-8), computed in different orders by the two forms.
#[test]
fn fused_attention_matches_the_composed_form_in_f32() {
    let mut rng = Rng::new(11);
    for causal in [true, false] {
        let make = |rng: &mut Rng, s: &[usize]| Var::parameter(rng.normal_tensor(s, 0.0, 1.0, DType::F32).unwrap());
        let (q, k, v) =
            (make(&mut rng, &[2, 4, 64, 16]), make(&mut rng, &[2, 4, 64, 16]), make(&mut rng, &[2, 4, 64, 8]));
        let g = rng.normal_tensor(&[2, 4, 64, 8], 0.0, 1.0, DType::F32).unwrap();
        let mut results = Vec::new();
        for fused in [true, false] {
            for p in [&q, &k, &v] {
                p.zero_grad();
            }
            let y = if fused {
                q.scaled_dot_product_attention(&k, &v, None, causal).unwrap()
            } else {
                q.scaled_dot_product_attention_composed(&k, &v, None, causal).unwrap()
            };
            y.mul(&Var::constant(g.clone())).unwrap().sum_all().unwrap().backward().unwrap();
            let all = [y.value(), q.grad().unwrap(), k.grad().unwrap(), v.grad().unwrap()];
            results.push(all.map(|t| t.to_vec::<f32>().unwrap()));
        }
        for (name, (a, b)) in ["output", "∂q", "∂k", "∂v"].iter().zip(results[0].iter().zip(&results[1])) {
            let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "causal {causal}: {name} differs by {worst}");
        }
    }
}
