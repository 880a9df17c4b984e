//! BatchNorm running statistics and modes; LayerNorm parameters.

use ferrograd_autograd::{DType, Rng, Var};
use ferrograd_models::layers::{BatchNorm, LayerNorm};
use ferrograd_models::Module;

#[test]
fn batch_norm_updates_running_statistics_and_uses_them_in_eval() {
    let mut rng = Rng::new(3);
    let x = rng.normal_tensor(&[8, 3, 2, 2], 1.5, 2.0, DType::F64).unwrap();
    let bn = BatchNorm::new(3, DType::F64);
    let y = bn.forward(&Var::constant(x.clone())).unwrap().value();
    // Training output: zero mean and unit (population) variance per channel.
    let m = y.mean([0, 2, 3], false).unwrap().to_vec::<f64>().unwrap();
    let v = y.var([0, 2, 3], 0, false).unwrap().to_vec::<f64>().unwrap();
    assert!(m.iter().all(|m| m.abs() < 1e-12) && v.iter().all(|v| (v - 1.0).abs() < 1e-4), "{m:?} {v:?}");
    // Running stats after one step: 0.9·init + 0.1·batch (unbiased variance).
    let bm = x.mean([0, 2, 3], false).unwrap().to_vec::<f64>().unwrap();
    let bv = x.var([0, 2, 3], 1, false).unwrap().to_vec::<f64>().unwrap();
    let rm = bn.running_mean().to_vec::<f64>().unwrap();
    let rv = bn.running_var().to_vec::<f64>().unwrap();
    for ch in 0..3 {
        assert!((rm[ch] - 0.1 * bm[ch]).abs() < 1e-12);
        assert!((rv[ch] - (0.9 + 0.1 * bv[ch])).abs() < 1e-12);
    }
    // Eval: (x − running_mean) / √(running_var + eps).
    bn.eval();
    let ye = bn.forward(&Var::constant(x.clone())).unwrap().value().to_vec::<f64>().unwrap();
    let xv = x.to_vec::<f64>().unwrap();
    for (i, (&a, &b)) in ye.iter().zip(&xv).enumerate() {
        let ch = (i / 4) % 3;
        assert!((a - (b - rm[ch]) / (rv[ch] + 1e-5).sqrt()).abs() < 1e-12);
    }
    assert!(bn.forward(&Var::constant(rng.normal_tensor(&[2, 4], 0.0, 1.0, DType::F64).unwrap())).is_err());
}

#[test]
fn layer_norm_has_unit_scale_and_zero_shift_initially() {
    let ln = LayerNorm::new(&[4], DType::F32);
    let names: Vec<String> = ln.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight", "bias"]);
    let x = Var::constant(Rng::new(1).normal_tensor(&[3, 4], 0.0, 3.0, DType::F32).unwrap());
    let y = ln.forward(&x).unwrap().value();
    let m = y.mean([1], false).unwrap().to_vec::<f32>().unwrap();
    assert!(m.iter().all(|m| m.abs() < 1e-5));
}
