//! Graph export: the DOT of a known small graph, before and after backward.

use ferrograd_autograd::{DType, DotOptions, Tensor, Var};

fn small_graph() -> (Var, Var) {
    let x = Var::constant(Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap());
    let w = Var::parameter(Tensor::from_vec(vec![3.0f32, 4.0], &[2]).unwrap());
    // L = Σ (w · x) + Σ w: w is used twice.
    let loss = w.mul(&x).unwrap().sum_all().unwrap().add(&w.sum_all().unwrap()).unwrap();
    (w, loss)
}

#[test]
fn dot_of_a_known_graph_before_backward() {
    let (_w, loss) = small_graph();
    let expected = r#"digraph ferrograd {
  rankdir=LR;
  node [fontname="monospace"];
  n0 [label="constant\n[2] f32 cpu", shape=box, color=gray, fontcolor=gray40];
  n1 [label="parameter\n[2] f32 cpu\ngrad not yet computed", shape=box, style=filled, fillcolor=lightblue];
  n2 [label="mul\n[2] f32 cpu", shape=ellipse];
  n3 [label="sum\n[] f32 cpu", shape=ellipse];
  n4 [label="sum\n[] f32 cpu", shape=ellipse];
  n5 [label="add\n[] f32 cpu", shape=ellipse, peripheries=2];
  n1 -> n2;
  n0 -> n2;
  n2 -> n3;
  n1 -> n4;
  n3 -> n5;
  n4 -> n5;
}
"#;
    assert_eq!(loss.to_dot(), expected);
}

#[test]
fn dot_after_backward_shows_gradient_norms_or_says_the_graph_was_freed() {
    // Kept graph: ∂L/∂w = x + 1 = [2, 3], norm √13.
    let (_w, loss) = small_graph();
    loss.backward_with(&Tensor::ones(&[], DType::F32), false, true).unwrap();
    let dot = loss.to_dot();
    assert!(dot.contains("parameter\\n[2] f32 cpu\\ngrad ‖·‖ = 3.6056"), "{dot}");
    assert!(!dot.contains("not yet computed") && !dot.contains("freed"), "{dot}");
    // Plain backward frees the graph: the root alone remains, and says so.
    let (_w, loss) = small_graph();
    loss.backward().unwrap();
    let dot = loss.to_dot();
    assert!(dot.contains("add\\n[] f32 cpu\\n(inputs freed by backward)"), "{dot}");
    assert_eq!(dot.matches(" -> ").count(), 0, "{dot}");
}

#[test]
fn svg_needs_graphviz_and_never_panics_without_it() {
    let (_w, loss) = small_graph();
    match loss.to_svg() {
        Ok(svg) => assert!(svg.contains("<svg"), "{svg}"),
        Err(e) => assert!(e.to_string().starts_with("to_svg"), "{e}"),
    }
}

#[test]
fn names_head_their_labels_and_saved_tensors_are_listed_on_request() {
    let x = Var::constant(Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap()).named("x");
    let w = Var::parameter(Tensor::from_vec(vec![3.0f32, 4.0], &[2]).unwrap()).named("w");
    let loss = w.mul(&x).unwrap().exp().unwrap().sum_all().unwrap().named("L");
    let plain = loss.to_dot();
    assert!(plain.contains("label=\"x: constant\\n[2] f32 cpu\""), "{plain}");
    assert!(plain.contains("label=\"w: parameter\\n[2] f32 cpu"), "{plain}");
    assert!(plain.contains("label=\"L: sum\\n[] f32 cpu\""), "{plain}");
    assert!(!plain.contains("saves"), "saved tensors are shown only on request: {plain}");

    let dot = loss.to_dot_with(DotOptions { show_saved: true });
    // mul's rule reads both inputs (2 × 8 bytes); exp's reads its output; sum's reads nothing.
    assert!(dot.contains("mul\\n[2] f32 cpu\\nsaves input 0 [2], input 1 [2] (16 B)"), "{dot}");
    assert!(dot.contains("exp\\n[2] f32 cpu\\nsaves output [2] (8 B)"), "{dot}");
    assert!(dot.contains("L: sum\\n[] f32 cpu\\nsaves nothing"), "{dot}");
    assert!(dot.contains("w: parameter\\n[2] f32 cpu\\ngrad not yet computed\""), "leaves save nothing: {dot}");

    // x · x keeps one tensor alive, not two.
    let sq = w.mul(&w).unwrap();
    let dot = sq.to_dot_with(DotOptions { show_saved: true });
    assert!(dot.contains("saves input 0 [2], input 1 [2] (8 B)"), "{dot}");
}
