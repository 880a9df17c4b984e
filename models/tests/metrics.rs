//! Accuracy metrics.

use ferrograd_autograd::{DType, Tensor};
use ferrograd_models::metrics::{accuracy, correct_predictions};

#[test]
fn counts_rows_whose_argmax_is_the_target() {
    // Row argmaxes: 2, 0 (tie between 0 and 1: the first wins), 1, 0.
    let logits =
        Tensor::from_vec(vec![0.1f32, 0.2, 0.9, 0.5, 0.5, 0.0, -1.0, 3.0, 2.0, 7.0, 1.0, 1.0], &[4, 3]).unwrap();
    let targets = Tensor::from_vec(vec![2i64, 0, 0, 0], &[4]).unwrap();
    assert_eq!(correct_predictions(&logits, &targets).unwrap(), 3);
    assert_eq!(accuracy(&logits, &targets).unwrap(), 0.75);
    // Shapes that do not fit are an error.
    assert!(accuracy(&logits, &Tensor::zeros(&[3], DType::I64)).is_err());
}
