//! index_select / index_add, gather / scatter_add, cat / stack and pad against naive references.

mod common;

use common::*;
use ferrograd_tensor::{DType, Rng, Tensor};
use proptest::prelude::*;
use proptest::sample::Index;

/// A shape of rank 1..=4, a dim of it, and a seed.
fn shape_dim() -> impl Strategy<Value = (Vec<usize>, usize)> {
    shape(1, 4).prop_flat_map(|s| {
        let r = s.len();
        (Just(s), 0..r)
    })
}

/// A tensor of `dt` (random normal for floats, random integers for `i64`).
fn rand_any(s: &[usize], dt: DType, seed: u64) -> Tensor {
    match dt {
        // 1..=1000 (built in f64, where add_scalar is defined).
        DType::I64 => small_ints(s, 1000, DType::F64, seed).to_dtype(DType::I64).unwrap(),
        _ => randn(s, dt, seed),
    }
}

fn any_dtype() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::F32), Just(DType::F64), Just(DType::I64)]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn index_select_picks_entries_along_a_dim(
        (s, d) in shape_dim(), len in 0usize..=6, dt in any_dtype(), seed in any::<u64>()
    ) {
        let x = rand_any(&s, dt, seed);
        let idx = Rng::new(seed ^ 1).randint(&[len], s[d] as u64).unwrap(); // repeats allowed
        let iv = idx.to_vec::<i64>().unwrap();
        let got = x.index_select(d, &idx).unwrap();
        prop_assert_eq!(got.dtype(), dt);
        let mut out_shape = s.clone();
        out_shape[d] = len;
        prop_assert_eq!(got.shape(), out_shape.as_slice());
        let xv = vals(&x);
        let want: Vec<f64> = (0..got.numel())
            .map(|j| {
                let mut i = unravel(j, &out_shape);
                i[d] = iv[i[d]] as usize;
                xv[ravel(&i, &s)]
            })
            .collect();
        assert_exact("index_select", &vals(&got), &want);
        // Negative dim, same result.
        let neg = x.index_select(d as i64 - s.len() as i64, &idx).unwrap();
        prop_assert_eq!(vals(&neg), want);
    }

    #[test]
    fn index_add_accumulates_repeated_indices(
        (s, d) in shape_dim(), len in 0usize..=6, dt in float_dtype(), seed in any::<u64>()
    ) {
        let x = randn(&s, dt, seed);
        let idx = Rng::new(seed ^ 1).randint(&[len], s[d] as u64).unwrap();
        let iv = idx.to_vec::<i64>().unwrap();
        let mut src_shape = s.clone();
        src_shape[d] = len;
        let src = randn(&src_shape, dt, seed ^ 2);
        let got = x.index_add(d, &idx, &src).unwrap();
        prop_assert_eq!(got.shape(), s.as_slice());
        let (xv, sv) = (vals(&x), vals(&src));
        let mut want = xv.clone();
        let mut abs = xv.iter().map(|v| v.abs()).collect::<Vec<_>>();
        let mut count = vec![1usize; xv.len()];
        for (j, &v) in sv.iter().enumerate() {
            let mut i = unravel(j, &src_shape);
            i[d] = iv[i[d]] as usize;
            let p = ravel(&i, &s);
            want[p] += v;
            abs[p] += v.abs();
            count[p] += 1;
        }
        // Each output is a sum of `count` terms in some order: within count·eps·Σ|terms| (the
        // recursive-summation bound), plus the reference's count·eps64·Σ|terms|.
        let tol: Vec<f64> = abs.iter().zip(&count).map(|(a, &c)| c as f64 * (eps(dt) + f64::EPSILON) * a).collect();
        assert_close("index_add", &vals(&got), &want, &tol);
        // The input is not modified.
        prop_assert_eq!(vals(&x), xv);
    }

    #[test]
    fn gather_reads_along_dim_and_scatter_add_is_its_adjoint(
        (s, d) in shape_dim(), shrink in prop::collection::vec(any::<Index>(), 4), len in 1usize..=5,
        dt in float_dtype(), seed in any::<u64>()
    ) {
        // The index: same rank; along `d` any length, elsewhere no larger than the source.
        let ishape: Vec<usize> =
            s.iter().enumerate().map(|(i, &n)| if i == d { len } else { 1 + shrink[i].index(n) }).collect();
        let x = randn(&s, dt, seed);
        let idx = Rng::new(seed ^ 3).randint(&ishape, s[d] as u64).unwrap();
        let iv = idx.to_vec::<i64>().unwrap();
        let got = x.gather(d, &idx).unwrap();
        prop_assert_eq!(got.shape(), ishape.as_slice());
        let xv = vals(&x);
        let pos = |j: usize| {
            let mut i = unravel(j, &ishape);
            i[d] = iv[j] as usize;
            ravel(&i, &s)
        };
        let want: Vec<f64> = (0..iv.len()).map(|j| xv[pos(j)]).collect();
        assert_exact("gather", &vals(&got), &want);

        let src = randn(&ishape, dt, seed ^ 4);
        let sv = vals(&src);
        let sc = x.scatter_add(d, &idx, &src).unwrap();
        prop_assert_eq!(sc.shape(), s.as_slice());
        let mut want = xv.clone();
        let mut abs: Vec<f64> = xv.iter().map(|v| v.abs()).collect();
        let mut count = vec![1usize; xv.len()];
        for (j, &v) in sv.iter().enumerate() {
            want[pos(j)] += v;
            abs[pos(j)] += v.abs();
            count[pos(j)] += 1;
        }
        // As for index_add: count·(eps + eps64)·Σ|terms|.
        let tol: Vec<f64> = abs.iter().zip(&count).map(|(a, &c)| c as f64 * (eps(dt) + f64::EPSILON) * a).collect();
        assert_close("scatter_add", &vals(&sc), &want, &tol);
    }

    #[test]
    fn cat_concatenates_along_a_dim(
        (s, d) in shape_dim(), sizes in prop::collection::vec(0usize..=3, 1..=4), dt in any_dtype(),
        transpose_first in any::<bool>(), seed in any::<u64>()
    ) {
        let r = s.len();
        // The transposed operand gets at least one row: empty non-contiguous tensors are covered
        // by views.rs (`empty_non_contiguous_tensors_read_without_panicking`).
        let mut sizes = sizes;
        if transpose_first {
            sizes[0] = sizes[0].max(1);
        }
        let parts: Vec<Tensor> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let mut sh = s.clone();
                sh[d] = n;
                if i == 0 && transpose_first && r >= 2 {
                    // A non-contiguous operand: built transposed, then viewed back.
                    let mut swapped = sh.clone();
                    swapped.swap(r - 2, r - 1);
                    rand_any(&swapped, dt, seed ^ i as u64).transpose(-1, -2).unwrap()
                } else {
                    rand_any(&sh, dt, seed ^ i as u64)
                }
            })
            .collect();
        let refs: Vec<&Tensor> = parts.iter().collect();
        let got = Tensor::cat(&refs, d).unwrap();
        let mut out_shape = s.clone();
        out_shape[d] = sizes.iter().sum();
        prop_assert_eq!(got.shape(), out_shape.as_slice());
        prop_assert_eq!(got.dtype(), dt);
        let pv: Vec<Vec<f64>> = parts.iter().map(vals).collect();
        let want: Vec<f64> = (0..got.numel())
            .map(|j| {
                let mut i = unravel(j, &out_shape);
                let mut which = 0;
                while i[d] >= sizes[which] {
                    i[d] -= sizes[which];
                    which += 1;
                }
                pv[which][ravel(&i, parts[which].shape())]
            })
            .collect();
        assert_exact("cat", &vals(&got), &want);
    }

    #[test]
    fn stack_adds_a_new_dim(
        s in shape(0, 3), count in 1usize..=4, di in any::<Index>(), dt in any_dtype(), seed in any::<u64>()
    ) {
        let d = di.index(s.len() + 1);
        let parts: Vec<Tensor> = (0..count).map(|i| rand_any(&s, dt, seed ^ i as u64)).collect();
        let refs: Vec<&Tensor> = parts.iter().collect();
        let got = Tensor::stack(&refs, d).unwrap();
        let mut out_shape = s.clone();
        out_shape.insert(d, count);
        prop_assert_eq!(got.shape(), out_shape.as_slice());
        let pv: Vec<Vec<f64>> = parts.iter().map(vals).collect();
        let want: Vec<f64> = (0..got.numel())
            .map(|j| {
                let mut i = unravel(j, &out_shape);
                let which = i.remove(d);
                pv[which][if s.is_empty() { 0 } else { ravel(&i, &s) }]
            })
            .collect();
        assert_exact("stack", &vals(&got), &want);
        // Stacking at -1 puts the new dim last.
        let last = Tensor::stack(&refs, -1i64).unwrap();
        prop_assert_eq!(*last.shape().last().unwrap(), count);
    }

    #[test]
    fn pad_surrounds_with_zeros_and_narrow_undoes_it(
        (s, d) in shape_dim(), before in 0usize..=3, after in 0usize..=3, dt in any_dtype(), seed in any::<u64>()
    ) {
        let x = rand_any(&s, dt, seed);
        let got = x.pad(d, before, after).unwrap();
        let mut out_shape = s.clone();
        out_shape[d] += before + after;
        prop_assert_eq!(got.shape(), out_shape.as_slice());
        let xv = vals(&x);
        let want: Vec<f64> = (0..got.numel())
            .map(|j| {
                let mut i = unravel(j, &out_shape);
                if i[d] < before || i[d] >= before + s[d] {
                    0.0
                } else {
                    i[d] -= before;
                    xv[ravel(&i, &s)]
                }
            })
            .collect();
        assert_exact("pad", &vals(&got), &want);
        prop_assert_eq!(vals(&got.narrow(d, before, s[d]).unwrap()), xv);
    }
}

#[test]
fn index_select_and_gather_of_i64_and_simple_examples() {
    let x = Tensor::from_vec(vec![10i64, 11, 12, 20, 21, 22], &[2, 3]).unwrap();
    let idx = Tensor::from_vec(vec![2i64, 0, 2], &[3]).unwrap();
    assert_eq!(x.index_select(1, &idx).unwrap().to_vec::<i64>().unwrap(), vec![12, 10, 12, 22, 20, 22]);
    // torch.gather(x, 1, [[0, 0], [1, 2]]) = [[10, 10], [21, 22]]
    let g = Tensor::from_vec(vec![0i64, 0, 1, 2], &[2, 2]).unwrap();
    assert_eq!(x.gather(1, &g).unwrap().to_vec::<i64>().unwrap(), vec![10, 10, 21, 22]);
    // scatter_add of ones along dim 0 with repeated targets.
    let z = Tensor::zeros(&[3], DType::F32);
    let i = Tensor::from_vec(vec![1i64, 1, 2, 1], &[4]).unwrap();
    let ones = Tensor::ones(&[4], DType::F32);
    assert_eq!(z.scatter_add(0, &i, &ones).unwrap().to_vec::<f32>().unwrap(), vec![0.0, 3.0, 1.0]);
    assert_eq!(z.index_add(0, &i, &ones).unwrap().to_vec::<f32>().unwrap(), vec![0.0, 3.0, 1.0]);
}
