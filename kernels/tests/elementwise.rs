//! Property tests for the elementwise kernels: `unary` (every `UnaryOp`), `binary` (every
//! `BinaryOp`, on broadcasting and non-contiguous views) and `select`, each against the op
//! written naively in f64 with std functions.

mod common;

use common::{close, gamma, numel, row_major_offsets, same, unit_roundoff, Rng, View, U64};
use ferrograd_kernels::copy::Strided;
use ferrograd_kernels::elementwise::{binary, select, unary, BinaryOp, UnaryOp};
use ferrograd_kernels::Float;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// unary
// ---------------------------------------------------------------------------------------------

/// The parameters of the parameterised unary ops, drawn by proptest.
#[derive(Clone, Copy, Debug)]
struct UnaryParams {
    slope: f64,
    lo: f64,
    hi: f64,
    p: f64,
    c: f64,
}

fn unary_params() -> impl Strategy<Value = UnaryParams> {
    (0.0..0.5f64, -2.0..0.0f64, 0.0..2.0f64, -2.5..2.5f64, -3.0..3.0f64).prop_map(|(slope, lo, hi, p, c)| UnaryParams {
        slope,
        lo,
        hi,
        p,
        c,
    })
}

/// A value in the op's domain, spread over the range where the op is interesting: `exp` over
/// (nearly) all of f32's finite range, the saturating ops well into saturation, `log`/`sqrt`/
/// `powf` on positive values, `recip` away from zero.
fn sample(op: UnaryOp, rng: &mut Rng) -> f64 {
    match op {
        UnaryOp::Exp => rng.uniform(-87.3, 88.7),
        UnaryOp::Sigmoid | UnaryOp::Softplus | UnaryOp::Tanh => rng.uniform(-80.0, 80.0),
        UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Powf(_) => rng.uniform(0.05, 6.0),
        UnaryOp::Recip => rng.signed(0.05, 6.0),
        UnaryOp::Erf | UnaryOp::Gelu | UnaryOp::GeluGrad => rng.uniform(-5.0, 5.0),
        _ => rng.uniform(-6.0, 6.0),
    }
}

/// `erf(x)` from its everywhere-convergent series of positive terms,
/// `erf x = 2/√π · e^(−x²) · Σ_n (2x²)^n · x / (1·3·…·(2n+1))` (Abramowitz & Stegun 7.1.6).
/// No cancellation, so it is accurate to a few hundred f64 ulp (see `ERF_REF_ULPS`).
fn erf_ref(x: f64) -> f64 {
    let two_x2 = 2.0 * x * x;
    let (mut term, mut sum) = (x, x);
    let mut n = 0.0;
    while term.abs() > 1e-17 * sum.abs() {
        n += 1.0;
        term *= two_x2 / (2.0 * n + 1.0);
        sum += term;
    }
    std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp() * sum
}

/// Relative error bound of `erf_ref` in f64 ulps (u = 2^-53), for |x| ≤ 5: the series needs at
/// most ~80 terms; term n carries ≤ 3n + 1 roundings and the running sum one more per term, so
/// ≤ 4·80 = 320 u; `e^(−x²)` adds x²·u ≤ 25 u from rounding x². 400 u ≈ 4.4e-14.
const ERF_REF_ULPS: f64 = 400.0;

/// The op written naively in f64. Parameters are rounded to `T` first, as the kernel documents
/// ("converted to the element type once").
fn reference<T: Float>(op: UnaryOp, x: f64) -> f64 {
    let t = |v: f64| T::from_f64(v).to_f64();
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        UnaryOp::Relu => {
            if x > 0.0 {
                x
            } else {
                0.0
            }
        }
        UnaryOp::LeakyRelu(s) => {
            if x > 0.0 {
                x
            } else {
                t(s) * x
            }
        }
        UnaryOp::Gelu => 0.5 * x * (1.0 + erf_ref(x / std::f64::consts::SQRT_2)),
        UnaryOp::Softplus => x.exp().ln_1p(),
        UnaryOp::Clamp(lo, hi) => x.max(t(lo)).min(t(hi)),
        UnaryOp::Erf => erf_ref(x),
        UnaryOp::Powf(p) => x.powf(t(p)),
        UnaryOp::AddScalar(c) => x + t(c),
        UnaryOp::MulScalar(c) => x * t(c),
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Step => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        UnaryOp::LeakyStep(s) => {
            if x > 0.0 {
                1.0
            } else {
                t(s)
            }
        }
        UnaryOp::GeluGrad => 0.5 * (1.0 + erf_ref(x / std::f64::consts::SQRT_2)) + x * normal_pdf(x),
    }
}

/// The standard normal density `e^(−x²/2) / √(2π)`.
fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// How far the kernel (in `T`, unit roundoff `u`) may be from `want`, the f64 reference at `x`.
/// Each bound is the kernel's own error plus the reference's, at f64 precision.
fn tolerance<T: Float>(op: UnaryOp, x: f64, want: f64) -> f64 {
    let u = unit_roundoff::<T>();
    let rel = |kernel: usize, reference: f64| gamma(kernel, u) * want.abs() + reference * U64 * want.abs();
    match op {
        // These only move, negate or select values: exact.
        UnaryOp::Neg
        | UnaryOp::Abs
        | UnaryOp::Sign
        | UnaryOp::Relu
        | UnaryOp::Step
        | UnaryOp::LeakyStep(_)
        | UnaryOp::Clamp(..) => 0.0,
        // One correctly rounded operation on exact inputs.
        UnaryOp::LeakyRelu(_) | UnaryOp::AddScalar(_) | UnaryOp::MulScalar(_) | UnaryOp::Recip | UnaryOp::Sqrt => {
            rel(1, 1.0)
        }
        // f32: `exp_f32` is documented (and unit-tested) within 2 ulp of the correctly rounded
        // value; 2 ulp ≤ 4u relative, plus ≤ u for that rounding. f64: std's exp, < 1 ulp.
        UnaryOp::Exp => rel(5, 2.0),
        // libm-quality functions (glibc's logf/tanhf/powf and their f64 versions, the `libm`
        // crate's erf) are within 1–2 ulp, and `erf_f32` is documented (and unit-tested) within
        // 3 ulp: allow 4 ulp = 8u. The erf reference is the series above.
        UnaryOp::Log | UnaryOp::Tanh | UnaryOp::Powf(_) => rel(8, 2.0),
        UnaryOp::Erf => rel(8, ERF_REF_ULPS),
        // exp (5u), then 1 + e, 1/(1 + e) and e·p: three more roundings.
        UnaryOp::Sigmoid => rel(8, 4.0),
        // exp (5u), ln_1p (≤ 2 ulp = 4u) and the final add of non-negative terms (u).
        UnaryOp::Softplus => rel(10, 4.0),
        // x·½·(1 + erf(x/√2)): when erf ≈ −1, `1 + erf` cancels and keeps only the *absolute*
        // error of erf (8u) plus the rounding of the argument (≤ u, erf′ ≤ 2/√π) and of the add
        // (≤ 2u): 12u absolute, scaled by |x|/2. The product adds 2 relative roundings.
        UnaryOp::Gelu => rel(2, 2.0) + 0.5 * x.abs() * (gamma(12, u) + (ERF_REF_ULPS + 4.0) * U64),
        // Φ(x) + x·φ(x). Φ = ½(1 + erf(x/√2)) carries erf's absolute error (8u), the rounding of
        // its argument (≤ u, since erf′(t)·t ≤ 0.5) and of the add (2u): ≤ 5.5u absolute. In
        // x·φ(x), rounding x² moves the exponent by x²/2·u; exp adds 5u and the two products
        // and the rounded constant 3u: (8 + x²/2)u relative to |x·φ(x)|. The sum rounds once
        // more. Near x ≈ −0.75 the two terms cancel, so the bound is absolute.
        UnaryOp::GeluGrad => {
            let tail = (x * normal_pdf(x)).abs();
            gamma(6, u)
                + gamma(8 + (0.5 * x * x).ceil() as usize, u) * tail
                + gamma(1, u) * want.abs()
                + (ERF_REF_ULPS + 8.0) * U64
        }
    }
}

fn check_unary<T: Float>(op: UnaryOp, n: usize, seed: u64) -> Result<(), TestCaseError> {
    let mut rng = Rng::new(seed);
    let x: Vec<T> = (0..n).map(|_| T::from_f64(sample(op, &mut rng))).collect();
    let mut out = vec![T::from_f64(f64::NAN); n];
    unary(op, &x, &mut out);
    for (i, (&xi, &got)) in x.iter().zip(&out).enumerate() {
        let (xi, got) = (xi.to_f64(), got.to_f64());
        let want = reference::<T>(op, xi);
        let tol = tolerance::<T>(op, xi, want);
        prop_assert!(
            close(got, want, tol),
            "{}: {op:?}(x[{i}] = {xi:e}) = {got:e}, want {want:e} (tol {tol:e})",
            T::NAME
        );
    }
    Ok(())
}

/// One property per `UnaryOp` variant, so that a failure names its op and does not hide the
/// others. `reference` and `tolerance` match on the op without a wildcard: a new variant does
/// not compile until it has a reference, and then belongs in this list too.
macro_rules! unary_properties {
    ($($name:ident => $op:expr),* $(,)?) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]
            $(
                /// On short buffers and on buffers above `PAR_MIN_ELEMS` (split in chunks over
                /// threads).
                #[test]
                fn $name(
                    q in unary_params(),
                    n in prop_oneof![3 => 1..200usize, 1 => 32768..40000usize],
                    seed in any::<u64>(),
                ) {
                    let op: fn(UnaryParams) -> UnaryOp = $op;
                    check_unary::<f32>(op(q), n, seed)?;
                    check_unary::<f64>(op(q), n, seed)?;
                }
            )*
        }
    };
}

unary_properties! {
    unary_neg => |_| UnaryOp::Neg,
    unary_exp => |_| UnaryOp::Exp,
    unary_log => |_| UnaryOp::Log,
    unary_sqrt => |_| UnaryOp::Sqrt,
    unary_abs => |_| UnaryOp::Abs,
    unary_sign => |_| UnaryOp::Sign,
    unary_tanh => |_| UnaryOp::Tanh,
    unary_sigmoid => |_| UnaryOp::Sigmoid,
    unary_relu => |_| UnaryOp::Relu,
    unary_leaky_relu => |q| UnaryOp::LeakyRelu(q.slope),
    unary_gelu => |_| UnaryOp::Gelu,
    unary_softplus => |_| UnaryOp::Softplus,
    unary_clamp => |q| UnaryOp::Clamp(q.lo, q.hi),
    unary_erf => |_| UnaryOp::Erf,
    unary_powf => |q| UnaryOp::Powf(q.p),
    unary_add_scalar => |q| UnaryOp::AddScalar(q.c),
    unary_mul_scalar => |q| UnaryOp::MulScalar(q.c),
    unary_recip => |_| UnaryOp::Recip,
    unary_step => |_| UnaryOp::Step,
    unary_leaky_step => |q| UnaryOp::LeakyStep(q.slope),
    unary_gelu_grad => |_| UnaryOp::GeluGrad,
}

// ---------------------------------------------------------------------------------------------
// binary and select
// ---------------------------------------------------------------------------------------------

/// Every `BinaryOp` variant. `binary_reference` and `binary_ok` match without a wildcard, so a
/// new variant does not compile until it has a reference, and then belongs here too.
const ALL_BINARY_OPS: [BinaryOp; 14] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Pow,
    BinaryOp::Maximum,
    BinaryOp::Minimum,
    BinaryOp::Eq,
    BinaryOp::Ne,
    BinaryOp::Lt,
    BinaryOp::Le,
    BinaryOp::Gt,
    BinaryOp::Ge,
    BinaryOp::ReluGrad,
];

fn binary_reference(op: BinaryOp, a: f64, b: f64) -> f64 {
    let mask = |c: bool| if c { 1.0 } else { 0.0 };
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Maximum => {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        }
        BinaryOp::Minimum => {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.min(b)
            }
        }
        BinaryOp::Eq => mask(a == b),
        BinaryOp::Ne => mask(a != b),
        BinaryOp::Lt => mask(a < b),
        BinaryOp::Le => mask(a <= b),
        BinaryOp::Gt => mask(a > b),
        BinaryOp::Ge => mask(a >= b),
        BinaryOp::ReluGrad => a * mask(b > 0.0),
    }
}

/// Whether the kernel's value `got` (in `T`) is right for the f64 reference `want`.
fn binary_ok<T: Float>(op: BinaryOp, got: f64, want: f64) -> bool {
    match op {
        // One IEEE operation. For f64 the reference is the same operation; for f32 the f64
        // result rounded to f32 is exactly the f32 result (f64 has more than 2·24 + 2 bits, so
        // the double rounding is innocuous). Comparisons and max/min select exactly.
        BinaryOp::Add
        | BinaryOp::Sub
        | BinaryOp::Mul
        | BinaryOp::Div
        | BinaryOp::Maximum
        | BinaryOp::Minimum
        | BinaryOp::Eq
        | BinaryOp::Ne
        | BinaryOp::Lt
        | BinaryOp::Le
        | BinaryOp::Gt
        | BinaryOp::Ge
        | BinaryOp::ReluGrad => same(got, T::from_f64(want).to_f64()),
        // libm's powf/pow: within 1–2 ulp; allow 4 ulp (8u) plus the f64 reference's 1 ulp.
        BinaryOp::Pow => close(got, want, (gamma(8, unit_roundoff::<T>()) + 2.0 * U64) * want.abs()),
    }
}

/// A shape and two operand views of it (each possibly broadcast, permuted, stepped, offset).
fn binary_case() -> impl Strategy<Value = (Vec<usize>, View, View, u64, bool)> {
    prop_oneof![4 => common::small_shape(), 1 => common::big_shape()].prop_flat_map(|shape| {
        (Just(shape.clone()), common::view(shape.clone(), true), common::view(shape, true), any::<u64>(), any::<bool>())
    })
}

fn check_binary<T: Float>(shape: &[usize], va: &View, vb: &View, seed: u64, ties: bool) -> Result<(), TestCaseError> {
    let mut rng = Rng::new(seed);
    // `ties` draws from a few small values so that equal pairs (Eq, Le, Ge, max/min ties) are
    // common; otherwise `b` stays away from zero so that `a / b` is well scaled.
    let (a, b): (Vec<T>, Vec<T>) = if ties {
        (common::quantized(seed, va.len), common::quantized(seed.wrapping_add(1), vb.len))
    } else {
        (
            (0..va.len).map(|_| T::from_f64(rng.uniform(-3.0, 3.0))).collect(),
            (0..vb.len).map(|_| T::from_f64(rng.signed(0.25, 3.0))).collect(),
        )
    };
    // `pow` with a positive base (a negative base to a fractional power is NaN: true, but not
    // informative).
    let a_pos: Vec<T> = a.iter().map(|&x| T::from_f64(0.25 + x.to_f64().abs())).collect();
    let oa = row_major_offsets(shape, &va.strides, va.offset);
    let ob = row_major_offsets(shape, &vb.strides, vb.offset);
    for op in ALL_BINARY_OPS {
        let a = if op == BinaryOp::Pow { &a_pos } else { &a };
        let mut out = vec![T::from_f64(f64::NAN); numel(shape)];
        binary(
            op,
            Strided { data: a, offset: va.offset, strides: &va.strides },
            Strided { data: &b, offset: vb.offset, strides: &vb.strides },
            shape,
            &mut out,
        );
        for (i, &got) in out.iter().enumerate() {
            let (x, y) = (a[oa[i]].to_f64(), b[ob[i]].to_f64());
            let want = binary_reference(op, x, y);
            let got = got.to_f64();
            prop_assert!(
                binary_ok::<T>(op, got, want),
                "{}: {op:?}({x}, {y}) at out[{i}] = {got}, want {want}",
                T::NAME
            );
        }
    }
    Ok(())
}

fn check_select<T: Float>(shape: &[usize], views: [&View; 3], seed: u64) -> Result<(), TestCaseError> {
    let [vc, va, vb] = views;
    let mut rng = Rng::new(seed);
    // -0.0 must count as false (it compares equal to zero); any other value, NaN included, as
    // true (as `bool(x)` in PyTorch).
    let cond: Vec<T> = (0..vc.len).map(|_| T::from_f64(rng.pick(&[0.0, -0.0, 1.0, -2.5, 0.5, f64::NAN]))).collect();
    let a: Vec<T> = (0..va.len).map(|_| T::from_f64(rng.uniform(-3.0, 3.0))).collect();
    let b: Vec<T> = (0..vb.len).map(|_| T::from_f64(rng.uniform(-3.0, 3.0))).collect();
    let mut out = vec![T::from_f64(f64::NAN); numel(shape)];
    select(
        Strided { data: &cond, offset: vc.offset, strides: &vc.strides },
        Strided { data: &a, offset: va.offset, strides: &va.strides },
        Strided { data: &b, offset: vb.offset, strides: &vb.strides },
        shape,
        &mut out,
    );
    let oc = row_major_offsets(shape, &vc.strides, vc.offset);
    let oa = row_major_offsets(shape, &va.strides, va.offset);
    let ob = row_major_offsets(shape, &vb.strides, vb.offset);
    for (i, &got) in out.iter().enumerate() {
        let c = cond[oc[i]].to_f64();
        let want = if c != 0.0 { a[oa[i]] } else { b[ob[i]] };
        prop_assert!(got.to_f64() == want.to_f64(), "{}: where({c}) at out[{i}] = {got}, want {want}", T::NAME);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn binary_matches_naive_reference_on_strided_broadcast_views((shape, va, vb, seed, ties) in binary_case()) {
        check_binary::<f32>(&shape, &va, &vb, seed, ties)?;
        check_binary::<f64>(&shape, &va, &vb, seed, ties)?;
    }

    #[test]
    fn select_picks_lhs_where_condition_is_nonzero(
        (shape, vc, va, vb, seed) in prop_oneof![4 => common::small_shape(), 1 => common::big_shape()]
            .prop_flat_map(|s| (
                Just(s.clone()),
                common::view(s.clone(), true),
                common::view(s.clone(), true),
                common::view(s, true),
                any::<u64>(),
            ))
    ) {
        check_select::<f32>(&shape, [&vc, &va, &vb], seed)?;
        check_select::<f64>(&shape, [&vc, &va, &vb], seed)?;
    }
}

/// `maximum`/`minimum` propagate a NaN from either side, as documented (and as PyTorch does).
#[test]
fn maximum_and_minimum_propagate_nan_from_either_side() {
    let a = [f32::NAN, 1.0, 2.0, f32::NAN];
    let b = [1.0, f32::NAN, 3.0, f32::NAN];
    for op in [BinaryOp::Maximum, BinaryOp::Minimum] {
        let mut out = [0.0f32; 4];
        let strides = [1usize];
        let view = |d| Strided { data: d, offset: 0, strides: &strides };
        binary(op, view(&a), view(&b), &[4], &mut out);
        assert!(out[0].is_nan() && out[1].is_nan() && out[3].is_nan(), "{op:?}: {out:?}");
        assert_eq!(out[2], if op == BinaryOp::Maximum { 3.0 } else { 2.0 }, "{op:?}");
    }
}

/// A rank-0 shape is one element; a shape with a zero dimension has none (and is not touched).
#[test]
fn binary_on_a_scalar_and_on_an_empty_shape() {
    let (a, b) = ([2.5f64], [4.0f64]);
    let mut out = [f64::NAN];
    binary(
        BinaryOp::Mul,
        Strided { data: &a, offset: 0, strides: &[] },
        Strided { data: &b, offset: 0, strides: &[] },
        &[],
        &mut out,
    );
    assert_eq!(out, [10.0]);
    let mut empty: [f64; 0] = [];
    binary(
        BinaryOp::Add,
        Strided { data: &a, offset: 0, strides: &[0, 0, 0] },
        Strided { data: &b, offset: 0, strides: &[1, 1, 1] },
        &[2, 0, 3],
        &mut empty,
    );
}
