//! Convolution, pooling, flatten and dropout layers; train/eval mode propagation.

use ferrograd_autograd::{DType, Rng, Tensor, Var, Window};
use ferrograd_models::layers::{
    AvgPool2d, Conv1d, Conv2d, ConvTranspose2d, Dropout, Flatten, Linear, MaxPool2d, Relu, Sequential,
};
use ferrograd_models::Module;

#[test]
fn cnn_shapes_and_parameter_names() {
    let mut rng = Rng::new(0);
    let net = Sequential::new()
        .add(Conv2d::new(1, 4, [3, 3], Window::default().padding(1), 1, true, DType::F32, &mut rng).unwrap())
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Conv2d::new(4, 4, [3, 3], Window::default(), 4, false, DType::F32, &mut rng).unwrap()) // depthwise
        .add(AvgPool2d::new(2))
        .add(Flatten)
        .add(Linear::new(4, 3, true, DType::F32, &mut rng).unwrap());
    let x = Var::constant(rng.normal_tensor(&[2, 1, 10, 10], 0.0, 1.0, DType::F32).unwrap());
    // 10 -pad1-> 10 -pool-> 5 -conv3-> 3 -pool-> 1: [2, 4, 1, 1] -> [2, 4] -> [2, 3]
    assert_eq!(net.forward(&x).unwrap().shape(), vec![2, 3]);
    let names: Vec<String> = net.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["0.weight", "0.bias", "3.weight", "6.weight", "6.bias"]);
    // Conv2d's default init is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 1·3·3.
    let w = net.named_parameters()[0].1.value().to_vec::<f32>().unwrap();
    assert!(w.iter().all(|v| v.abs() <= 1.0 / 3.0));
    assert!(Conv2d::new(3, 4, [3, 3], Window::default(), 2, true, DType::F32, &mut rng).is_err());
}

#[test]
fn dropout_scales_in_training_and_is_the_identity_in_eval() {
    let d = Dropout::new(0.25, 7).unwrap();
    let x = Var::constant(Tensor::ones(&[10_000], DType::F64));
    let y = d.forward(&x).unwrap().value().to_vec::<f64>().unwrap();
    // Every kept value is 1/(1 − p); the kept fraction is ≈ 0.75 (binomial sd ≈ 0.0043, so 5 sd
    // is 0.022).
    assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-12));
    let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / y.len() as f64;
    assert!((kept - 0.75).abs() < 0.022, "kept {kept}");
    let net = Sequential::new().add(Dropout::new(0.5, 1).unwrap());
    net.eval();
    assert_eq!(net.forward(&x).unwrap().value().to_vec::<f64>().unwrap(), vec![1.0; 10_000]);
    net.train();
    assert_ne!(net.forward(&x).unwrap().value().to_vec::<f64>().unwrap(), vec![1.0; 10_000]);
    assert!(Dropout::new(1.0, 0).is_err());
}

/// Variational dropout draws one mask per (sequence, unit) and applies it at every time step.
#[test]
fn variational_dropout_shares_its_mask_along_the_time_axis() {
    let (b, t, h) = (8, 50, 64);
    let d = Dropout::new(0.4, 3).unwrap();
    let x = Var::parameter(Rng::new(4).normal_tensor(&[b, t, h], 0.0, 1.0, DType::F64).unwrap());
    let y = d.forward_shared(&x, 1).unwrap();
    y.sum_all().unwrap().backward().unwrap();
    // ∂sum/∂x is the mask itself: 0 or 1/(1 − p), the same at every step of a sequence.
    let mask = x.grad().unwrap().to_vec::<f64>().unwrap();
    let (xs, ys) = (x.value().to_vec::<f64>().unwrap(), y.value().to_vec::<f64>().unwrap());
    for (i, &m) in mask.iter().enumerate() {
        let first_step = (i / (t * h)) * t * h + i % h;
        assert_eq!(m, mask[first_step], "mask differs along time at {i}");
        assert!(m == 0.0 || (m - 1.0 / 0.6).abs() < 1e-12);
        assert_eq!(ys[i], xs[i] * m);
    }
    // 512 independent draws of keep probability 0.6: sd ≈ 0.022, so 5 sd is 0.11.
    let kept = mask.iter().filter(|&&m| m != 0.0).count() as f64 / mask.len() as f64;
    assert!((kept - 0.6).abs() < 0.11, "kept {kept}");
    assert!(d.forward_shared(&x, 3).is_err());
    d.eval();
    assert_eq!(d.forward_shared(&x, 1).unwrap().value().to_vec::<f64>().unwrap(), xs);
}

#[test]
fn conv_transpose_layer_doubles_the_resolution() {
    let mut rng = Rng::new(5);
    // The DCGAN upsampling block: kernel 4, stride 2, padding 1 maps 7×7 to 14×14.
    let up = ConvTranspose2d::new(
        8,
        4,
        [4, 4],
        Window::default().stride(2).padding(1),
        [0, 0],
        1,
        true,
        DType::F32,
        &mut rng,
    )
    .unwrap();
    let x = Var::constant(rng.normal_tensor(&[2, 8, 7, 7], 0.0, 1.0, DType::F32).unwrap());
    assert_eq!(up.forward(&x).unwrap().shape(), vec![2, 4, 14, 14]);
    assert_eq!(up.weight.shape(), vec![8, 4, 4, 4]);
    assert!(ConvTranspose2d::new(3, 4, [3, 3], Window::default(), [0, 0], 2, true, DType::F32, &mut rng).is_err());
}

#[test]
fn conv1d_layer_matches_a_direct_sum_and_trains() {
    let mut rng = Rng::new(9);
    // 3 → 4 channels, kernel 3, stride 2, padding 1, dilation 1: L = 9 → ⌊(9 + 2 − 3)/2⌋ + 1 = 5.
    let conv = Conv1d::new(3, 4, 3, [2, 1, 1], 1, true, DType::F64, &mut rng).unwrap();
    assert_eq!(conv.weight.shape(), vec![4, 3, 3]);
    let names: Vec<String> = conv.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight", "bias"]);
    // PyTorch's init: U(-1/√fan_in, 1/√fan_in), fan_in = 3·3.
    assert!(conv.weight.value().to_vec::<f64>().unwrap().iter().all(|v| v.abs() <= 1.0 / 3.0));
    let x = rng.normal_tensor(&[2, 3, 9], 0.0, 1.0, DType::F64).unwrap();
    let y = conv.forward(&Var::constant(x.clone())).unwrap();
    assert_eq!(y.shape(), vec![2, 4, 5]);
    let (xv, w, b) = (
        x.to_vec::<f64>().unwrap(),
        conv.weight.value().to_vec::<f64>().unwrap(),
        conv.bias.as_ref().unwrap().value().to_vec::<f64>().unwrap(),
    );
    let yv = y.value().to_vec::<f64>().unwrap();
    for n in 0..2 {
        for o in 0..4 {
            for t in 0..5 {
                let mut want = b[o];
                for c in 0..3 {
                    for k in 0..3 {
                        let i = (t * 2 + k) as isize - 1;
                        if (0..9).contains(&i) {
                            want += w[(o * 3 + c) * 3 + k] * xv[(n * 3 + c) * 9 + i as usize];
                        }
                    }
                }
                let got = yv[(n * 4 + o) * 5 + t];
                assert!((got - want).abs() < 1e-12, "{got} vs {want}");
            }
        }
    }
    // Gradients reach both parameters.
    y.sum_all().unwrap().backward().unwrap();
    assert_eq!(conv.weight.grad().unwrap().shape(), [4, 3, 3]);
    assert_eq!(conv.bias.as_ref().unwrap().grad().unwrap().shape(), [4]);
    assert!(Conv1d::new(3, 4, 3, [1, 0, 1], 2, true, DType::F32, &mut rng).is_err());
}
