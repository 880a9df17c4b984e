//! Helpers shared by the kernel property tests: a seeded value generator, error bounds,
//! strided-view strategies and a naive strided-offset walk used by the references.
//!
//! Each test file is its own crate and uses only some of these helpers, so unused ones are
//! expected in any one of them.
#![allow(dead_code)]

use ferrograd_kernels::Float;
use proptest::prelude::*;

/// SplitMix64: a tiny, well-mixed generator. Proptest draws the seed (and the shapes); the
/// generator then fills buffers of any size cheaply, which proptest's per-element value trees
/// would not do for the 30k+ element buffers that reach the parallel paths. A failing case is
/// reported with its seed, so it reproduces exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Magnitude uniform in `[lo, hi)` with a random sign: values kept away from zero (divisors,
    /// reciprocals).
    pub fn signed(&mut self, lo: f64, hi: f64) -> f64 {
        let v = self.uniform(lo, hi);
        if self.next_u64() & 1 == 0 {
            v
        } else {
            -v
        }
    }

    /// One of `choices`, uniformly.
    pub fn pick(&mut self, choices: &[f64]) -> f64 {
        choices[self.below(choices.len())]
    }
}

/// `n` values uniform in `[lo, hi)`, rounded to `T`. References read the buffer back through
/// `to_f64`, so they see exactly the values the kernel sees.
pub fn uniform<T: Float>(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<T> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| T::from_f64(rng.uniform(lo, hi))).collect()
}

/// `n` values drawn from a handful of small, exactly representable non-zero numbers, so that
/// ties and equalities are frequent (comparisons, max/min, argmax).
pub fn quantized<T: Float>(seed: u64, n: usize) -> Vec<T> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| T::from_f64(rng.pick(&[-2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0]))).collect()
}

pub fn to_f64<T: Float>(xs: &[T]) -> Vec<f64> {
    xs.iter().map(|x| x.to_f64()).collect()
}

/// The unit roundoff `u` of `T`: the largest relative error of one correctly rounded operation
/// (2^-24 for f32, 2^-53 for f64).
pub fn unit_roundoff<T: Float>() -> f64 {
    if T::NAME == "f32" {
        f32::EPSILON as f64 / 2.0
    } else {
        f64::EPSILON / 2.0
    }
}

/// The f64 unit roundoff: the references compute in f64 and carry their own rounding error.
pub const U64: f64 = f64::EPSILON / 2.0;

/// Higham's `γ_n = n·u / (1 − n·u)`: the relative error bound of `n` chained roundings.
pub fn gamma(n: usize, u: f64) -> f64 {
    let nu = n as f64 * u;
    assert!(nu < 0.5, "gamma: n·u too large for a meaningful bound");
    nu / (1.0 - nu)
}

/// Whether `got` matches `want` within `tol`: NaN must give NaN, an infinity the same infinity.
pub fn close(got: f64, want: f64, tol: f64) -> bool {
    if want.is_nan() {
        got.is_nan()
    } else if want.is_infinite() {
        got == want
    } else {
        (got - want).abs() <= tol
    }
}

/// Bit-for-bit equality, where NaN matches NaN: for kernels that must be exact.
pub fn same(got: f64, want: f64) -> bool {
    (got.is_nan() && want.is_nan()) || got == want
}

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The buffer offset of every element of a strided view, in row-major order of `shape`: the
/// definition of a strided view, computed the slow way (one multi-index at a time).
pub fn row_major_offsets(shape: &[usize], strides: &[usize], offset: usize) -> Vec<usize> {
    let n = numel(shape);
    (0..n)
        .map(|flat| {
            let mut rem = flat;
            let mut off = offset;
            for (&d, &s) in shape.iter().zip(strides).rev() {
                off += (rem % d) * s;
                rem /= d;
            }
            off
        })
        .collect()
}

/// How one operand lays out its elements in its buffer: `element[i] = data[offset + Σ i_d·s_d]`.
#[derive(Clone, Debug)]
pub struct View {
    pub offset: usize,
    pub strides: Vec<usize>,
    /// A buffer length large enough for the view (with a little slack after it).
    pub len: usize,
}

/// Builds a view from a memory order of the dimensions (`order[0]` is the fastest-varying), a
/// step per dimension (2 skips every other element), padding after each dimension's span, and
/// a mask of broadcast (stride-0) dimensions. Without broadcasting, distinct multi-indices get
/// distinct offsets: each dimension's stride exceeds the span of all faster ones.
fn build_view(
    shape: &[usize],
    order: &[usize],
    steps: &[usize],
    pads: &[usize],
    bcast: &[bool],
    offset: usize,
    tail: usize,
) -> View {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1;
    for &d in order {
        if bcast[d] {
            continue;
        }
        strides[d] = acc * steps[d];
        acc = strides[d] * shape[d] + pads[d];
    }
    let extent = if shape.contains(&0) {
        0
    } else {
        offset + 1 + shape.iter().zip(&strides).map(|(&d, &s)| (d - 1) * s).sum::<usize>()
    };
    View { offset, strides, len: extent + tail }
}

/// Views of `shape`, weighted towards the layouts the kernels special-case: dense row-major,
/// dense with broadcast dimensions (a bias add), and general (permuted, stepped, padded, offset).
/// `broadcast: false` gives only views whose elements never share an offset (a destination).
pub fn view(shape: Vec<usize>, broadcast: bool) -> BoxedStrategy<View> {
    let rank = shape.len();
    let p_bcast = if broadcast { 0.3 } else { 0.0 };
    let identity: Vec<usize> = (0..rank).rev().collect();
    let dense = {
        let (shape, identity) = (shape.clone(), identity.clone());
        (0..4usize, 0..3usize).prop_map(move |(offset, tail)| {
            build_view(&shape, &identity, &vec![1; rank], &vec![0; rank], &vec![false; rank], offset, tail)
        })
    };
    let dense_bcast = {
        let (shape, identity) = (shape.clone(), identity.clone());
        (prop::collection::vec(prop::bool::weighted(p_bcast), rank), 0..4usize).prop_map(move |(bcast, offset)| {
            build_view(&shape, &identity, &vec![1; rank], &vec![0; rank], &bcast, offset, 0)
        })
    };
    let general = (
        Just(identity).prop_shuffle(),
        prop::collection::vec(1..=2usize, rank),
        prop::collection::vec(0..3usize, rank),
        prop::collection::vec(prop::bool::weighted(p_bcast), rank),
        0..6usize,
        0..3usize,
    )
        .prop_map(move |(order, steps, pads, bcast, offset, tail)| {
            build_view(&shape, &order, &steps, &pads, &bcast, offset, tail)
        });
    prop_oneof![2 => dense, 2 => dense_bcast, 3 => general].boxed()
}

/// Shapes of rank 1 to 4 with small dimensions, size-1 dimensions included (they are dropped by
/// `coalesce`, a case worth covering).
pub fn small_shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..6usize, 1..=4)
}

/// Shapes of 40k to 100k elements: above `PAR_MIN_ELEMS` (32768), so the kernels split rows
/// over threads.
pub fn big_shape() -> impl Strategy<Value = Vec<usize>> {
    (4..8usize, 100..130usize, 100..110usize).prop_map(|(a, b, c)| vec![a, b, c])
}

/// A random sliding window over `[N, C, H, W]` images (im2col, pooling): up to `max_images`
/// images of up to 3 channels and sides up to `max_side`, kernels up to 4×4, strides up to 3,
/// padding up to 2, dilation up to 2, each per axis; only windows that fit.
pub fn window_geometry(max_images: usize, max_side: usize) -> impl Strategy<Value = ferrograd_kernels::conv::Window2d> {
    (
        1usize..=max_images,
        1usize..=3,
        1usize..=max_side,
        1usize..=max_side,
        [1usize..=4, 1usize..=4],
        [1usize..=3, 1usize..=3],
        [0usize..=2, 0usize..=2],
        [1usize..=2, 1usize..=2],
    )
        .prop_map(|(n, c, h, w, kernel, stride, padding, dilation)| ferrograd_kernels::conv::Window2d {
            n,
            c,
            h,
            w,
            kernel,
            stride,
            padding,
            dilation,
        })
        .prop_filter("window must fit", |g| g.output_size().is_some())
}
