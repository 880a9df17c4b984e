//! The catalog of differentiable ops: every op that has a backward rule of its own, and the
//! main composite ops, each with random inputs to check it on — what the `gradcheck` example
//! runs to print its table, and what a test runs to make sure no op is left out.
//!
//! Each op gets a few cases with fresh random shapes (rank 1–3, sizes 1–4): a contiguous one,
//! a non-contiguous one (the input stored with its dims reversed, read back through a permuted
//! view), and for binary ops, broadcasting on either side. Inputs keep away from the points
//! where an op is not differentiable (the kink of `relu`, the pole of `1/x`, ties of `max`), as
//! finite differences need.

use crate::gradcheck::{gradcheck, gradgradcheck, GradcheckOptions, GradcheckReport};
use crate::Var;
use ferrograd_tensor::{DType, Result, Rng, Tensor, Window};
use std::rc::Rc;

/// A function of the case's inputs, the op under test applied to them.
pub type CaseFn = Rc<dyn Fn(&[Var]) -> Result<Var>>;

/// One op on one set of inputs.
#[derive(Clone)]
pub struct OpCase {
    /// The op's name: its [`crate::OpInfo::name`] for ops with a rule of their own.
    pub op: &'static str,
    /// A composite op (its gradient is that of the ops it is made of).
    pub composite: bool,
    /// What is special about this case (`"contiguous"`, `"broadcast b"`, …).
    pub variant: &'static str,
    /// The inputs, each becoming a leaf that requires a gradient.
    pub inputs: Vec<Tensor>,
    /// The function checked.
    pub f: CaseFn,
}

impl OpCase {
    /// The input shapes, as `[2, 3] × [3]`.
    pub fn shapes(&self) -> String {
        let shapes: Vec<String> = self.inputs.iter().map(|t| format!("{:?}", t.shape())).collect();
        shapes.join(" × ")
    }

    /// Runs gradcheck and gradgradcheck on this case (PyTorch's default tolerances).
    pub fn check(&self, seed: u64) -> Result<(GradcheckReport, GradcheckReport)> {
        let f = self.f.clone();
        let opts = GradcheckOptions::default();
        let first = gradcheck(self.op, |v: &[Var]| f(v), &self.inputs, opts)?;
        let second = gradgradcheck(self.op, |v: &[Var]| f(v), &self.inputs, opts, seed)?;
        Ok((first, second))
    }
}

/// Random inputs of the kinds the ops need.
struct Gen(Rng);

impl Gen {
    /// Rank `lo..=hi`, each size 1–4.
    fn shape(&mut self, lo: usize, hi: usize) -> Vec<usize> {
        let rank = lo + self.0.below((hi - lo + 1) as u64) as usize;
        (0..rank).map(|_| 1 + self.0.below(4) as usize).collect()
    }

    fn uniform(&mut self, shape: &[usize]) -> Tensor {
        self.0.uniform_tensor(shape, -2.0, 2.0, DType::F64).expect("valid shape")
    }

    fn positive(&mut self, shape: &[usize]) -> Tensor {
        self.0.uniform_tensor(shape, 0.5, 2.0, DType::F64).expect("valid shape")
    }

    /// `±[0.2, 2)`: at least 0.2 from zero.
    fn away_from_zero(&mut self, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        let v: Vec<f64> =
            (0..n).map(|_| (0.2 + 1.8 * self.0.uniform()) * if self.0.uniform() < 0.5 { -1.0 } else { 1.0 }).collect();
        Tensor::from_vec(v, shape).expect("valid shape")
    }

    /// A shape that broadcasts against `s`: some sizes set to 1, maybe leading dims dropped.
    fn broadcast_of(&mut self, s: &[usize]) -> Vec<usize> {
        let b: Vec<usize> = s.iter().map(|&d| if self.0.uniform() < 0.5 { 1 } else { d }).collect();
        let drop = self.0.below(s.len() as u64) as usize;
        b[drop..].to_vec()
    }
}

/// The input stored with its dims reversed (so that the op reads it through strides), and the
/// function that views it back in its own shape first.
fn non_contiguous(t: &Tensor, f: CaseFn) -> (Tensor, CaseFn) {
    let rank = t.rank();
    let perm: Vec<usize> = (0..rank).rev().collect();
    let stored = t.permute(&perm).and_then(|p| p.contiguous()).expect("valid permutation");
    let g: CaseFn = Rc::new(move |v: &[Var]| f(&[v[0].permute(&perm)?]));
    (stored, g)
}

type Unary = fn(&Var) -> Result<Var>;
type Binary = fn(&Var, &Var) -> Result<Var>;

/// The inputs an op needs.
#[derive(Clone, Copy)]
enum Domain {
    Any,
    Positive,
    AwayFromZero,
}

impl Gen {
    fn domain(&mut self, d: Domain, shape: &[usize]) -> Tensor {
        match d {
            Domain::Any => self.uniform(shape),
            Domain::Positive => self.positive(shape),
            Domain::AwayFromZero => self.away_from_zero(shape),
        }
    }
}

fn case(op: &'static str, composite: bool, variant: &'static str, inputs: Vec<Tensor>, f: CaseFn) -> OpCase {
    OpCase { op, composite, variant, inputs, f }
}

/// Two cases of a unary op: contiguous, and a non-contiguous view of rank ≥ 2.
fn unary(g: &mut Gen, op: &'static str, composite: bool, d: Domain, f: Unary) -> Vec<OpCase> {
    let f: CaseFn = Rc::new(move |v: &[Var]| f(&v[0]));
    let s = g.shape(1, 3);
    let contiguous = case(op, composite, "contiguous", vec![g.domain(d, &s)], f.clone());
    let s = g.shape(2, 3);
    let (t, h) = non_contiguous(&g.domain(d, &s), f);
    vec![contiguous, case(op, composite, "non-contiguous", vec![t], h)]
}

/// Three cases of a binary op: equal shapes, `b` broadcast, and `a` broadcast.
fn binary(g: &mut Gen, op: &'static str, da: Domain, db: Domain, f: Binary) -> Vec<OpCase> {
    let f: CaseFn = Rc::new(move |v: &[Var]| f(&v[0], &v[1]));
    let s = g.shape(1, 3);
    let same = vec![g.domain(da, &s), g.domain(db, &s)];
    let s2 = g.shape(1, 3);
    let b = g.broadcast_of(&s2);
    let broadcast_b = vec![g.domain(da, &s2), g.domain(db, &b)];
    let s3 = g.shape(1, 3);
    let a = g.broadcast_of(&s3);
    let broadcast_a = vec![g.domain(da, &a), g.domain(db, &s3)];
    vec![
        case(op, false, "same shape", same, f.clone()),
        case(op, false, "broadcast b", broadcast_b, f.clone()),
        case(op, false, "broadcast a", broadcast_a, f),
    ]
}

/// Every op with its cases, inputs drawn from `seed`.
pub fn catalog(seed: u64) -> Vec<OpCase> {
    use Domain::{Any, AwayFromZero, Positive};
    let mut g = Gen(Rng::new(seed));
    let mut cases = Vec::new();
    let g = &mut g;

    // Elementwise, binary.
    cases.extend(binary(g, "add", Any, Any, |a, b| a.add(b)));
    cases.extend(binary(g, "sub", Any, Any, |a, b| a.sub(b)));
    cases.extend(binary(g, "mul", Any, Any, |a, b| a.mul(b)));
    cases.extend(binary(g, "div", Any, AwayFromZero, |a, b| a.div(b)));
    cases.extend(binary(g, "pow", Positive, Any, |a, b| a.pow(b)));
    // Independent uniform inputs tie (where max and min are not differentiable) with
    // probability 0, and come within the finite-difference step 1e-6 with probability ~1e-6.
    cases.extend(binary(g, "maximum", Any, Any, |a, b| a.maximum(b)));
    cases.extend(binary(g, "minimum", Any, Any, |a, b| a.minimum(b)));
    // Elementwise, unary.
    let unaries: [(&'static str, Domain, Unary); 16] = [
        ("neg", Any, |x| x.neg()),
        ("exp", Any, |x| x.exp()),
        ("log", Positive, |x| x.log()),
        ("sqrt", Positive, |x| x.sqrt()),
        ("abs", AwayFromZero, |x| x.abs()),
        ("tanh", Any, |x| x.tanh()),
        ("sigmoid", Any, |x| x.sigmoid()),
        ("relu", AwayFromZero, |x| x.relu()),
        ("leaky_relu", AwayFromZero, |x| x.leaky_relu(0.1)),
        ("gelu", Any, |x| x.gelu()),
        ("softplus", Any, |x| x.softplus()),
        ("erf", Any, |x| x.erf()),
        ("powf", Positive, |x| x.powf(2.5)),
        ("add_scalar", Any, |x| x.add_scalar(1.5)),
        ("mul_scalar", Any, |x| x.mul_scalar(-0.7)),
        ("recip", AwayFromZero, |x| x.recip()),
    ];
    for (op, d, f) in unaries {
        cases.extend(unary(g, op, false, d, f));
    }
    // clamp at ±1 with inputs kept 0.2 away from the bounds.
    cases.extend(unary(g, "clamp", false, AwayFromZero, |x| x.add_scalar(1.0)?.clamp(-1.0, 1.0)));
    let s = g.shape(1, 3);
    let u = g.uniform(&s);
    let cond = u.gt(&u.zeros_like()).expect("same shape and dtype");
    let f: CaseFn = Rc::new(move |v: &[Var]| Var::where_cond(&cond, &v[0], &v[1]));
    cases.push(case("where", false, "same shape", vec![g.uniform(&s), g.uniform(&s)], f));
    // ReLU's backward pass, a function of the gradient (the ReLU's input a fixed tensor of both
    // signs).
    let s = g.shape(1, 3);
    let x = g.uniform(&s);
    let f: CaseFn = Rc::new(move |v: &[Var]| v[0].relu_grad(&x));
    cases.push(case("relu_grad", false, "contiguous", vec![g.uniform(&s)], f));

    // Reductions and softmax.
    cases.extend(unary(g, "sum", false, Any, |x| x.sum([0], false)));
    cases.extend(unary(g, "max", false, Any, |x| x.max([0], true)));
    cases.extend(unary(g, "min", false, Any, |x| x.min([-1], false)));
    cases.extend(unary(g, "softmax", false, Any, |x| x.softmax(-1)));
    cases.extend(unary(g, "log_softmax", false, Any, |x| x.log_softmax(0)));
    cases.extend(unary(g, "mean", true, Any, |x| x.mean([0], true)));
    cases.extend(unary(g, "logsumexp", true, Any, |x| x.logsumexp([-1], false)));
    cases.extend(unary(g, "var", true, Any, |x| x.var([-1], 0, false)));

    // Views and shapes.
    cases.extend(unary(g, "reshape", false, Any, |x| x.reshape(&[x.shape().iter().product()])?.exp()));
    cases.extend(unary(g, "permute", false, Any, |x| {
        let r = x.shape().len();
        x.permute(&(0..r).rev().collect::<Vec<_>>())?.exp()
    }));
    cases.extend(unary(g, "narrow", false, Any, |x| x.narrow(0, 0, x.shape()[0].div_ceil(2))?.exp()));
    cases.extend(unary(g, "pad", false, Any, |x| x.pad(-1, 2, 1)?.exp()));
    cases.extend(unary(g, "squeeze", false, Any, |x| x.unsqueeze(0)?.exp()?.squeeze(0)));
    cases.extend(unary(g, "unsqueeze", false, Any, |x| x.unsqueeze(-1)?.exp()));
    cases.extend(unary(g, "expand", false, Any, |x| {
        let mut s = vec![3];
        s.extend(x.shape());
        x.expand(&s)?.exp()
    }));
    cases.extend(unary(g, "contiguous", false, Any, |x| x.t().or_else(|_| Ok(x.clone()))?.contiguous()?.exp()));
    let s = g.shape(1, 3);
    let t = g.shape(1, 1);
    let mut s2 = s.clone();
    s2[0] = t[0];
    let f: CaseFn = Rc::new(|v: &[Var]| Var::cat(&[&v[0], &v[1]], 0));
    cases.push(case("cat", false, "dim 0", vec![g.uniform(&s), g.uniform(&s2)], f));

    // Indexing (repeated indices add up).
    let s = g.shape(1, 3);
    let picks = 1 + g.0.below(5) as usize;
    let idx = g.0.randint(&[picks], s[0] as u64).expect("valid shape");
    let i1 = idx.clone();
    let f: CaseFn = Rc::new(move |v: &[Var]| v[0].index_select(0, &i1));
    cases.push(case("index_select", false, "dim 0, repeats", vec![g.uniform(&s)], f));
    let mut src = s.clone();
    src[0] = picks;
    let f: CaseFn = Rc::new(move |v: &[Var]| v[0].index_add(0, &idx, &v[1]));
    cases.push(case("index_add", false, "dim 0, repeats", vec![g.uniform(&s), g.uniform(&src)], f));
    let s = g.shape(1, 3);
    let last = s.len() - 1;
    let gidx = g.0.randint(&s, s[last] as u64).expect("valid shape");
    let g1 = gidx.clone();
    let f: CaseFn = Rc::new(move |v: &[Var]| v[0].gather(last, &g1));
    cases.push(case("gather", false, "last dim", vec![g.uniform(&s)], f));
    let f: CaseFn = Rc::new(move |v: &[Var]| v[0].scatter_add(last, &gidx, &v[1]));
    cases.push(case("scatter_add", false, "last dim", vec![g.uniform(&s), g.uniform(&s)], f));

    // Matrix products: plain, transposed operand, broadcast batch.
    let (m, k, n) = (g.shape(3, 3), g.shape(3, 3), g.shape(1, 1));
    let (m, k, n) = (m[0], k[1], n[0]);
    let f: CaseFn = Rc::new(|v: &[Var]| v[0].matmul(&v[1]));
    cases.push(case("matmul", false, "matrix", vec![g.uniform(&[m, k]), g.uniform(&[k, n])], f.clone()));
    let ft: CaseFn = Rc::new(|v: &[Var]| v[0].matmul(&v[1].t()?));
    cases.push(case("matmul", false, "transposed b", vec![g.uniform(&[m, k]), g.uniform(&[n, k])], ft.clone()));
    cases.push(case("matmul", false, "broadcast batch", vec![g.uniform(&[2, m, k]), g.uniform(&[k, n])], f.clone()));
    // A weight shared by a batch, as a convolution's: its gradient is summed over the images.
    let shared = vec![g.uniform(&[1, m, k]), g.uniform(&[3, 2, k, n])];
    cases.push(case("matmul", false, "broadcast a over 3×2", shared, f));
    let xwt = vec![g.uniform(&[2, m, k]), g.uniform(&[n, k])];
    cases.push(case("matmul", false, "broadcast transposed b", xwt, ft));
    // A linear layer, x · Wᵀ + b, and the same over a batch of matrices.
    let f: CaseFn = Rc::new(|v: &[Var]| v[0].matmul_bias(&v[1].t()?, &v[2]));
    let linear = vec![g.uniform(&[m, k]), g.uniform(&[n, k]), g.uniform(&[n])];
    cases.push(case("matmul_bias", false, "linear (transposed b)", linear, f));
    let f: CaseFn = Rc::new(|v: &[Var]| v[0].matmul_bias(&v[1], &v[2]));
    let batched = vec![g.uniform(&[2, m, k]), g.uniform(&[k, n + 1]), g.uniform(&[n + 1])];
    cases.push(case("matmul_bias", false, "broadcast batch", batched, f));

    // Convolution family: stride 2, padding 1, groups 2.
    let win = Window { stride: [2, 1], padding: [1, 1], dilation: [1, 1] };
    let (x, w) = ([2, 4, 5, 4], [4, 2, 3, 2]);
    let conv: CaseFn = Rc::new(move |v: &[Var]| v[0].conv2d_fused(&v[1], None, win, 2));
    cases.push(case("conv2d", false, "stride 2, pad 1, groups 2", vec![g.uniform(&x), g.uniform(&w)], conv));
    let unfolded: CaseFn = Rc::new(move |v: &[Var]| v[0].conv2d_unfolded(&v[1], Some(&v[2]), win, 2));
    let inputs = vec![g.uniform(&x), g.uniform(&w), g.uniform(&[4])];
    cases.push(case("conv2d_unfolded", true, "stride 2, pad 1, groups 2, bias", inputs, unfolded));
    let gy = [2, 4, 3, 5]; // conv2d's output shape for x and w above
    let input_grad: CaseFn = Rc::new(move |v: &[Var]| v[0].conv2d_input_grad(&v[1], [5, 4], win, 2));
    cases.push(case("conv2d_input_grad", false, "of the conv2d case", vec![g.uniform(&gy), g.uniform(&w)], input_grad));
    let weight_grad: CaseFn = Rc::new(move |v: &[Var]| v[0].conv2d_weight_grad(&v[1], [3, 2], win, 2));
    cases.push(case(
        "conv2d_weight_grad",
        false,
        "of the conv2d case",
        vec![g.uniform(&x), g.uniform(&gy)],
        weight_grad,
    ));
    let transpose: CaseFn = Rc::new(move |v: &[Var]| v[0].conv_transpose2d(&v[1], None, win, [1, 0], 1));
    let inputs = vec![g.uniform(&[1, 2, 3, 3]), g.uniform(&[2, 3, 3, 2])];
    cases.push(case("conv_transpose2d", true, "stride 2, output_padding 1", inputs, transpose));
    let im2col: CaseFn = Rc::new(move |v: &[Var]| v[0].im2col([3, 2], win, 0.0));
    cases.push(case("im2col", false, "stride 2, pad 1", vec![g.uniform(&x)], im2col));
    let col2im: CaseFn = Rc::new(move |v: &[Var]| v[0].col2im([5, 4], [3, 2], win));
    cases.push(case("col2im", false, "stride 2, pad 1", vec![g.uniform(&[2, 24, 15])], col2im));
    let pool = Window { stride: [1, 1], padding: [1, 0], dilation: [1, 1] };
    let max_pool: CaseFn = Rc::new(move |v: &[Var]| v[0].max_pool2d([2, 2], pool));
    cases.push(case("max_pool2d", true, "overlapping, pad 1", vec![g.uniform(&[1, 2, 4, 3])], max_pool));
    let avg_pool: CaseFn = Rc::new(move |v: &[Var]| v[0].avg_pool2d([2, 2], pool));
    cases.push(case("avg_pool2d", true, "overlapping, pad 1", vec![g.uniform(&[1, 2, 4, 3])], avg_pool));
    // Layer norm: the fused op over one and two trailing dims and on a non-contiguous view;
    // and its composed form, with and without the affine map.
    let norm: CaseFn = Rc::new(|v: &[Var]| v[0].layer_norm(&[4], Some(&v[1]), Some(&v[2]), 1e-5));
    let inputs = vec![g.uniform(&[3, 4]), g.uniform(&[4]), g.uniform(&[4])];
    cases.push(case("layer_norm", false, "affine, [3, 4]", inputs.clone(), norm));
    let norm2: CaseFn = Rc::new(|v: &[Var]| v[0].layer_norm(&[2, 3], Some(&v[1]), Some(&v[2]), 1e-5));
    let inputs2 = vec![g.uniform(&[2, 2, 3]), g.uniform(&[2, 3]), g.uniform(&[2, 3])];
    cases.push(case("layer_norm", false, "affine, two normalised dims", inputs2, norm2));
    let norm_t: CaseFn = Rc::new(|v: &[Var]| v[0].transpose(0, 1)?.layer_norm(&[4], Some(&v[1]), Some(&v[2]), 1e-5));
    let transposed = vec![g.uniform(&[4, 3]), g.uniform(&[4]), g.uniform(&[4])];
    cases.push(case("layer_norm", false, "non-contiguous", transposed, norm_t));
    let composed: CaseFn = Rc::new(|v: &[Var]| v[0].layer_norm_composed(&[4], Some(&v[1]), Some(&v[2]), 1e-5));
    cases.push(case("layer_norm_composed", true, "affine", inputs.clone(), composed));
    let plain: CaseFn = Rc::new(|v: &[Var]| v[0].layer_norm(&[4], None, None, 1e-5));
    cases.push(case("layer_norm_composed", true, "no affine", vec![inputs[0].clone()], plain));
    // Batch norm: the fused op on images, on features, and on a non-contiguous view (the input
    // stored as [C, N, H, W]); and its composed form.
    let bn: CaseFn = Rc::new(|v: &[Var]| Ok(v[0].batch_norm_train(&v[1], &v[2], 1e-5)?.0));
    let inputs = vec![g.uniform(&[2, 3, 2, 2]), g.uniform(&[3]), g.uniform(&[3])];
    cases.push(case("batch_norm", false, "[N, C, H, W]", inputs.clone(), bn.clone()));
    cases.push(case("batch_norm", false, "[N, C]", vec![g.uniform(&[5, 3]), g.uniform(&[3]), g.uniform(&[3])], bn));
    let bn_t: CaseFn = Rc::new(|v: &[Var]| Ok(v[0].transpose(0, 1)?.batch_norm_train(&v[1], &v[2], 1e-5)?.0));
    let transposed = vec![g.uniform(&[3, 2, 2, 2]), g.uniform(&[3]), g.uniform(&[3])];
    cases.push(case("batch_norm", false, "non-contiguous", transposed, bn_t));
    let bn_composed: CaseFn = Rc::new(|v: &[Var]| v[0].batch_norm_composed(&v[1], &v[2], 1e-5));
    cases.push(case("batch_norm_composed", true, "[N, C, H, W]", inputs, bn_composed));

    // Attention: the fused op, causal with more keys than queries (as when decoding with a
    // cache), and full attention on heads split from a [B, T, H, d] projection (a strided view);
    // and the composed form with a padding mask that broadcasts.
    let inputs = vec![g.uniform(&[2, 3, 3]), g.uniform(&[2, 4, 3]), g.uniform(&[2, 4, 2])];
    let causal: CaseFn = Rc::new(|v: &[Var]| v[0].scaled_dot_product_attention(&v[1], &v[2], None, true));
    cases.push(case("attention", false, "causal, tq < tk", inputs.clone(), causal));
    let heads: CaseFn = Rc::new(|v: &[Var]| {
        let split = |x: &Var| x.permute(&[0, 2, 1, 3]);
        split(&v[0])?.scaled_dot_product_attention(&split(&v[1])?, &split(&v[2])?, None, false)
    });
    let inputs_heads = vec![g.uniform(&[1, 3, 2, 2]), g.uniform(&[1, 3, 2, 2]), g.uniform(&[1, 3, 2, 3])];
    cases.push(case("attention", false, "heads of [B, T, H, d]", inputs_heads, heads));
    let mask = Tensor::from_vec(vec![0.0f64, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0], &[2, 1, 4]).expect("valid shape");
    let composed: CaseFn =
        Rc::new(move |v: &[Var]| v[0].scaled_dot_product_attention_composed(&v[1], &v[2], Some(&mask), true));
    cases.push(case("attention_composed", true, "causal and padding mask", inputs, composed));

    // Recurrences over 3 steps, both directions: the fused ops, and their unfused forms.
    let (b, s, h) = (2, 3, 2);
    for (reverse, variant) in [(false, "3 steps"), (true, "3 steps, reverse")] {
        let inputs = vec![g.uniform(&[b, s, h]), g.uniform(&[h, h]), g.uniform(&[b, h])];
        let rnn: CaseFn = Rc::new(move |v: &[Var]| v[0].rnn_sequence(&v[1], &v[2], reverse));
        cases.push(case("rnn_sequence", false, variant, inputs.clone(), rnn));
        let rnn: CaseFn = Rc::new(move |v: &[Var]| v[0].rnn_sequence_unfused(&v[1], &v[2], reverse));
        cases.push(case("rnn_sequence_unfused", true, variant, inputs, rnn));
        let inputs = vec![g.uniform(&[b, s, 4 * h]), g.uniform(&[4 * h, h]), g.uniform(&[b, h]), g.uniform(&[b, h])];
        let lstm: CaseFn = Rc::new(move |v: &[Var]| v[0].lstm_sequence(&v[1], &v[2], &v[3], reverse));
        cases.push(case("lstm_sequence", false, variant, inputs.clone(), lstm));
        let lstm: CaseFn = Rc::new(move |v: &[Var]| v[0].lstm_sequence_unfused(&v[1], &v[2], &v[3], reverse));
        cases.push(case("lstm_sequence_unfused", true, variant, inputs, lstm));
        let inputs = vec![g.uniform(&[b, s, 3 * h]), g.uniform(&[3 * h, h]), g.uniform(&[3 * h]), g.uniform(&[b, h])];
        let gru: CaseFn = Rc::new(move |v: &[Var]| v[0].gru_sequence(&v[1], &v[2], &v[3], reverse));
        cases.push(case("gru_sequence", false, variant, inputs.clone(), gru));
        let gru: CaseFn = Rc::new(move |v: &[Var]| v[0].gru_sequence_unfused(&v[1], &v[2], &v[3], reverse));
        cases.push(case("gru_sequence_unfused", true, variant, inputs, gru));
    }
    let ids = g.0.randint(&[2, 3], 4).expect("valid shape");
    // No padding index here: a padding row deliberately gets no gradient although it changes the
    // output, which finite differences would flag (tests/recurrent.rs checks that behaviour).
    let embedding: CaseFn = Rc::new(move |v: &[Var]| v[0].embedding(&ids, None));
    cases.push(case("embedding", true, "ids [2, 3], repeats", vec![g.uniform(&[4, 3])], embedding));
    cases
}

/// The names of the ops that have a backward rule of their own, read from the `name:` of each
/// [`crate::OpInfo`] in the sources of [`crate::ops`] (for the test that the catalog is
/// complete).
pub fn ops_with_rules() -> Vec<&'static str> {
    const SOURCES: [&str; 11] = [
        include_str!("ops/attention.rs"),
        include_str!("ops/conv.rs"),
        include_str!("ops/elementwise.rs"),
        include_str!("ops/index.rs"),
        include_str!("ops/matmul.rs"),
        include_str!("ops/norm.rs"),
        include_str!("ops/pool.rs"),
        include_str!("ops/recurrent.rs"),
        include_str!("ops/reduce.rs"),
        include_str!("ops/softmax.rs"),
        include_str!("ops/view.rs"),
    ];
    let mut names: Vec<&'static str> = SOURCES
        .iter()
        .flat_map(|src| src.split("OpInfo {").skip(1))
        .filter_map(|rest| rest.trim_start().strip_prefix("name: \"")?.split('"').next())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}
