//! Anomaly detection finds the first op that made a NaN or an infinity, and where it was called.

use ferrograd_autograd::{detect_anomaly, Error, Tensor, Var};

fn param(v: Vec<f64>) -> Var {
    let n = v.len();
    Var::parameter(Tensor::from_vec(v, &[n]).unwrap())
}

#[test]
fn forward_anomaly_names_the_first_op_and_the_line_that_called_it() {
    let x = param(vec![1.0, 0.0]);
    // ln 0 = −∞ comes first; the NaN that 0·(−∞) makes next is never reached.
    let (result, line) = (detect_anomaly(|| x.log()?.mul_scalar(0.0)), line!());
    let err = result.unwrap_err();
    let Error::Anomaly { op, reason } = &err else { panic!("not an anomaly: {err}") };
    assert_eq!(*op, "log");
    assert!(reason.contains("1 inf of 2 elements"), "{reason}");
    assert!(reason.contains(&format!("{}:{line}:", file!())), "{reason}");
    // Outside anomaly mode the same computation runs (and yields the NaN).
    let y = x.log().unwrap().mul_scalar(0.0).unwrap().value().to_vec::<f64>().unwrap();
    assert!(y[1].is_nan());
}

#[test]
fn backward_anomaly_names_the_rule_that_made_it() {
    // √x is finite at 0, but its derivative 1/(2√x) is not.
    let x = param(vec![0.0, 4.0]);
    let (y, line) = (x.sqrt().unwrap(), line!());
    let loss = y.sum_all().unwrap();
    let err = detect_anomaly(|| loss.backward()).unwrap_err();
    let Error::Anomaly { op, reason } = &err else { panic!("not an anomaly: {err}") };
    assert_eq!(*op, "sqrt");
    assert!(reason.contains("∂x = g / (2y)") && reason.contains("1 inf of 2 elements"), "{reason}");
    assert!(reason.contains(&format!("{}:{line}:", file!())), "{reason}");
    // The mode is off again afterwards, and without it backward stores the infinity.
    let loss = x.sqrt().unwrap().sum_all().unwrap();
    loss.backward().unwrap();
    assert!(x.grad().unwrap().to_vec::<f64>().unwrap()[0].is_infinite());
}

#[test]
fn finite_computations_pass_anomaly_mode_unchanged() {
    let x = param(vec![0.5, 2.0]);
    let loss = detect_anomaly(|| x.log()?.tanh()?.sum_all()).unwrap();
    detect_anomaly(|| loss.backward()).unwrap();
    assert_eq!(x.grad().unwrap().shape(), &[2]);
}
