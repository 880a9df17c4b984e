//! Every user error is a typed `Error` naming the op and the shapes involved; none panics.

mod common;

use common::*;
use ferrograd_tensor::{DType, Device, Error, Rng, Tensor};

fn t(shape: &[usize]) -> Tensor {
    randn(shape, DType::F32, 1)
}

fn idx(v: &[i64]) -> Tensor {
    Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap()
}

/// Asserts a `ShapeMismatch` from `op` with these operand shapes, and that the message starts
/// with the op and the shapes.
fn assert_shape_err(r: ferrograd_tensor::Result<Tensor>, op: &str, shapes: &[&[usize]]) -> String {
    match r {
        Err(e @ Error::ShapeMismatch { .. }) => {
            let Error::ShapeMismatch { op: got_op, shapes: got_shapes, .. } = &e else { unreachable!() };
            assert_eq!(*got_op, op, "{e}");
            let want: Vec<Vec<usize>> = shapes.iter().map(|s| s.to_vec()).collect();
            assert_eq!(got_shapes, &want, "{e}");
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("{op}: ")), "message {msg:?} should name the op {op}");
            for s in shapes {
                assert!(msg.contains(&format!("{s:?}")), "message {msg:?} should name the shape {s:?}");
            }
            msg
        }
        other => panic!("{op}: expected ShapeMismatch, got {other:?}"),
    }
}

fn assert_dim_err(r: ferrograd_tensor::Result<Tensor>, op: &str, dim: i64, rank: usize) {
    match r {
        Err(Error::DimOutOfRange { op: o, dim: d, rank: k }) => {
            assert_eq!((o, d, k), (op, dim, rank));
            let msg = Error::DimOutOfRange { op: o, dim: d, rank: k }.to_string();
            assert_eq!(
                msg,
                format!(
                    "{op}: dim {dim} out of range for a tensor of rank {rank} (expected {}..{rank})",
                    -(rank as i64)
                )
            );
        }
        other => panic!("{op}: expected DimOutOfRange({dim}, rank {rank}), got {other:?}"),
    }
}

fn assert_index_err(r: ferrograd_tensor::Result<Tensor>, op: &str, index: i64, size: usize) {
    match r {
        Err(e @ Error::IndexOutOfRange { .. }) => {
            assert_eq!(e, Error::IndexOutOfRange { op: leak(op), index, size });
            assert_eq!(e.to_string(), format!("{op}: index {index} out of range for an axis of length {size}"));
        }
        other => panic!("{op}: expected IndexOutOfRange({index}, size {size}), got {other:?}"),
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

#[test]
fn matmul_inner_dim_mismatch_has_the_documented_message() {
    let e = t(&[2, 3]).matmul(&t(&[4, 5])).unwrap_err();
    assert_eq!(
        e,
        Error::ShapeMismatch { op: "matmul", shapes: vec![vec![2, 3], vec![4, 5]], reason: "inner dims 3 != 4".into() }
    );
    assert_eq!(e.to_string(), "matmul: [2, 3] @ [4, 5]: inner dims 3 != 4");
    // Batched: the batch dims must broadcast.
    assert_shape_err(t(&[2, 2, 3]).matmul(&t(&[3, 3, 4])), "matmul", &[&[2, 2, 3], &[3, 3, 4]]);
    // Vectors are not matrices.
    assert_shape_err(t(&[3]).matmul(&t(&[3, 2])), "matmul", &[&[3], &[3, 2]]);
    assert_shape_err(t(&[]).matmul(&t(&[])), "matmul", &[&[], &[]]);
}

#[test]
fn broadcast_failures_name_op_and_shapes() {
    let msg = assert_shape_err(t(&[2, 3]).add(&t(&[4])), "add", &[&[2, 3], &[4]]);
    assert_eq!(msg, "add: [2, 3], [4]: cannot broadcast: dim 1 of the result is 3 vs 4");
    assert_shape_err(t(&[5, 1, 3]).mul(&t(&[2, 2])), "mul", &[&[5, 1, 3], &[2, 2]]);
    assert_shape_err(t(&[2]).lt(&t(&[3])), "lt", &[&[2], &[3]]);
    assert_shape_err(Tensor::where_cond(&t(&[2]), &t(&[3]), &t(&[3])), "where", &[&[2], &[3]]);
    assert_shape_err(t(&[2, 3]).expand(&[2, 4]), "expand", &[&[2, 3], &[2, 4]]);
    assert_shape_err(t(&[2, 3]).expand(&[3]), "expand", &[&[2, 3], &[3]]);
    // A mask that would grow the tensor is rejected.
    assert_shape_err(t(&[3]).masked_fill(&t(&[2, 3]), 0.0), "masked_fill", &[&[3], &[2, 3]]);
}

#[test]
fn other_shape_errors_name_op_and_shapes() {
    assert_eq!(
        assert_shape_err(t(&[2, 3]).reshape(&[4]), "reshape", &[&[2, 3], &[4]]),
        "reshape: [2, 3], [4]: element counts differ"
    );
    assert_shape_err(Tensor::from_vec(vec![1.0f32; 5], &[2, 3]), "from_vec", &[&[2, 3]]);
    assert_shape_err(t(&[2, 3]).permute(&[0, 0]), "permute", &[&[2, 3], &[0, 0]]);
    assert_shape_err(t(&[2, 3]).permute(&[1]), "permute", &[&[2, 3], &[1]]);
    assert_shape_err(t(&[2, 3]).narrow(1, 2, 2), "narrow", &[&[2, 3]]);
    assert_shape_err(t(&[2, 3]).squeeze(0), "squeeze", &[&[2, 3]]);
    assert_shape_err(t(&[3]).t(), "t", &[&[3]]);
    assert_shape_err(Tensor::cat(&[&t(&[2, 3]), &t(&[2, 4])], 0), "cat", &[&[2, 3], &[2, 4]]);
    assert_shape_err(Tensor::cat(&[&t(&[2, 3]), &t(&[6])], 0), "cat", &[&[2, 3], &[6]]);
    assert_shape_err(Tensor::stack(&[&t(&[2, 3]), &t(&[3, 2])], 0), "stack", &[&[2, 3], &[3, 2]]);
    assert_shape_err(
        t(&[3, 2]).index_select(0, &Tensor::zeros(&[1, 1], DType::I64)),
        "index_select",
        &[&[3, 2], &[1, 1]],
    );
    assert_shape_err(t(&[3, 2]).index_add(0, &idx(&[0]), &t(&[1, 3])), "index_add", &[&[3, 2], &[1], &[1, 3]]);
    assert_shape_err(t(&[3, 2]).gather(0, &Tensor::zeros(&[1], DType::I64)), "gather", &[&[3, 2], &[1]]);
    assert_shape_err(t(&[3, 2]).gather(0, &Tensor::zeros(&[1, 3], DType::I64)), "gather", &[&[3, 2], &[1, 3]]);
    assert_shape_err(
        t(&[3, 2]).scatter_add(0, &Tensor::zeros(&[1, 2], DType::I64), &t(&[2, 2])),
        "scatter_add",
        &[&[3, 2], &[1, 2], &[2, 2]],
    );
    assert_shape_err(t(&[2, 3]).item().map(Tensor::scalar), "item", &[&[2, 3]]);
    // Variance needs more elements than the correction; max/min/argmax need a non-empty dim.
    assert_shape_err(t(&[1, 3]).var([0], 1, false), "var", &[&[1, 3]]);
    assert_shape_err(t(&[0, 3]).max([0], false), "max", &[&[0, 3]]);
    assert_shape_err(t(&[0, 3]).argmax(0, false), "argmax", &[&[0, 3]]);
}

#[test]
fn dims_out_of_range_positive_and_negative() {
    let x = t(&[2, 3]);
    assert_dim_err(x.sum([5], false), "sum", 5, 2);
    assert_dim_err(x.sum([-3i64], false), "sum", -3, 2);
    assert_dim_err(x.mean([2], true), "mean", 2, 2);
    assert_dim_err(x.max([-3i64], true), "max", -3, 2);
    assert_dim_err(x.var([2], 0, true), "var", 2, 2);
    assert_dim_err(x.logsumexp([7], false), "logsumexp", 7, 2);
    assert_dim_err(x.argmax(2, false), "argmax", 2, 2);
    assert_dim_err(x.argmin(-3i64, false), "argmin", -3, 2);
    assert_dim_err(x.softmax(2), "softmax", 2, 2);
    assert_dim_err(x.log_softmax(-3i64), "log_softmax", -3, 2);
    assert_dim_err(x.transpose(0, 2), "transpose", 2, 2);
    assert_dim_err(x.narrow(-3i64, 0, 1), "narrow", -3, 2);
    assert_dim_err(x.squeeze(2), "squeeze", 2, 2);
    // unsqueeze takes 0..=rank: the valid range is that of a rank + 1 result.
    assert_dim_err(x.unsqueeze(4), "unsqueeze", 4, 3);
    assert_dim_err(x.unsqueeze(-4i64), "unsqueeze", -4, 3);
    assert_dim_err(x.flatten(0, 2), "flatten", 2, 2);
    assert_dim_err(x.index_select(2, &idx(&[0])), "index_select", 2, 2);
    assert_dim_err(x.gather(-3i64, &Tensor::zeros(&[2, 3], DType::I64)), "gather", -3, 2);
    assert_dim_err(Tensor::cat(&[&x, &x], 2), "cat", 2, 2);
    assert_dim_err(Tensor::stack(&[&x, &x], 3), "stack", 3, 3);
    assert_dim_err(x.pad(2, 1, 1), "pad", 2, 2);
    assert!(matches!(x.dim(2), Err(Error::DimOutOfRange { dim: 2, rank: 2, .. })));
    // A repeated dim is an invalid argument.
    assert!(matches!(x.sum([0, -2i64], false), Err(Error::InvalidArgument { op: "sum", .. })));
}

#[test]
fn indices_out_of_range_negative_and_too_large() {
    let x = t(&[3, 2]);
    assert_index_err(x.index_select(0, &idx(&[0, -1])), "index_select", -1, 3);
    assert_index_err(x.index_select(0, &idx(&[3])), "index_select", 3, 3);
    assert_index_err(x.index_add(1, &idx(&[2]), &t(&[3, 1])), "index_add", 2, 2);
    assert_index_err(x.index_add(0, &idx(&[-2]), &t(&[1, 2])), "index_add", -2, 3);
    let g = Tensor::from_vec(vec![0i64, 5], &[1, 2]).unwrap();
    assert_index_err(x.gather(0, &g), "gather", 5, 3);
    let g = Tensor::from_vec(vec![-1i64, 0], &[1, 2]).unwrap();
    assert_index_err(x.scatter_add(0, &g, &t(&[1, 2])), "scatter_add", -1, 3);
}

#[test]
fn dtype_mismatches_and_unsupported_dtypes() {
    let (a, b) = (t(&[2]), randn(&[2], DType::F64, 2));
    let e = a.add(&b).unwrap_err();
    assert_eq!(e, Error::DTypeMismatch { op: "add", dtypes: vec![DType::F32, DType::F64] });
    let msg = e.to_string().to_lowercase();
    assert!(msg.starts_with("add: ") && msg.contains("f32") && msg.contains("f64"), "{msg}");
    assert!(matches!(
        t(&[2, 2]).matmul(&randn(&[2, 2], DType::F64, 3)),
        Err(Error::DTypeMismatch { op: "matmul", .. })
    ));
    assert!(matches!(Tensor::cat(&[&a, &b], 0), Err(Error::DTypeMismatch { op: "cat", .. })));
    assert!(matches!(Tensor::where_cond(&a, &a, &b), Err(Error::DTypeMismatch { op: "where", .. })));
    assert!(matches!(a.index_add(0, &idx(&[0]), &b.narrow(0, 0, 1).unwrap()), Err(Error::DTypeMismatch { .. })));
    assert!(matches!(a.to_vec::<f64>(), Err(Error::DTypeMismatch { .. })));
    // Index tensors must be i64.
    assert!(matches!(a.index_select(0, &t(&[1])), Err(Error::UnsupportedDType { dtype: DType::F32, .. })));
    // Integer tensors are not for arithmetic.
    let i = Tensor::arange(3, DType::I64);
    assert!(matches!(i.add(&i), Err(Error::UnsupportedDType { op: "add", dtype: DType::I64 })));
    assert!(matches!(i.sum([0], false), Err(Error::UnsupportedDType { op: "sum", dtype: DType::I64 })));
    assert!(matches!(i.unsqueeze(0).unwrap().matmul(&i.unsqueeze(1).unwrap()), Err(Error::UnsupportedDType { .. })));
    assert!(matches!(i.softmax(0), Err(Error::UnsupportedDType { op: "softmax", dtype: DType::I64 })));
    assert!(matches!(Rng::new(0).uniform_tensor(&[2], 0.0, 1.0, DType::I64), Err(Error::UnsupportedDType { .. })));
}

#[test]
fn exp_of_an_i64_tensor_names_exp() {
    let i = Tensor::arange(3, DType::I64);
    let e = i.exp().unwrap_err();
    assert!(matches!(e, Error::UnsupportedDType { dtype: DType::I64, .. }), "{e:?}");
    // The error should name the op the user called, as every other op's error does.
    assert_eq!(e, Error::UnsupportedDType { op: "exp", dtype: DType::I64 });
    assert_eq!(e.to_string(), "exp: not supported for dtype i64");
}

#[test]
fn devices() {
    let x = t(&[2]);
    assert!(x.to_device(Device::Cpu).unwrap().shares_storage(&x));
    match x.to_device(Device::Cuda(0)) {
        Err(e @ Error::DeviceUnavailable { device: Device::Cuda(0), .. }) => {
            assert!(e.to_string().starts_with("device cuda:0 unavailable: "), "{e}");
        }
        other => panic!("expected DeviceUnavailable, got {other:?}"),
    }
    assert_eq!(Device::parse("cpu").unwrap(), Device::Cpu);
    assert_eq!(Device::parse("cuda").unwrap(), Device::Cuda(0));
    assert_eq!(Device::parse("cuda:3").unwrap(), Device::Cuda(3));
    for bad in ["tpu", "cuda:", "cuda:x", "CPU", ""] {
        match Device::parse(bad) {
            Err(e @ Error::InvalidArgument { op: "Device::parse", .. }) => {
                let msg = e.to_string();
                assert!(msg.starts_with("Device::parse: ") && msg.contains(&format!("{bad:?}")), "{msg}");
            }
            other => panic!("Device::parse({bad:?}): expected InvalidArgument, got {other:?}"),
        }
    }
    assert_eq!(Device::Cuda(1).to_string(), "cuda:1");
    assert_eq!(Device::parse(&Device::Cuda(7).to_string()).unwrap(), Device::Cuda(7));
}

#[test]
fn invalid_arguments() {
    assert!(matches!(t(&[2]).clamp(1.0, -1.0), Err(Error::InvalidArgument { op: "clamp", .. })));
    assert!(matches!(Tensor::cat(&[], 0), Err(Error::InvalidArgument { op: "cat", .. })));
    assert!(matches!(Tensor::stack(&[], 0), Err(Error::InvalidArgument { op: "stack", .. })));
    assert!(matches!(t(&[2, 3, 4]).flatten(2, 1), Err(Error::InvalidArgument { op: "flatten", .. })));
    assert!(matches!(Rng::new(0).randint(&[2], 0), Err(Error::InvalidArgument { op: "randint", .. })));
}

#[test]
fn narrow_with_an_overflowing_range_is_an_error_not_a_panic() {
    // start + len overflows usize: must be reported, not wrapped into a bogus view that panics
    // when read.
    let x = t(&[3]);
    match x.narrow(0, usize::MAX, 2) {
        Err(Error::ShapeMismatch { op: "narrow", .. }) => {}
        Err(e) => panic!("narrow(0, usize::MAX, 2): expected ShapeMismatch, got {e:?}"),
        // (Not printed with Display: reading such a view panics.)
        Ok(v) => {
            panic!("narrow(0, usize::MAX, 2) of [3] gave a view of shape {:?} at offset {}", v.shape(), v.offset())
        }
    }
}

#[test]
fn pad_with_an_overflowing_size_is_an_error_not_a_panic() {
    let r = std::panic::catch_unwind(|| t(&[2]).pad(0, usize::MAX, 1).map(|p| p.shape().to_vec()));
    match r {
        Ok(Err(_)) => {}
        Ok(Ok(shape)) => panic!("pad(0, usize::MAX, 1) of [2] gave a tensor of shape {shape:?}"),
        Err(_) => panic!("pad(0, usize::MAX, 1) of [2] panicked instead of returning an error"),
    }
}

#[test]
fn shapes_whose_size_overflows_are_errors_not_wrapped_views() {
    // 2 · 2^63 elements wraps to 0 in usize arithmetic: that must not pass as an empty tensor.
    let empty = Tensor::zeros(&[0], DType::F32);
    let e = empty.reshape(&[2, 1 << 63]).unwrap_err();
    assert!(e.to_string().contains("overflows"), "{e}");
    assert!(Tensor::from_vec(Vec::<f32>::new(), &[1 << 63, 4]).is_err());
    assert!(Tensor::scalar(1.0f32).expand(&[1 << 62, 8]).is_err());
    assert!(matches!(Tensor::zeros(&[3], DType::F32).sum([usize::MAX], false), Err(Error::DimOutOfRange { .. })));
}

#[test]
fn logsumexp_over_an_empty_dim_is_minus_infinity() {
    let x = Tensor::zeros(&[2, 0], DType::F64);
    let y = x.logsumexp([1], false).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![f64::NEG_INFINITY; 2]);
}
