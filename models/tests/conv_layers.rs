//! Convolution, pooling, flatten and dropout layers; train/eval mode propagation.

use ferrograd_autograd::{DType, Rng, Tensor, Var, Window};
use ferrograd_models::layers::{
    AvgPool2d, Conv2d, ConvTranspose2d, Dropout, Flatten, Linear, MaxPool2d, Relu, Sequential,
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
