//! Property tests for `matmul`: every batch entry of the output must equal the naive triple loop
//! over the strided operands, for transposed, stepped, padded and offset layouts, for batches
//! whose entries share or overlap storage (broadcast batch dimensions), and for sizes that cross
//! the parallel thresholds under several thread counts.

mod common;

use common::{gamma, unit_roundoff, Rng, U64};
use ferrograd_kernels::matmul::{matmul, matmul_bias, matmul_sum, MatrixLayout};
use ferrograd_kernels::Float;
use proptest::prelude::*;

/// How one operand (`rows × cols` per batch entry) is stored.
#[derive(Clone, Debug)]
struct Operand {
    /// Stored column-major (a transposed view): the column stride is the large one.
    transposed: bool,
    /// Distance between neighbours along the fast axis (2 reads every other element).
    step: usize,
    /// Padding added to the slow stride.
    pad: usize,
    /// Each batch entry's offset; repeats and overlaps are allowed (a broadcast batch dimension
    /// gives every entry the same offset).
    offsets: Vec<usize>,
}

impl Operand {
    fn layout(&self, rows: usize, cols: usize) -> MatrixLayout {
        let (row_stride, col_stride) = if self.transposed {
            (self.step, rows * self.step + self.pad)
        } else {
            (cols * self.step + self.pad, self.step)
        };
        MatrixLayout { offsets: self.offsets.clone(), row_stride, col_stride }
    }

    /// The buffer length this operand needs, plus a little slack.
    fn buffer_len(&self, rows: usize, cols: usize) -> usize {
        let l = self.layout(rows, cols);
        let last = rows.saturating_sub(1) * l.row_stride + cols.saturating_sub(1) * l.col_stride;
        self.offsets.iter().max().unwrap_or(&0) + last + 3
    }
}

fn operand(batch: usize) -> impl Strategy<Value = Operand> {
    (any::<bool>(), 1..=2usize, 0..4usize, prop::collection::vec(0..40usize, batch))
        .prop_map(|(transposed, step, pad, offsets)| Operand { transposed, step, pad, offsets })
}

/// The naive product and, per output element, `Σ_p |a_ip|·|b_pj|`, the scale of its error.
fn reference(
    m: usize,
    k: usize,
    n: usize,
    a: &[f64],
    al: &MatrixLayout,
    b: &[f64],
    bl: &MatrixLayout,
) -> [Vec<f64>; 2] {
    let batch = al.offsets.len();
    let mut out = vec![0.0; batch * m * n];
    let mut scale = vec![0.0; batch * m * n];
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let (mut s, mut abs) = (0.0, 0.0);
                for p in 0..k {
                    let x = a[al.offsets[bi] + i * al.row_stride + p * al.col_stride];
                    let y = b[bl.offsets[bi] + p * bl.row_stride + j * bl.col_stride];
                    s += x * y;
                    abs += (x * y).abs();
                }
                out[(bi * m + i) * n + j] = s;
                scale[(bi * m + i) * n + j] = abs;
            }
        }
    }
    [out, scale]
}

/// The two operands' layouts and fresh random buffers for them, uniform in [−3, 3).
fn random_operands<T: Float>(
    (m, k, n): (usize, usize, usize),
    ao: &Operand,
    bo: &Operand,
    seed: u64,
) -> (MatrixLayout, MatrixLayout, Vec<T>, Vec<T>) {
    let mut rng = Rng::new(seed);
    let a = (0..ao.buffer_len(m, k)).map(|_| T::from_f64(rng.uniform(-3.0, 3.0))).collect();
    let b = (0..bo.buffer_len(k, n)).map(|_| T::from_f64(rng.uniform(-3.0, 3.0))).collect();
    (ao.layout(m, k), bo.layout(k, n), a, b)
}

/// Runs `matmul` in `T` on fresh random operands (under a rayon pool of `threads` threads when
/// given) and checks every output element against the f64 reference. With `bias`, runs
/// `matmul_bias` with a fresh random bias row instead.
fn check<T: Float>(
    (m, k, n): (usize, usize, usize),
    ao: &Operand,
    bo: &Operand,
    seed: u64,
    threads: Option<usize>,
    bias: bool,
) -> Result<(), TestCaseError> {
    let batch = ao.offsets.len();
    let (al, bl, a, b) = random_operands::<T>((m, k, n), ao, bo, seed);
    let mut rng = Rng::new(seed ^ 0xB1A5);
    let bias: Option<Vec<T>> = bias.then(|| (0..n).map(|_| T::from_f64(rng.uniform(-3.0, 3.0))).collect());
    // NaN everywhere first: an element the kernel forgets to write cannot pass.
    let mut out = vec![T::from_f64(f64::NAN); batch * m * n];
    let run = |out: &mut [T]| match &bias {
        Some(bias) => matmul_bias(m, k, n, &a, &al, &b, &bl, Some(bias), out),
        None => matmul(m, k, n, &a, &al, &b, &bl, out),
    };
    match threads {
        Some(t) => {
            rayon::ThreadPoolBuilder::new().num_threads(t).build().expect("thread pool").install(|| run(&mut out))
        }
        None => run(&mut out),
    }
    let [mut want, mut scale] = reference(m, k, n, &common::to_f64(&a), &al, &common::to_f64(&b), &bl);
    if let Some(bias) = &bias {
        for (i, (w, s)) in want.iter_mut().zip(&mut scale).enumerate() {
            let v = bias[i % n].to_f64();
            *w += v;
            *s += v.abs();
        }
    }
    // A dot product of length k, summed in any order, with or without FMA, is within
    // γ_k·Σ|a_ip·b_pj| of the exact value (Higham, Accuracy and Stability, §3.1); one more
    // rounding covers the kernel's `alpha · ab` write-back, and with a bias the scale includes
    // |bias_j| and the bound one more term for its addition. The f64 reference has the same
    // kind of error at f64 precision.
    let terms = k + 1 + usize::from(bias.is_some());
    let rel = gamma(terms, unit_roundoff::<T>()) + gamma(terms, U64);
    for (i, (&got, (&w, &s))) in out.iter().zip(want.iter().zip(&scale)).enumerate() {
        let got = got.to_f64();
        prop_assert!(
            (got - w).abs() <= rel * s,
            "{}: out[{i}] (batch {}, row {}, col {}) = {got}, want {w} (tol {})",
            T::NAME,
            i / (m * n),
            i / n % m,
            i % n,
            rel * s
        );
    }
    Ok(())
}

/// Small products (all on the calling thread): every combination of layouts, sizes from 1.
fn small_case() -> impl Strategy<Value = ((usize, usize, usize), Operand, Operand, u64)> {
    // Each size is 1 (a row or column vector, or an outer product) a fifth of the time.
    let size = || prop_oneof![1 => Just(1usize), 4 => 1..24usize];
    (size(), size(), size(), 1..=4usize)
        .prop_flat_map(|(m, k, n, batch)| (Just((m, k, n)), operand(batch), operand(batch), any::<u64>()))
}

/// Products of more than 2^18 multiply-adds (the kernel's parallel threshold) with sizes that are
/// not multiples of the 8-row blocks: row splits (m ≥ n, e.g. 257 rows), column splits (n > m),
/// and batches both smaller and larger than the thread count.
fn large_case() -> impl Strategy<Value = ((usize, usize, usize), Operand, Operand, u64, usize)> {
    let sizes = prop_oneof![
        Just((70usize, 90usize, 130usize)),
        Just((257, 33, 65)),
        Just((9, 120, 300)),
        Just((130, 90, 70)),
        (1..300usize, 60..130usize, 1..300usize),
    ];
    (sizes, 1..=3usize)
        .prop_flat_map(|(mkn, batch)| (Just(mkn), operand(batch), operand(batch), any::<u64>(), 1..=4usize))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matmul_matches_naive_product((mkn, a, b, seed) in small_case(), bias: bool) {
        check::<f32>(mkn, &a, &b, seed, None, bias)?;
        check::<f64>(mkn, &a, &b, seed, None, bias)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The parallel splits under 1 to 4 threads: a block edge that drops or double-writes a row
    /// or column shows up as a wrong (or NaN) element.
    #[test]
    fn matmul_large_matches_naive_product_under_any_thread_count((mkn, a, b, seed, threads) in large_case(), bias: bool) {
        check::<f32>(mkn, &a, &b, seed, Some(threads), bias)?;
        check::<f64>(mkn, &a, &b, seed, Some(threads), bias)?;
    }
}

/// `matmul_sum` over `entries × reps` batch entries (summed into `entries` outputs) against the
/// reference products added up in f64. Each output is a sum of `reps·k` products, so its error
/// is within `γ_{reps·k + reps}·Σ|a·b|` (Higham's bound for one long dot product, plus one
/// rounding per accumulation).
fn check_sum<T: Float>(
    (m, k, n): (usize, usize, usize),
    entries: usize,
    ao: &Operand,
    bo: &Operand,
    seed: u64,
    threads: usize,
) -> Result<(), TestCaseError> {
    let batch = ao.offsets.len();
    let (al, bl, a, b) = random_operands::<T>((m, k, n), ao, bo, seed);
    let mut out = vec![T::from_f64(f64::NAN); entries * m * n];
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
        .install(|| matmul_sum(m, k, n, &a, &al, &b, &bl, &mut out));
    let [each, each_scale] = reference(m, k, n, &common::to_f64(&a), &al, &common::to_f64(&b), &bl);
    let (mut want, mut scale) = (vec![0.0; entries * m * n], vec![0.0; entries * m * n]);
    for bi in 0..batch {
        for e in 0..m * n {
            want[(bi % entries) * m * n + e] += each[bi * m * n + e];
            scale[(bi % entries) * m * n + e] += each_scale[bi * m * n + e];
        }
    }
    let reps = batch / entries;
    let rel = gamma(reps * (k + 1), unit_roundoff::<T>()) + gamma(reps * (k + 1), U64);
    for (i, (&got, (&w, &s))) in out.iter().zip(want.iter().zip(&scale)).enumerate() {
        let got = got.to_f64();
        prop_assert!((got - w).abs() <= rel * s, "{}: out[{i}] = {got}, want {w} (tol {})", T::NAME, rel * s);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Summed products, small (one thread) and large enough to split over threads, with 1 to
    /// 3 outputs each summing 1 to 12 entries.
    #[test]
    fn matmul_sum_matches_the_summed_naive_products(
        (mkn, entries, a, b, seed, threads) in (
            prop_oneof![(1..20usize, 1..20usize, 1..20usize), (30..80usize, 60..130usize, 30..80usize)],
            1..=3usize,
            1..=12usize,
        ).prop_flat_map(|(mkn, entries, reps)| {
            (Just(mkn), Just(entries), operand(entries * reps), operand(entries * reps), any::<u64>(), 1..=3usize)
        })
    ) {
        check_sum::<f32>(mkn, entries, &a, &b, seed, threads)?;
        check_sum::<f64>(mkn, entries, &a, &b, seed, threads)?;
    }
}

/// With `k == 0` the product is a sum of nothing: the output must be overwritten with zeros.
#[test]
fn matmul_with_empty_inner_dimension_writes_zeros() {
    let layout = MatrixLayout { offsets: vec![0, 0], row_stride: 1, col_stride: 1 };
    let mut out = vec![f32::NAN; 2 * 3 * 4];
    matmul(3, 0, 4, &[], &layout, &[], &layout, &mut out);
    assert!(out.iter().all(|&v| v == 0.0), "{out:?}");
}

/// Degenerate outputs (`m == 0`, or no batch entries) are a no-op, not a panic.
#[test]
fn matmul_with_empty_output_is_a_no_op() {
    let a = [1.0f64, 2.0, 3.0];
    let l = MatrixLayout { offsets: vec![0], row_stride: 3, col_stride: 1 };
    let mut out: Vec<f64> = vec![];
    matmul(0, 3, 5, &a, &l, &a, &MatrixLayout { offsets: vec![0], row_stride: 0, col_stride: 0 }, &mut out);
    let none = MatrixLayout { offsets: vec![], row_stride: 3, col_stride: 1 };
    matmul(2, 3, 2, &a, &none, &a, &none, &mut out);
}

/// A layout that reaches past its buffer is a caller bug and must panic, never read out of
/// bounds.
#[test]
#[should_panic(expected = "A out of bounds")]
fn matmul_rejects_an_operand_outside_its_buffer() {
    let a = vec![1.0f32; 5];
    let b = vec![1.0f32; 6];
    let al = MatrixLayout { offsets: vec![0], row_stride: 3, col_stride: 1 }; // needs 6 elements
    let bl = MatrixLayout { offsets: vec![0], row_stride: 2, col_stride: 1 };
    let mut out = vec![0.0f32; 4];
    matmul(2, 3, 2, &a, &al, &b, &bl, &mut out);
}
