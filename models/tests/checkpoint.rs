//! safetensors checkpoints: a round trip restores every weight; every kind of bad file is an
//! `Error::Io` naming the tensor (and the shapes) and leaves the model untouched.

use ferrograd_autograd::{DType, Error, Rng};
use ferrograd_models::checkpoint::{load, save};
use ferrograd_models::layers::{Linear, Relu, Sequential};
use ferrograd_models::Module;
use std::path::PathBuf;

fn net(seed: u64, hidden: usize, dtype: DType) -> Sequential {
    let mut rng = Rng::new(seed);
    Sequential::new()
        .add(Linear::new(4, hidden, true, dtype, &mut rng).unwrap())
        .add(Relu)
        .add(Linear::new(hidden, 2, true, dtype, &mut rng).unwrap())
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ferrograd-ckpt-{}-{name}.safetensors", std::process::id()))
}

fn weights(m: &Sequential) -> Vec<Vec<f64>> {
    m.parameters().iter().map(|p| p.value().to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()).collect()
}

fn io_reason(e: Error) -> String {
    match e {
        Error::Io { reason, .. } => reason,
        other => panic!("expected an Io error, got {other:?}"),
    }
}

#[test]
fn round_trip_restores_every_weight() {
    let (a, b) = (net(1, 3, DType::F32), net(2, 3, DType::F32));
    let path = temp("roundtrip");
    save(&a, &path).unwrap();
    assert_ne!(weights(&a), weights(&b));
    load(&b, &path).unwrap();
    assert_eq!(weights(&a), weights(&b));
    let _ = std::fs::remove_file(path);
}

#[test]
fn mismatched_or_corrupt_files_are_clear_errors() {
    let path = temp("mismatch");
    save(&net(1, 3, DType::F32), &path).unwrap();
    let wider = net(2, 5, DType::F32);
    let before = weights(&wider);
    let reason = io_reason(load(&wider, &path).unwrap_err());
    assert!(reason.contains("\"0.weight\"") && reason.contains("[3, 4]") && reason.contains("[5, 4]"), "{reason}");
    assert_eq!(weights(&wider), before, "a failed load changes nothing");
    let reason = io_reason(load(&net(2, 3, DType::F64), &path).unwrap_err());
    assert!(reason.contains("dtype"), "{reason}");
    // A model with fewer parameters: the file holds an unexpected tensor.
    let mut rng = Rng::new(0);
    let small = Sequential::new().add(Linear::new(4, 3, true, DType::F32, &mut rng).unwrap());
    let reason = io_reason(load(&small, &path).unwrap_err());
    assert!(reason.contains("not a parameter"), "{reason}");
    // A model with a parameter the file lacks.
    let bigger = net(3, 3, DType::F32).add(Linear::new(2, 2, true, DType::F32, &mut rng).unwrap());
    assert!(io_reason(load(&bigger, &path).unwrap_err()).contains("\"3.weight\" is missing"));
    // Truncated and garbage files.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(io_reason(load(&net(1, 3, DType::F32), &path).unwrap_err()).contains("not a valid safetensors"));
    std::fs::write(&path, b"not a checkpoint").unwrap();
    assert!(io_reason(load(&net(1, 3, DType::F32), &path).unwrap_err()).contains("not a valid safetensors"));
    let _ = std::fs::remove_file(&path);
    assert!(io_reason(load(&net(1, 3, DType::F32), &path).unwrap_err()).contains("cannot read"));
}
