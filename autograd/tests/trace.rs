//! The backward trace: the exact text of a tiny graph, and the steps of a two-layer network
//! checked against the gradients that backward stores.

use ferrograd_autograd::{trace_backward, DType, Rng, Tensor, Var};

#[test]
fn trace_of_a_value_used_twice() {
    // y = Σ x·x at x = [1, 2]: sum sends [1, 1] to x·x; mul's rule sends g·b = [1, 2] and
    // g·a = [1, 2] to x, once per use, and the two add up to ∂y/∂x = 2x = [2, 4].
    let x = Var::parameter(Tensor::from_vec(vec![1.0f64, 2.0], &[2]).unwrap()).named("x");
    let y = x.mul(&x).unwrap().sum_all().unwrap().named("y");
    let (result, trace) = trace_backward(|| y.backward());
    result.unwrap();
    let expected = "\
[1] y = sum []   ∂L/∂y: ‖g‖ = 1.0000
    rule: ∂x = expand(g)
    → %1 (input 0): [2] ‖·‖ = 1.4142
[2] %1 = mul [2]   ∂L/∂%1: ‖g‖ = 1.4142
    rule: ∂a = g · b, ∂b = g · a
    → x (input 0): [2] ‖·‖ = 2.2361
    → x (input 1): [2] ‖·‖ = 2.2361, added to what x already received: ‖total‖ = 4.4721
[3] x = parameter [2]   ∂L/∂x: ‖g‖ = 4.4721
    x.grad = g
";
    assert_eq!(trace.to_string(), expected);
    assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![2.0, 4.0]);
}

fn norm(t: &Tensor) -> f64 {
    t.to_vec::<f64>().unwrap().iter().map(|v| v * v).sum::<f64>().sqrt()
}

#[test]
fn trace_of_a_two_layer_network() {
    // loss = mean((relu(x·W1 + b1)·W2 + b2)²), batch 3, 2 → 4 → 1.
    let mut rng = Rng::new(7);
    let mut param = |shape: &[usize], name: &str| {
        Var::parameter(rng.uniform_tensor(shape, -1.0, 1.0, DType::F64).unwrap()).named(name)
    };
    let (w1, b1, w2, b2) = (param(&[2, 4], "W1"), param(&[4], "b1"), param(&[4, 1], "W2"), param(&[1], "b2"));
    let x = Var::constant(rng.uniform_tensor(&[3, 2], -1.0, 1.0, DType::F64).unwrap()).named("x");
    let h = x.matmul(&w1).unwrap().add(&b1).unwrap().relu().unwrap().named("h");
    let out = h.matmul(&w2).unwrap().add(&b2).unwrap().named("out");
    let loss = out.mul(&out).unwrap().mean_all().unwrap().named("loss");
    let (result, trace) = trace_backward(|| loss.backward());
    result.unwrap();

    // The first step is the loss, seeded with ∂L/∂L = 1; constants (x) never appear.
    assert_eq!(trace.steps[0].value, "loss");
    assert_eq!(trace.steps[0].grad.norm, 1.0);
    assert!(trace.steps.iter().all(|s| s.value != "x"));
    // Each parameter is visited once, after every op that uses it, with the gradient that
    // backward then stores in its .grad.
    for p in [&w1, &b1, &w2, &b2] {
        let name = p.name().unwrap();
        let steps: Vec<usize> = (0..trace.steps.len()).filter(|&i| trace.steps[i].value == name).collect();
        assert_eq!(steps.len(), 1, "{name}");
        let step = &trace.steps[steps[0]];
        assert_eq!((step.op.as_str(), step.stored, step.rule), ("parameter", Some(false), None));
        assert!((step.grad.norm - norm(&p.grad().unwrap())).abs() < 1e-12, "{name}");
        let last_use = trace.steps.iter().rposition(|s| s.sends.iter().any(|t| t.to == name)).unwrap();
        assert!(last_use < steps[0], "{name} visited before all its uses");
    }
    // Biases are broadcast over the batch: their share is summed down from [3, n].
    let summed = |name: &str| {
        trace.steps.iter().flat_map(|s| &s.sends).find(|t| t.to == name).and_then(|t| t.summed_from.clone())
    };
    assert_eq!(summed("b1"), Some(vec![3, 4]));
    assert_eq!(summed("b2"), Some(vec![3, 1]));
    assert_eq!(summed("W1"), None);
    // out is used twice (out · out): its second contribution is accumulated.
    let square = trace.steps.iter().find(|s| s.op == "mul").unwrap();
    assert_eq!(square.sends.len(), 2);
    assert!(square.sends[0].accumulated.is_none() && square.sends[1].accumulated.is_some());
    // The op steps carry their rules, in visiting order.
    let ops: Vec<&str> = trace.steps.iter().map(|s| s.op.as_str()).filter(|&o| o != "parameter").collect();
    assert_eq!(ops, ["mul_scalar", "sum", "mul", "add", "matmul", "relu", "add", "matmul"]);
    let h_step = trace.steps.iter().find(|s| s.value == "h").unwrap();
    assert_eq!(h_step.rule, Some("∂x = g · [x > 0]"));

    // JSON carries the same steps.
    let json: serde_json::Value = serde_json::from_str(&trace.to_json()).unwrap();
    let steps = json["steps"].as_array().unwrap();
    assert_eq!(steps.len(), trace.steps.len());
    assert_eq!(steps[0]["value"], "loss");
    assert_eq!(steps[0]["grad"]["norm"], 1.0);
    let b1_send = steps.iter().flat_map(|s| s["sends"].as_array().unwrap()).find(|t| t["to"] == "b1").unwrap();
    assert_eq!(b1_send["summed_from"], serde_json::json!([3, 4]));
}

#[test]
fn nothing_is_recorded_outside_trace_backward() {
    let x = Var::parameter(Tensor::from_vec(vec![1.0f64], &[1]).unwrap());
    x.mul_scalar(2.0).unwrap().sum_all().unwrap().backward().unwrap();
    let ((), trace) = trace_backward(|| ());
    assert!(trace.steps.is_empty());
}
