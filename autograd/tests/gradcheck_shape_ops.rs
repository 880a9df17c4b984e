//! gradcheck + gradgradcheck of reductions, matmul, softmax, views and indexing over random
//! shapes, including broadcast batch dims and non-contiguous inputs.

mod common;

use common::*;
use ferrograd_autograd::{Tensor, Var};
use proptest::prelude::*;

/// Shuffled values on a grid of step 0.05, each jittered by less than 0.01: random, but any two
/// at least 0.04 apart.
fn well_separated(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut rng = ferrograd_autograd::Rng::new(seed ^ 0x5EED);
    let v: Vec<f64> =
        rng.permutation(n).into_iter().map(|p| (p as f64 - n as f64 / 2.0) * 0.05 + 0.01 * rng.uniform()).collect();
    Tensor::from_vec(v, shape).unwrap()
}

/// All subsets of the dims of a rank-`r` tensor, as index lists.
fn subsets(r: usize) -> Vec<Vec<usize>> {
    (0..1u32 << r).map(|m| (0..r).filter(|d| m & (1 << d) != 0).collect()).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reductions(shape in shape(), seed in any::<u64>(), keepdim in any::<bool>()) {
        let x = uniform(&shape, seed, -2.0, 2.0);
        let distinct = well_separated(&shape, seed);
        for dims in subsets(shape.len()) {
            let d = dims.clone();
            check("sum", move |v| v[0].sum(&d, keepdim), std::slice::from_ref(&x), seed);
            let d = dims.clone();
            check("mean", move |v| v[0].mean(&d, keepdim), std::slice::from_ref(&x), seed);
            let d = dims.clone();
            check("logsumexp", move |v| v[0].logsumexp(&d, keepdim), std::slice::from_ref(&x), seed);
            // Values at least 0.04 apart, so max/min are differentiable there and a finite
            // difference (step 1e-6) never changes which element is the extremum.
            let d = dims.clone();
            check("max", move |v| v[0].max(&d, keepdim), std::slice::from_ref(&distinct), seed);
            let d = dims.clone();
            check("min", move |v| v[0].min(&d, keepdim), std::slice::from_ref(&distinct), seed);
            let n: usize = dims.iter().map(|&i| shape[i]).product();
            if n > 1 && !dims.is_empty() {
                let d = dims.clone();
                check("var", move |v| v[0].var(&d, 1, keepdim), std::slice::from_ref(&x), seed);
            }
        }
        // A non-contiguous input.
        check("sum (strided)", |v| unreverse(&v[0])?.sum([0], false), &[stored_reversed(&x)], seed);
    }

    #[test]
    fn matmul_2d(m in 1usize..5, k in 1usize..5, n in 1usize..5, seed in any::<u64>()) {
        let a = uniform(&[m, k], seed, -1.0, 1.0);
        let b = uniform(&[k, n], seed ^ 1, -1.0, 1.0);
        check("matmul", |v| v[0].matmul(&v[1]), &[a.clone(), b.clone()], seed);
        // Transposed operands: read through strides, no copies.
        let at = a.t().unwrap().contiguous().unwrap();
        let bt = b.t().unwrap().contiguous().unwrap();
        check("matmul (transposed operands)", |v| v[0].t()?.matmul(&v[1].t()?), &[at, bt], seed);
    }

    #[test]
    fn matmul_batched_broadcast(batch in 1usize..4, m in 1usize..4, k in 1usize..4, n in 1usize..4, seed in any::<u64>()) {
        // [batch, 1, m, k] @ [3, k, n]: both batch dims broadcast.
        let a = uniform(&[batch, 1, m, k], seed, -1.0, 1.0);
        let b = uniform(&[3, k, n], seed ^ 1, -1.0, 1.0);
        check("matmul (broadcast batch)", |v| v[0].matmul(&v[1]), &[a, b.clone()], seed);
        let w = uniform(&[k, n], seed ^ 2, -1.0, 1.0);
        // [3, n, k] (transposed batch) @ [k, n] read through a transposed view of a [n, k] buffer.
        let bt = b.t().unwrap().contiguous().unwrap();
        let wt = w.t().unwrap().contiguous().unwrap();
        check("matmul (batched @ shared, strided)", |v| v[0].matmul(&v[1].t()?), &[bt, wt], seed);
    }

    /// `x · Wᵀ + b` (a linear layer, W read through a transposed view) and a broadcast batch
    /// with a non-contiguous left operand, each with its bias gradient.
    #[test]
    fn matmul_bias(batch in 1usize..4, m in 1usize..5, k in 1usize..5, n in 1usize..5, seed in any::<u64>()) {
        let (x, w, b) = (uniform(&[m, k], seed, -1.0, 1.0), uniform(&[n, k], seed ^ 1, -1.0, 1.0), uniform(&[n], seed ^ 2, -1.0, 1.0));
        check("matmul_bias (linear)", |v| v[0].matmul_bias(&v[1].t()?, &v[2]), &[x, w.clone(), b.clone()], seed);
        let xt = uniform(&[batch, k, m], seed ^ 3, -1.0, 1.0);
        let f = |v: &[Var]| v[0].transpose(1, 2)?.matmul_bias(&v[1].t()?, &v[2]);
        check("matmul_bias (batched, transposed x)", f, &[xt, w, b], seed);
    }

    #[test]
    fn softmax_family(shape in shape(), seed in any::<u64>()) {
        let x = uniform(&shape, seed, -3.0, 3.0);
        for d in 0..shape.len() {
            check("softmax", move |v| v[0].softmax(d), std::slice::from_ref(&x), seed);
            check("log_softmax", move |v| v[0].log_softmax(d), std::slice::from_ref(&x), seed);
        }
        check("softmax (strided)", |v| unreverse(&v[0])?.softmax(-1), &[stored_reversed(&x)], seed);
    }

    #[test]
    fn views(shape in shape(), seed in any::<u64>()) {
        let x = uniform(&shape, seed, -2.0, 2.0);
        let n: usize = shape.iter().product();
        let r = shape.len();
        check("reshape", move |v| v[0].reshape(&[n]), std::slice::from_ref(&x), seed);
        let perm: Vec<usize> = (0..r).rev().collect();
        check("permute", move |v| v[0].permute(&perm)?.mul(&v[0].permute(&(0..r).rev().collect::<Vec<_>>())?), std::slice::from_ref(&x), seed);
        check("transpose", |v| v[0].transpose(0, -1), std::slice::from_ref(&x), seed);
        check("unsqueeze+squeeze", |v| v[0].unsqueeze(1)?.exp()?.squeeze(1), std::slice::from_ref(&x), seed);
        check("flatten", |v| v[0].flatten(0, -1), std::slice::from_ref(&x), seed);
        check("contiguous", |v| unreverse(&v[0])?.contiguous(), &[stored_reversed(&x)], seed);
        let mut big = shape.clone();
        big.insert(0, 2);
        check("expand", move |v| v[0].expand(&big)?.mul(&v[0].expand(&big)?), std::slice::from_ref(&x), seed);
        let len = shape[0];
        if len > 1 {
            check("narrow", move |v| v[0].narrow(0, 1, len - 1), std::slice::from_ref(&x), seed);
        }
        check("pad", |v| v[0].pad(-1, 2, 1)?.exp(), std::slice::from_ref(&x), seed);
    }

    #[test]
    fn indexing(shape in shape(), seed in any::<u64>(), picks in prop::collection::vec(0usize..4, 1..6)) {
        let x = uniform(&shape, seed, -2.0, 2.0);
        let len = shape[0];
        // Repeated indices are allowed: their gradients add up.
        let idx = Tensor::from_vec(picks.iter().map(|&p| (p % len) as i64).collect::<Vec<_>>(), &[picks.len()]).unwrap();
        let i2 = idx.clone();
        check("index_select", move |v| v[0].index_select(0, &i2), std::slice::from_ref(&x), seed);
        let mut src_shape = shape.clone();
        src_shape[0] = picks.len();
        let src = uniform(&src_shape, seed ^ 1, -2.0, 2.0);
        let i3 = idx.clone();
        check("index_add", move |v| v[0].index_add(0, &i3, &v[1]), &[x.clone(), src], seed);
        // gather/scatter_add along the last dim with an index of the same shape.
        let last = shape.len() - 1;
        let mut rng = ferrograd_autograd::Rng::new(seed);
        let gi = rng.randint(&shape, shape[last] as u64).unwrap();
        let g2 = gi.clone();
        check("gather", move |v| v[0].gather(last, &g2), std::slice::from_ref(&x), seed);
        let s = uniform(&shape, seed ^ 3, -2.0, 2.0);
        check("scatter_add", move |v| v[0].scatter_add(last, &gi, &v[1]), &[x.clone(), s], seed);
    }

    #[test]
    fn cat_and_stack(shape in shape(), seed in any::<u64>(), extra in 1usize..3) {
        let a = uniform(&shape, seed, -2.0, 2.0);
        let mut s2 = shape.clone();
        s2[0] = extra;
        let b = uniform(&s2, seed ^ 1, -2.0, 2.0);
        check("cat", |v| Var::cat(&[&v[0], &v[1]], 0), &[a.clone(), b], seed);
        let c = uniform(&shape, seed ^ 2, -2.0, 2.0);
        check("stack", |v| Var::stack(&[&v[0], &v[1]], -1), &[a, c], seed);
    }
}
