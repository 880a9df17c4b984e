//! CPU elementwise kernels.
//!
//! `unary` maps a dense slice. `binary` and `select` read strided, broadcasting views: after
//! [`coalesce`], two dense operands of one shape collapse into a single flat loop; otherwise each
//! row runs an inner loop specialised for the common stride pairs (1, 1), (1, 0) and (0, 1), so
//! that a bias add (`[64, 128] + [128]`) is still a unit-stride vectorised loop.

use super::{BinaryOp, UnaryOp};
use crate::copy::{coalesce, contiguous_strides, RowWalker, Strided};
use crate::parallel::{row_blocks, zip_chunks};
use crate::simd::vectorized;
use crate::{Float, Slot};

/// `out[i] = op(x[i])` over dense slices of equal length. Writes every element of `out`.
pub fn unary<T: Float, O: Slot<T>>(op: UnaryOp, x: &[T], out: &mut [O]) {
    // One monomorphised loop per op. Inside the loop the op is rebuilt from a constant variant
    // (and its captured parameters), so after inlining `apply` its `match` folds away and the
    // loop body is just that op's formula, which LLVM can vectorise. Matching on the run-time
    // `op` inside the loop instead leaves a switch in the loop body and nothing vectorises.
    macro_rules! map {
        ($make:expr) => {
            zip_chunks(x, out, |x, o| {
                vectorized(
                    #[inline(always)]
                    || {
                        for (o, &v) in o.iter_mut().zip(x) {
                            o.set($make.apply(v));
                        }
                    },
                )
            })
        };
    }
    match op {
        UnaryOp::Neg => map!(UnaryOp::Neg),
        UnaryOp::Exp => map!(UnaryOp::Exp),
        UnaryOp::Log => map!(UnaryOp::Log),
        UnaryOp::Sqrt => map!(UnaryOp::Sqrt),
        UnaryOp::Abs => map!(UnaryOp::Abs),
        UnaryOp::Sign => map!(UnaryOp::Sign),
        UnaryOp::Tanh => map!(UnaryOp::Tanh),
        UnaryOp::Sigmoid => map!(UnaryOp::Sigmoid),
        UnaryOp::Relu => map!(UnaryOp::Relu),
        UnaryOp::LeakyRelu(s) => map!(UnaryOp::LeakyRelu(s)),
        UnaryOp::Gelu => map!(UnaryOp::Gelu),
        UnaryOp::Softplus => map!(UnaryOp::Softplus),
        UnaryOp::Clamp(lo, hi) => map!(UnaryOp::Clamp(lo, hi)),
        UnaryOp::Erf => map!(UnaryOp::Erf),
        UnaryOp::Powf(p) => map!(UnaryOp::Powf(p)),
        UnaryOp::AddScalar(c) => map!(UnaryOp::AddScalar(c)),
        UnaryOp::MulScalar(c) => map!(UnaryOp::MulScalar(c)),
        UnaryOp::Recip => map!(UnaryOp::Recip),
        UnaryOp::Step => map!(UnaryOp::Step),
        UnaryOp::LeakyStep(s) => map!(UnaryOp::LeakyStep(s)),
        UnaryOp::GeluGrad => map!(UnaryOp::GeluGrad),
    }
}

/// `out = op(a, b)` where `a` and `b` are views read with the output's `shape` (broadcast
/// dimensions have stride 0) and `out` is dense row-major. Writes every element of `out`.
pub fn binary<T: Float, O: Slot<T>>(
    op: BinaryOp,
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    shape: &[usize],
    out: &mut [O],
) {
    // As in `unary`: a constant variant per arm, so each op gets its own loop.
    macro_rules! run {
        ($($variant:ident),*) => {
            match op {
                $(BinaryOp::$variant => {
                    binary_with(a, b, shape, out, #[inline(always)] |x, y| BinaryOp::$variant.apply(x, y))
                })*
            }
        };
    }
    run!(Add, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge, ReluGrad)
}

fn binary_with<T: Float, O: Slot<T>>(
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    shape: &[usize],
    out: &mut [O],
    f: impl Fn(T, T) -> T + Sync + Copy,
) {
    a.check(shape, "binary (lhs)");
    b.check(shape, "binary (rhs)");
    let numel: usize = shape.iter().product();
    assert_eq!(out.len(), numel, "binary: output length");
    if numel == 0 {
        return;
    }
    let dense = contiguous_strides(shape);
    let (shape, [sa, sb, _]) = coalesce(shape, [a.strides, b.strides, &dense]);
    let inner = *shape.last().unwrap_or(&1);
    let (ia, ib) = (*sa.last().unwrap_or(&1), *sb.last().unwrap_or(&1));
    if shape.len() == 1 {
        // One long row (dense operands, or a scalar broadcast against a dense one): split it
        // into chunks so that both cores work, as `unary` does.
        row_blocks(out, 1, |start, block| {
            let (oa, ob) = (a.offset + start * ia, b.offset + start * ib);
            vectorized(
                #[inline(always)]
                || binary_row(block, a.data, oa, ia, b.data, ob, ib, f),
            );
        });
        return;
    }
    row_blocks(out, inner, |row0, block| {
        let mut walk = RowWalker::new(&shape, [&sa, &sb], [a.offset, b.offset], row0);
        for o in block.chunks_exact_mut(inner) {
            let [oa, ob] = walk.offsets();
            vectorized(
                #[inline(always)]
                || binary_row(o, a.data, oa, ia, b.data, ob, ib, f),
            );
            walk.advance();
        }
    });
}

/// One row: `o[j] = f(a[oa + j·ia], b[ob + j·ib])`, with the common stride pairs specialised so
/// that they are unit-stride loops LLVM vectorises.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn binary_row<T: Float, O: Slot<T>>(
    o: &mut [O],
    a: &[T],
    oa: usize,
    ia: usize,
    b: &[T],
    ob: usize,
    ib: usize,
    f: impl Fn(T, T) -> T,
) {
    let n = o.len();
    match (ia, ib) {
        (1, 1) => {
            for ((o, &x), &y) in o.iter_mut().zip(&a[oa..oa + n]).zip(&b[ob..ob + n]) {
                o.set(f(x, y));
            }
        }
        (1, 0) => {
            let y = b[ob];
            for (o, &x) in o.iter_mut().zip(&a[oa..oa + n]) {
                o.set(f(x, y));
            }
        }
        (0, 1) => {
            let x = a[oa];
            for (o, &y) in o.iter_mut().zip(&b[ob..ob + n]) {
                o.set(f(x, y));
            }
        }
        _ => {
            for (j, o) in o.iter_mut().enumerate() {
                o.set(f(a[oa + j * ia], b[ob + j * ib]));
            }
        }
    }
}

/// `out = cond != 0 ? a : b`, all three read as views with the output's `shape`. Writes every
/// element of `out`.
pub fn select<T: Float, O: Slot<T>>(
    cond: Strided<'_, T>,
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    shape: &[usize],
    out: &mut [O],
) {
    cond.check(shape, "where (condition)");
    a.check(shape, "where (lhs)");
    b.check(shape, "where (rhs)");
    let numel: usize = shape.iter().product();
    assert_eq!(out.len(), numel, "where: output length");
    if numel == 0 {
        return;
    }
    let dense = contiguous_strides(shape);
    let (shape, [sc, sa, sb, _]) = coalesce(shape, [cond.strides, a.strides, b.strides, &dense]);
    let inner = *shape.last().unwrap_or(&1);
    let (ic, ia, ib) = (*sc.last().unwrap_or(&1), *sa.last().unwrap_or(&1), *sb.last().unwrap_or(&1));
    row_blocks(out, inner, |row0, block| {
        let mut walk = RowWalker::new(&shape, [&sc, &sa, &sb], [cond.offset, a.offset, b.offset], row0);
        for o in block.chunks_exact_mut(inner) {
            let [oc, oa, ob] = walk.offsets();
            for (j, o) in o.iter_mut().enumerate() {
                let c = cond.data[oc + j * ic];
                o.set(if c != T::ZERO { a.data[oa + j * ia] } else { b.data[ob + j * ib] });
            }
            walk.advance();
        }
    });
}
