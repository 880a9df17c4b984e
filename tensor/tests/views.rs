//! Views share their buffer and read the right elements; `contiguous()` copies only when it has
//! to; ops on non-contiguous inputs give what they give on contiguous copies.

mod common;

use common::*;
use ferrograd_tensor::{DType, Tensor};
use proptest::prelude::*;
use proptest::sample::Index;

/// A shape of rank `0..=4` and a random permutation of its dimensions.
fn shape_and_perm() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    shape(0, 4).prop_flat_map(|s| {
        let r = s.len();
        (Just(s), Just((0..r).collect::<Vec<_>>()).prop_shuffle())
    })
}

/// Whether a permutation of a contiguous tensor is still row-major: the dims that are not of
/// size 1 keep their relative order.
fn permuted_is_contiguous(shape: &[usize], perm: &[usize]) -> bool {
    let order: Vec<usize> = perm.iter().copied().filter(|&d| shape[d] != 1).collect();
    order.windows(2).all(|w| w[0] < w[1])
}

/// The permuted view's values, read with explicit index arithmetic from the base values.
fn naive_permute(x: &[f64], shape: &[usize], perm: &[usize]) -> Vec<f64> {
    let out_shape: Vec<usize> = perm.iter().map(|&d| shape[d]).collect();
    (0..x.len())
        .map(|j| {
            let o = unravel(j, &out_shape);
            let mut src = vec![0; shape.len()];
            for (i, &p) in perm.iter().enumerate() {
                src[p] = o[i];
            }
            x[ravel(&src, shape)]
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reshape_of_contiguous_is_a_view_in_row_major_order(
        s in shape(0, 4), dt in float_dtype(), seed in any::<u64>()
    ) {
        let x = randn(&s, dt, seed);
        let xv = vals(&x);
        let n = x.numel();
        let mut rev = s.clone();
        rev.reverse();
        for target in [vec![n], rev, vec![1, n, 1], vec![]] {
            if target.iter().product::<usize>() != n {
                continue; // [] only fits one element
            }
            let y = x.reshape(&target).unwrap();
            prop_assert!(y.shares_storage(&x), "reshape {s:?} -> {target:?} copied");
            prop_assert_eq!(y.shape(), target.as_slice());
            prop_assert_eq!(vals(&y), xv.clone());
            // And back again, still without a copy.
            let z = y.reshape(&s).unwrap();
            prop_assert!(z.shares_storage(&x));
            prop_assert_eq!(vals(&z), xv.clone());
        }
    }

    #[test]
    fn permute_is_a_view_reading_the_permuted_elements(
        (s, perm) in shape_and_perm(), dt in float_dtype(), seed in any::<u64>()
    ) {
        let x = randn(&s, dt, seed);
        let y = x.permute(&perm).unwrap();
        prop_assert!(y.shares_storage(&x));
        let want_shape: Vec<usize> = perm.iter().map(|&d| s[d]).collect();
        prop_assert_eq!(y.shape(), want_shape.as_slice());
        assert_exact("permute", &vals(&y), &naive_permute(&vals(&x), &s, &perm));
        prop_assert_eq!(y.is_contiguous(), permuted_is_contiguous(&s, &perm), "perm {:?} of {:?}", perm, s);
    }

    #[test]
    fn contiguous_copies_exactly_when_the_layout_is_not_row_major(
        (s, perm) in shape_and_perm(), dt in float_dtype(), seed in any::<u64>()
    ) {
        let x = randn(&s, dt, seed);
        prop_assert!(x.is_contiguous());
        prop_assert!(x.contiguous().unwrap().shares_storage(&x), "contiguous() of a contiguous tensor copied");
        let p = x.permute(&perm).unwrap();
        let c = p.contiguous().unwrap();
        prop_assert!(c.is_contiguous());
        prop_assert_eq!(c.shares_storage(&x), p.is_contiguous(), "perm {:?} of {:?}", perm, s);
        prop_assert_eq!(c.shape(), p.shape());
        prop_assert_eq!(vals(&c), vals(&p));
        // reshape of a non-contiguous view copies (as torch.reshape) but keeps the logical order.
        let flat = p.reshape(&[p.numel()]).unwrap();
        prop_assert_eq!(flat.shares_storage(&x), p.is_contiguous());
        prop_assert_eq!(vals(&flat), vals(&p));
    }

    #[test]
    fn transpose_and_t_swap_two_dims(
        s in shape(1, 4), a in any::<Index>(), b in any::<Index>(), dt in float_dtype(), seed in any::<u64>()
    ) {
        let r = s.len();
        let (d0, d1) = (a.index(r), b.index(r));
        let x = randn(&s, dt, seed);
        let y = x.transpose(d0, d1).unwrap();
        prop_assert!(y.shares_storage(&x));
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(d0, d1);
        assert_exact("transpose", &vals(&y), &naive_permute(&vals(&x), &s, &perm));
        // Negative dims count from the back.
        let neg = x.transpose(d0 as i64 - r as i64, d1 as i64 - r as i64).unwrap();
        prop_assert_eq!(neg.shape(), y.shape());
        prop_assert_eq!(neg.strides(), y.strides());
        if r >= 2 {
            let t = x.t().unwrap();
            prop_assert!(t.shares_storage(&x));
            let mut perm: Vec<usize> = (0..r).collect();
            perm.swap(r - 2, r - 1);
            assert_exact("t", &vals(&t), &naive_permute(&vals(&x), &s, &perm));
            // t() twice is the identity.
            prop_assert_eq!(vals(&t.t().unwrap()), vals(&x));
        }
    }

    #[test]
    fn narrow_is_a_view_of_the_slice(
        s in shape(1, 4), di in any::<Index>(), si in any::<Index>(), li in any::<Index>(),
        dt in float_dtype(), seed in any::<u64>()
    ) {
        let d = di.index(s.len());
        let start = si.index(s[d]);
        let len = li.index(s[d] - start + 1); // 0..=size-start
        let x = randn(&s, dt, seed);
        let y = x.narrow(d, start, len).unwrap();
        prop_assert!(y.shares_storage(&x));
        let mut want_shape = s.clone();
        want_shape[d] = len;
        prop_assert_eq!(y.shape(), want_shape.as_slice());
        let xv = vals(&x);
        let want: Vec<f64> = (0..y.numel())
            .map(|j| {
                let mut idx = unravel(j, &want_shape);
                idx[d] += start;
                xv[ravel(&idx, &s)]
            })
            .collect();
        assert_exact("narrow", &vals(&y), &want);
        // Narrowing a transposed view reads through both layouts at once.
        if s.len() >= 2 && len > 0 {
            let t = x.t().unwrap();
            let r = s.len();
            let td = if d == r - 1 { r - 2 } else if d == r - 2 { r - 1 } else { d };
            let tn = t.narrow(td, start, len).unwrap();
            prop_assert!(tn.shares_storage(&x));
            prop_assert_eq!(vals(&tn), vals(&y.t().unwrap()));
        }
    }

    #[test]
    fn unsqueeze_and_squeeze_insert_and_remove_unit_dims(
        s in shape(0, 4), di in any::<Index>(), dt in float_dtype(), seed in any::<u64>()
    ) {
        let r = s.len();
        let d = di.index(r + 1);
        let x = randn(&s, dt, seed);
        let u = x.unsqueeze(d).unwrap();
        prop_assert!(u.shares_storage(&x));
        let mut want = s.clone();
        want.insert(d, 1);
        prop_assert_eq!(u.shape(), want.as_slice());
        prop_assert!(u.is_contiguous());
        prop_assert_eq!(vals(&u), vals(&x));
        // Negative positions count from the back of the result: -1 appends.
        let un = x.unsqueeze(d as i64 - (r as i64 + 1)).unwrap();
        prop_assert_eq!(un.shape(), want.as_slice());
        let back = u.squeeze(d).unwrap();
        prop_assert!(back.shares_storage(&x));
        prop_assert_eq!(back.shape(), s.as_slice());
        prop_assert_eq!(vals(&back), vals(&x));
        // Broadcasting along the new dim reads the same values again.
        let e = u.expand(&{ let mut w = want.clone(); w[d] = 3; w }).unwrap();
        prop_assert!(e.shares_storage(&x));
        prop_assert_eq!(vals(&e.narrow(d, 2, 1).unwrap()), vals(&u));
    }

    #[test]
    fn expand_repeats_unit_dims_with_stride_zero(
        s in shape(0, 4), mask in prop::collection::vec(any::<bool>(), 4), lead in prop::collection::vec(1usize..=3, 0..=2),
        dt in float_dtype(), seed in any::<u64>()
    ) {
        let src_shape: Vec<usize> = s.iter().zip(&mask).map(|(&d, &one)| if one { 1 } else { d }).collect();
        let target: Vec<usize> = lead.iter().chain(&s).copied().collect();
        let x = randn(&src_shape, dt, seed);
        let y = x.expand(&target).unwrap();
        prop_assert!(y.shares_storage(&x));
        prop_assert_eq!(y.shape(), target.as_slice());
        for (i, &st) in y.strides().iter().enumerate() {
            let repeated = match i.checked_sub(lead.len()) {
                None => target[i] != 1, // a new leading dim
                Some(k) => src_shape[k] == 1 && target[i] != 1,
            };
            if repeated {
                prop_assert_eq!(st, 0, "dim {} of {:?} -> {:?} should have stride 0", i, src_shape, target);
            }
        }
        let xv = vals(&x);
        let want: Vec<f64> = (0..y.numel()).map(|j| xv[broadcast_source(&unravel(j, &target), &src_shape)]).collect();
        assert_exact("expand", &vals(&y), &want);
        // contiguous() materialises the repeats only when there are any.
        let c = y.contiguous().unwrap();
        prop_assert_eq!(c.shares_storage(&x), y.is_contiguous());
        prop_assert!(c.is_contiguous());
        prop_assert_eq!(vals(&c), want);
        prop_assert_eq!(vals(&x.broadcast_to(&target).unwrap()), vals(&y));
    }

    #[test]
    fn flatten_merges_a_range_of_dims(
        s in shape(1, 4), a in any::<Index>(), b in any::<Index>(), dt in float_dtype(), seed in any::<u64>()
    ) {
        let r = s.len();
        let (mut st, mut en) = (a.index(r), b.index(r));
        if st > en {
            std::mem::swap(&mut st, &mut en);
        }
        let x = randn(&s, dt, seed);
        let y = x.flatten(st, en).unwrap();
        prop_assert!(y.shares_storage(&x));
        let mut want = s[..st].to_vec();
        want.push(s[st..=en].iter().product());
        want.extend_from_slice(&s[en + 1..]);
        prop_assert_eq!(y.shape(), want.as_slice());
        prop_assert_eq!(vals(&y), vals(&x));
        // Negative dims: flatten(0, -1) is the 1-D view.
        let all = x.flatten(0i64, -1).unwrap();
        prop_assert_eq!(all.shape(), &[x.numel()][..]);
    }
}

/// Three non-contiguous tensors of logical shape `s`: a transposed view, a slice of a larger
/// tensor, and a broadcast of a smaller one.
fn non_contiguous_variants(s: &[usize], dt: DType, seed: u64) -> Vec<(&'static str, Tensor)> {
    let r = s.len();
    let mut out = Vec::new();
    // Transposed: store with the dims reversed, then permute them back.
    let rev: Vec<usize> = s.iter().rev().copied().collect();
    let perm: Vec<usize> = (0..r).rev().collect();
    out.push(("transposed", randn(&rev, dt, seed).permute(&perm).unwrap()));
    // Sliced: a larger tensor (last dim + 3), narrowed from 1.
    let mut big = s.to_vec();
    big[r - 1] += 3;
    out.push(("sliced", randn(&big, dt, seed ^ 1).narrow(r - 1, 1, s[r - 1]).unwrap()));
    // Expanded: dim 0 stored with size 1 and broadcast.
    let mut small = s.to_vec();
    small[0] = 1;
    out.push(("expanded", randn(&small, dt, seed ^ 2).expand(s).unwrap()));
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ops_on_non_contiguous_inputs_equal_ops_on_contiguous_copies(
        s in shape(2, 4), dt in float_dtype(), seed in any::<u64>()
    ) {
        let e = eps(dt);
        let w = randn(&s, dt, seed ^ 7);
        for (name, v) in non_contiguous_variants(&s, dt, seed) {
            let c = v.contiguous().unwrap();
            prop_assert!(c.is_contiguous());
            prop_assert_eq!(vals(&c), vals(&v), "{}: contiguous() changed values", name);
            // Elementwise maps: the same scalar function on the same values, so exactly equal.
            prop_assert_eq!(vals(&v.exp().unwrap()), vals(&c.exp().unwrap()), "{} exp", name);
            prop_assert_eq!(vals(&v.neg().unwrap()), vals(&c.neg().unwrap()), "{} neg", name);
            prop_assert_eq!(vals(&v.add(&w).unwrap()), vals(&c.add(&w).unwrap()), "{} add", name);
            prop_assert_eq!(vals(&w.sub(&v).unwrap()), vals(&w.sub(&c).unwrap()), "{} sub", name);
            prop_assert_eq!(vals(&v.mul(&v).unwrap()), vals(&c.mul(&c).unwrap()), "{} mul", name);
            // Max and argmax do not depend on the order of visits: exact.
            prop_assert_eq!(vals(&v.max([-1], false).unwrap()), vals(&c.max([-1], false).unwrap()), "{} max", name);
            prop_assert_eq!(vals(&v.argmax(0, true).unwrap()), vals(&c.argmax(0, true).unwrap()), "{} argmax", name);
            // Sums may be accumulated in another order on the two layouts. Each is within
            // γ_{n−1}·Σ|x| ≤ n·eps·Σ|x| of the exact sum, so they differ by at most twice that.
            for dims in subsets(s.len()) {
                let n: usize = dims.iter().map(|&d| s[d]).product();
                let abs_sum = vals(&c.abs().unwrap().sum(&dims, false).unwrap());
                let tol: Vec<f64> = abs_sum.iter().map(|a| 2.0 * n as f64 * e * a).collect();
                assert_close(&format!("{name} sum {dims:?}"), &vals(&v.sum(&dims, false).unwrap()),
                    &vals(&c.sum(&dims, false).unwrap()), &tol);
            }
            // Softmax along the last dim: each output has relative error ≤ (n + 8)·eps on either
            // layout (see ops.rs), so they differ by at most twice that.
            let n = s[s.len() - 1] as f64;
            let sc = vals(&c.softmax(-1).unwrap());
            let tol: Vec<f64> = sc.iter().map(|y| 2.0 * (n + 8.0) * e * y.abs() + tiny(dt)).collect();
            assert_close(&format!("{name} softmax"), &vals(&v.softmax(-1).unwrap()), &sc, &tol);
            // Matmul reads strided operands in place: v @ wᵀ over the last two dims. Each result
            // is within k·eps·Σ|a||b| of the exact product, so the two differ by twice that.
            let wt = w.transpose(-1, -2).unwrap();
            let k = s[s.len() - 1] as f64;
            let abs_prod = vals(&c.abs().unwrap().matmul(&wt.abs().unwrap()).unwrap());
            let tol: Vec<f64> = abs_prod.iter().map(|a| 2.0 * k * e * a).collect();
            assert_close(&format!("{name} matmul"), &vals(&v.matmul(&wt).unwrap()),
                &vals(&c.matmul(&wt).unwrap()), &tol);
            // Data movement is exact.
            let idx = Tensor::from_vec(vec![s[0] as i64 - 1, 0], &[2]).unwrap();
            prop_assert_eq!(vals(&v.index_select(0, &idx).unwrap()), vals(&c.index_select(0, &idx).unwrap()));
            let gidx = Tensor::zeros(&s, DType::I64);
            prop_assert_eq!(vals(&v.gather(-1, &gidx).unwrap()), vals(&c.gather(-1, &gidx).unwrap()));
            let both = Tensor::cat(&[&v, &w, &v], 0).unwrap();
            prop_assert_eq!(vals(&both.narrow(0, 0, s[0]).unwrap()), vals(&c));
            prop_assert_eq!(vals(&both.narrow(0, 2 * s[0], s[0]).unwrap()), vals(&c));
            prop_assert_eq!(vals(&v.pad(0, 1, 1).unwrap()), vals(&c.pad(0, 1, 1).unwrap()));
            prop_assert_eq!(vals(&v.to_dtype(DType::F64).unwrap()), vals(&c));
        }
    }
}

#[test]
fn narrow_along_dim_0_stays_contiguous_and_reshapes_without_copy() {
    let x = Tensor::from_vec((0..24).map(|i| i as f32 + 0.5).collect(), &[4, 6]).unwrap();
    let rows = x.narrow(0, 1, 2).unwrap();
    assert!(rows.is_contiguous());
    assert_eq!(rows.offset(), 6);
    let flat = rows.reshape(&[12]).unwrap();
    assert!(flat.shares_storage(&x), "reshape of a contiguous slice should be a view");
    assert_eq!(flat.to_vec::<f32>().unwrap(), (6..18).map(|i| i as f32 + 0.5).collect::<Vec<_>>());
    // Ops on a contiguous view with an offset read from the offset.
    let copy = Tensor::from_vec(rows.to_vec::<f32>().unwrap(), &[2, 6]).unwrap();
    assert_eq!(
        rows.sum([1], false).unwrap().to_vec::<f32>().unwrap(),
        copy.sum([1], false).unwrap().to_vec::<f32>().unwrap()
    );
    assert_eq!(rows.softmax(1).unwrap().to_vec::<f32>().unwrap(), copy.softmax(1).unwrap().to_vec::<f32>().unwrap());
    let w = Tensor::ones(&[6, 1], DType::F32);
    // Row sums of small integers + 0.5 are exact in f32.
    assert_eq!(rows.matmul(&w).unwrap().to_vec::<f32>().unwrap(), vec![54.0, 90.0]);
    assert_eq!(
        rows.t().unwrap().matmul(&Tensor::ones(&[2, 1], DType::F32)).unwrap().to_vec::<f32>().unwrap(),
        vec![19.0, 21.0, 23.0, 25.0, 27.0, 29.0]
    );
    let i = Tensor::from_vec(vec![1i64], &[1]).unwrap();
    assert_eq!(
        rows.index_select(0, &i).unwrap().to_vec::<f32>().unwrap(),
        (12..18).map(|v| v as f32 + 0.5).collect::<Vec<_>>()
    );
    // A column slice is not contiguous; reshaping it copies the right elements.
    let col = x.narrow(1, 4, 1).unwrap();
    assert!(!col.is_contiguous());
    let c = col.reshape(&[4]).unwrap();
    assert!(!c.shares_storage(&x));
    assert_eq!(c.to_vec::<f32>().unwrap(), vec![4.5, 10.5, 16.5, 22.5]);
}

#[test]
fn large_transposed_copy_uses_the_right_elements() {
    // Big enough (> 32k elements) for the parallel copy path.
    let (r, c) = (300, 170);
    let x = Tensor::from_vec((0..r * c).map(|i| i as f64).collect(), &[r, c]).unwrap();
    let t = x.t().unwrap().contiguous().unwrap();
    assert!(!t.shares_storage(&x));
    let tv = t.to_vec::<f64>().unwrap();
    for j in [0, 1, 77, c - 1] {
        for i in [0, 5, 150, r - 1] {
            assert_eq!(tv[j * r + i], (i * c + j) as f64, "t[{j}][{i}]");
        }
    }
}

#[test]
fn views_of_i64_tensors_work_too() {
    let x = Tensor::from_vec((0..6i64).collect(), &[2, 3]).unwrap();
    assert_eq!(x.t().unwrap().contiguous().unwrap().to_vec::<i64>().unwrap(), vec![0, 3, 1, 4, 2, 5]);
    assert_eq!(x.narrow(1, 1, 2).unwrap().to_vec::<i64>().unwrap(), vec![1, 2, 4, 5]);
    assert_eq!(
        x.unsqueeze(1).unwrap().expand(&[2, 2, 3]).unwrap().to_vec::<i64>().unwrap(),
        vec![0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5]
    );
}

#[test]
fn empty_non_contiguous_tensors_read_without_panicking() {
    // [2, 0] transposed is [0, 2] with strides [1, 0]: not row-major, and its buffer is empty.
    let e = Tensor::zeros(&[2, 0], DType::F32).t().unwrap();
    assert_eq!(e.shape(), &[0, 2]);
    assert_eq!(e.contiguous().unwrap().to_vec::<f32>().unwrap(), Vec::<f32>::new());
    assert_eq!(e.to_vec::<f32>().unwrap(), Vec::<f32>::new());
    assert_eq!(e.exp().unwrap().shape(), &[0, 2]);
    assert_eq!(Tensor::zeros(&[2, 0], DType::F64).softmax(0).unwrap().shape(), &[2, 0]);
    assert!(format!("{e}").starts_with("tensor([]"));
}
