//! Tour, step 4: adding an op of your own — forward, backward rule — and checking the rule.
//!
//! ```text
//! cargo run --release --example 04_writing_a_backward_rule
//! ```
//!
//! The op is SiLU (swish), `y = x · σ(x)`. Its derivative, by the product rule and
//! `σ' = σ(1 − σ)`:
//!
//! ```text
//! dy/dx = σ(x) + x · σ(x) · (1 − σ(x))  =  σ(x) · (1 + x · (1 − σ(x)))
//! ```
//!
//! so the backward rule is `∂x = g · σ(x) · (1 + x · (1 − σ(x)))`, with `g = ∂L/∂y`.
//! [`Var::from_op`] puts the op in the graph: its forward value, computed on plain tensors,
//! and its rule, written with `Var` ops so that it can be differentiated again (second
//! derivatives, checked by `gradgradcheck`). Then three checks:
//! - `gradcheck`: the rule against central finite differences, `(f(x+ε) − f(x−ε)) / 2ε`;
//! - `gradgradcheck`: the rule's own derivative, the same way;
//! - the same function built from existing ops (`x · sigmoid(x)`) must give the same gradient.
//!
//! A rule with a mistake (a forgotten term) fails the first check, and the report says where.

use ferrograd::autograd::{compare_gradient, GradcheckOptions, OpInfo, Saved};
use ferrograd::{gradcheck, gradgradcheck, DType, Rng, Var};

/// SiLU as an op of its own: `y = x · σ(x)` — `∂x = g · σ(x) · (1 + x · (1 − σ(x)))`.
fn silu(x: &Var) -> ferrograd::Result<Var> {
    let value = x.value();
    let y = value.mul(&value.sigmoid()?)?;
    Var::from_op(
        &OpInfo { name: "silu", rule: "∂x = g · σ(x) · (1 + x · (1 − σ(x)))", saves: &[Saved::Input(0)] },
        y,
        &[x],
        |inputs, _y, g| {
            let x = &inputs[0];
            let s = x.sigmoid()?;
            let one_minus_s = s.neg()?.add_scalar(1.0)?;
            let dy_dx = s.mul(&x.mul(&one_minus_s)?.add_scalar(1.0)?)?;
            Ok(vec![Some(g.mul(&dy_dx)?)])
        },
    )
}

/// The same op with a classic mistake: the product rule's second term is forgotten.
fn silu_wrong(x: &Var) -> ferrograd::Result<Var> {
    let value = x.value();
    let y = value.mul(&value.sigmoid()?)?;
    Var::from_op(
        &OpInfo { name: "silu_wrong", rule: "∂x = g · σ(x)", saves: &[Saved::Input(0)] },
        y,
        &[x],
        |inputs, _, g| Ok(vec![Some(g.mul(&inputs[0].sigmoid()?)?)]),
    )
}

fn main() -> ferrograd::Result<()> {
    let x = Rng::new(0).normal_tensor(&[3, 4], 0.0, 2.0, DType::F64)?;
    let opts = GradcheckOptions::default();

    let first = gradcheck("silu", |v: &[Var]| silu(&v[0]), std::slice::from_ref(&x), opts)?;
    println!("{first}");
    let second = gradgradcheck("silu", |v: &[Var]| silu(&v[0]), std::slice::from_ref(&x), opts, 1)?;
    println!("{second}");
    let wrong = gradcheck("silu_wrong", |v: &[Var]| silu_wrong(&v[0]), std::slice::from_ref(&x), opts)?;
    println!("{wrong}");

    // Against the composite: L = Σ silu(x)² both ways.
    let ours = Var::parameter(x.clone()).named("x");
    silu(&ours)?.powf(2.0)?.sum_all()?.backward()?;
    let composite = Var::parameter(x.clone());
    composite.mul(&composite.sigmoid()?)?.powf(2.0)?.sum_all()?.backward()?;
    let cmp = compare_gradient("silu vs x·σ(x)", &composite.grad().expect("computed"), &ours)?;
    println!("{cmp}");
    // The op appears in drawings and traces under its own name, with its rule.
    let y = silu(&ours)?;
    println!("y.op_info() = {:?}", y.op_info().map(|op| (op.name, op.rule)));

    assert!(first.passed && second.passed && !wrong.passed && cmp.approximate);
    println!(
        "{}",
        serde_json::json!({
            "example": "04_writing_a_backward_rule",
            "gradcheck": first.passed,
            "gradgradcheck": second.passed,
            "wrong_rule_caught": !wrong.passed,
            "matches_composite": cmp.approximate,
        })
    );
    Ok(())
}
