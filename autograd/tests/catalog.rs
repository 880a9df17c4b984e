//! The op catalog covers every op with a backward rule, and every case passes gradcheck and
//! gradgradcheck.

use ferrograd_autograd::catalog::{catalog, ops_with_rules};

#[test]
fn the_catalog_covers_every_op_with_a_rule() {
    let rules = ops_with_rules();
    assert!(rules.len() >= 45, "found only {rules:?}");
    let cases = catalog(1);
    let missing: Vec<&str> = rules.iter().copied().filter(|op| !cases.iter().any(|c| c.op == *op)).collect();
    assert!(missing.is_empty(), "ops with a rule but no catalog case: {missing:?}");
    // And every case named as a non-composite op really is one with a rule.
    for c in &cases {
        assert!(c.composite || rules.contains(&c.op), "{} is not an op with a rule", c.op);
    }
}

#[test]
fn every_catalog_case_passes_gradcheck_and_gradgradcheck() {
    for seed in [2, 3] {
        for c in catalog(seed) {
            let (first, second) =
                c.check(seed).unwrap_or_else(|e| panic!("{} {} {}: {e}", c.op, c.variant, c.shapes()));
            assert!(first.passed, "{} ({}, {}): {first}", c.op, c.variant, c.shapes());
            assert!(second.passed, "{} ({}, {}): {second}", c.op, c.variant, c.shapes());
        }
    }
}
