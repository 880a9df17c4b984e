//! Backward passes on the GPU against the CPU: the same graph, built from the same values on
//! each device, must give the same loss and the same gradients (within the tolerance of the
//! forward ops it runs). The CPU gradients are themselves checked against finite differences by
//! the gradcheck tests, so agreement here carries that check over to the CUDA path.
//!
//! Without the `cuda` feature or a GPU the GPU side is skipped (and said so); the tests pass.

use ferrograd_autograd::Var;
use ferrograd_tensor::{DType, Device, Error, Result, Rng, Tensor};

fn gpu() -> Option<Device> {
    match Tensor::scalar(1.0f32).to_device(Device::Cuda(0)) {
        Ok(_) => Some(Device::Cuda(0)),
        Err(e @ Error::DeviceUnavailable { .. }) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| eprintln!("GPU side skipped: {e}"));
            None
        }
        Err(e) => panic!("unexpected error probing the GPU: {e}"),
    }
}

/// Builds `graph` from parameters holding `values` on `device`, backpropagates, and returns the
/// loss and each parameter's gradient, on the host.
fn loss_and_grads(values: &[Tensor], device: Device, graph: &dyn Fn(&[Var]) -> Result<Var>) -> (f64, Vec<Vec<f64>>) {
    let params: Vec<Var> = values.iter().map(|t| Var::parameter(t.to_device(device).unwrap())).collect();
    let loss = graph(&params).unwrap();
    loss.backward().unwrap();
    let grads = params
        .iter()
        .map(|p| {
            let g = p.grad().expect("every parameter gets a gradient");
            assert_eq!(g.device(), device, "a gradient left the device");
            g.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
        })
        .collect();
    (loss.value().item().unwrap(), grads)
}

/// Runs `graph` on both devices and compares: `|gpu − cpu| ≤ rel·max|cpu| + 1e-30` per parameter.
fn agree(what: &str, values: &[Tensor], rel: f64, graph: &dyn Fn(&[Var]) -> Result<Var>) {
    let (cpu_loss, cpu_grads) = loss_and_grads(values, Device::Cpu, graph);
    let Some(device) = gpu() else { return };
    let (gpu_loss, gpu_grads) = loss_and_grads(values, device, graph);
    assert!(
        (gpu_loss - cpu_loss).abs() <= rel * cpu_loss.abs() + 1e-30,
        "{what}: loss {gpu_loss} on {device}, {cpu_loss} on the CPU"
    );
    for (p, (g, c)) in gpu_grads.iter().zip(&cpu_grads).enumerate() {
        let scale = c.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (i, (a, b)) in g.iter().zip(c).enumerate() {
            assert!((a - b).abs() <= rel * scale + 1e-30, "{what}: ∂param{p}[{i}] is {a} on {device}, {b} on the CPU");
        }
    }
}

fn randn(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
    Rng::new(seed).normal_tensor(shape, 0.0, 1.0, dtype).unwrap()
}

/// A two-layer perceptron with a softmax cross-entropy-like loss built from elementwise ops,
/// in f64 (so that the comparison is tight: 1e-9 of the largest gradient covers sums of a few
/// hundred terms in another order).
#[test]
fn mlp_gradients_agree() {
    let values = [
        randn(&[8, 5], 1, DType::F64),  // x
        randn(&[16, 5], 2, DType::F64), // W1 (used as W1ᵀ, a transposed operand)
        randn(&[16], 3, DType::F64),    // b1
        randn(&[16, 4], 4, DType::F64), // W2
        randn(&[4], 5, DType::F64),     // b2
    ];
    agree("mlp", &values, 1e-9, &|p| {
        let h = p[0].matmul_bias(&p[1].t()?, &p[2])?.relu()?;
        let logits = h.matmul(&p[3])?.add(&p[4])?.tanh()?.mul_scalar(3.0)?;
        let logp = logits.log_softmax(1)?;
        logp.mul(&logits.softmax(1)?)?.sum(vec![1usize], false)?.neg()?.mean_all()
    });
}

/// Elementwise and reduction rules: sigmoid, gelu, exp, log, sqrt, pow, div, max, mean over
/// dims, broadcasting in both directions. f32: each gradient is a short chain of roundings, 1e-5
/// of the largest gradient.
#[test]
fn elementwise_and_reduction_gradients_agree() {
    let values = [randn(&[6, 7], 6, DType::F32), randn(&[1, 7], 7, DType::F32), randn(&[6, 1], 8, DType::F32)];
    agree("elementwise", &values, 1e-5, &|p| {
        let a = p[0].sigmoid()?.mul(&p[1].gelu()?)?;
        let b = p[2].abs()?.add_scalar(0.5)?.sqrt()?.log()?;
        let c = a.div(&b.exp()?)?.add(&p[0].powf(2.0)?)?;
        let m = c.max(vec![1usize], true)?;
        c.sub(&m)?.mean(vec![0usize], false)?.sum_all()
    });
}

/// Convolution, transposed convolution and pooling, in f64: a grouped strided conv with bias,
/// overlapping max pooling (3×3 windows, stride 2: ties are impossible with random values),
/// average pooling with padding, then a transposed conv back up. The gradients flow through
/// the implicit-GEMM kernels and through `im2col`/`col2im` (pooling); sums of a few hundred
/// terms in another order, 1e-9 of the largest gradient.
#[test]
fn convolution_and_pooling_gradients_agree() {
    use ferrograd_tensor::Window;
    let values = [
        randn(&[2, 4, 11, 10], 9, DType::F64), // x
        randn(&[6, 2, 3, 3], 10, DType::F64),  // conv weight, 2 groups
        randn(&[6], 11, DType::F64),           // conv bias
        randn(&[6, 3, 2, 2], 12, DType::F64),  // transposed conv weight [C_in, C_out, kh, kw]
    ];
    agree("conv and pooling", &values, 1e-9, &|p| {
        let y = p[0].conv2d(&p[1], Some(&p[2]), Window::default().padding(1).stride(1), 2)?.tanh()?;
        let y = y.max_pool2d([3, 3], Window::default().stride(2))?;
        let y = y.avg_pool2d([2, 2], Window::default().stride(1).padding(1))?;
        let z = y.conv_transpose2d(&p[3], None, Window::default().stride(2), [1, 0], 1)?;
        z.mul(&z)?.mean_all()
    });
}
