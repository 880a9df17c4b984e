//! `Display` prints tensors like PyTorch: nested brackets, aligned values, long dims elided.

use ferrograd_tensor::{DType, Tensor};

#[test]
fn small_matrix_exact_string() {
    let x = Tensor::from_vec(vec![1.0f32, 2.5, -3.0, 4.0], &[2, 2]).unwrap();
    assert_eq!(
        x.to_string(),
        "tensor([[ 1.0000,  2.5000],\n        [-3.0000,  4.0000]], shape=[2, 2], dtype=f32, device=cpu)"
    );
    // Debug is the same text.
    assert_eq!(format!("{x:?}"), x.to_string());
}

#[test]
fn transposed_view_prints_its_logical_order() {
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[2, 2]).unwrap().t().unwrap();
    assert_eq!(
        x.to_string(),
        "tensor([[1.0000, 3.0000],\n        [2.0000, 4.0000]], shape=[2, 2], dtype=f64, device=cpu)"
    );
}

#[test]
fn scalar_vector_integer_and_rank_3() {
    assert_eq!(Tensor::scalar(0.5f64).to_string(), "tensor(0.5000, shape=[], dtype=f64, device=cpu)");
    assert_eq!(
        Tensor::from_vec(vec![3i64, -12, 7], &[3]).unwrap().to_string(),
        "tensor([  3, -12,   7], shape=[3], dtype=i64, device=cpu)"
    );
    // Rank 3: blocks separated by a blank line, inner rows indented one more than the outer.
    let x = Tensor::arange(8, DType::I64).reshape(&[2, 2, 2]).unwrap();
    assert_eq!(
        x.to_string(),
        "tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]], shape=[2, 2, 2], dtype=i64, device=cpu)"
    );
}

#[test]
fn tiny_and_huge_values_use_scientific_notation() {
    let s = Tensor::from_vec(vec![1.5e-5f64, 2.0e9], &[2]).unwrap().to_string();
    assert!(s.contains("1.5000e-5") && s.contains("2.0000e9"), "{s}");
    // Non-finite values print without failing.
    let s = Tensor::from_vec(vec![f32::NAN, f32::INFINITY, -1.0], &[3]).unwrap().to_string();
    assert!(s.to_lowercase().contains("nan") && s.contains("inf"), "{s}");
}

#[test]
fn large_tensor_is_elided() {
    let x = Tensor::arange(10_000, DType::F32).reshape(&[100, 100]).unwrap();
    let s = x.to_string();
    assert!(s.contains("..."), "{s}");
    // First and last three rows and columns, and nothing from the middle.
    for shown in ["0.0000", "1.0000", "2.0000", "97.0000", "99.0000", "9900.0000", "9999.0000", "297.0000"] {
        assert!(s.contains(shown), "{shown} missing from\n{s}");
    }
    for hidden in ["50.0000", "5050.0000", "3.0000,", "4950.0000"] {
        assert!(!s.contains(hidden), "{hidden} should be elided from\n{s}");
    }
    // 3 rows, the "..." row, 3 rows.
    assert_eq!(s.lines().count(), 7, "{s}");
    assert!(s.len() < 1000, "elided output is {} chars", s.len());
    assert!(s.ends_with(", shape=[100, 100], dtype=f32, device=cpu)"), "{s}");
    // A 1000-element tensor is printed in full; 1001 elements are summarised.
    assert!(!Tensor::arange(1000, DType::F64).to_string().contains("..."));
    assert!(Tensor::arange(1001, DType::F64).to_string().contains("..."));
}
