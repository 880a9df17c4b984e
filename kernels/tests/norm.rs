//! The fused batch-norm and layer-norm kernels against plain f64 loops over random layouts (one
//! value per channel and sample up to whole images, several channels, rows of 1 to 300 values,
//! inputs with a large mean), and layouts large enough for the parallel paths.

mod common;

use common::{close, gamma, to_f64, uniform, unit_roundoff, U64};
use ferrograd_kernels::norm::{
    batch_norm_backward, batch_norm_forward, layer_norm_backward, layer_norm_forward, ChannelLayout,
};
use ferrograd_kernels::Float;
use proptest::prelude::*;

const EPS: f64 = 1e-5;

/// Per channel: mean, population variance, `r = 1/√(σ² + ε)` and mean absolute value.
fn reference_stats(x: &[f64], lay: ChannelLayout) -> Vec<[f64; 4]> {
    (0..lay.c)
        .map(|ch| {
            let vals: Vec<f64> = (0..lay.n).flat_map(|n| x[(n * lay.c + ch) * lay.s..][..lay.s].to_vec()).collect();
            let m = vals.len() as f64;
            let mean = vals.iter().sum::<f64>() / m;
            let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / m;
            let abs = vals.iter().map(|v| v.abs()).sum::<f64>() / m;
            [mean, var, 1.0 / (var + EPS).sqrt(), abs]
        })
        .collect()
}

/// Checks both kernels on one layout. Error bounds (first order, `u` the unit roundoff of `T`):
/// the mean is a sum of at most `S` terms in `T` per row (then rows in f64), so it is off by
/// at most `γ_S·A` with `A` the mean of `|x|`; the variance sums squares of centred values
/// (`γ_{S+3}` relative; the mean's error enters only squared) and `r` inherits half of that.
/// Every output is then a few more roundings of terms built from these, so each is within
/// `γ_{2S+10}` times the sum of the absolute values of its terms, with `|x − μ| + A` standing
/// for a centred value. The same bound with f64's roundoff covers the reference.
fn check<T: Float>(lay: ChannelLayout, offset: f64, seed: u64) -> Result<(), TestCaseError> {
    let x: Vec<T> = uniform(seed, lay.len(), offset - 1.0, offset + 1.0);
    let g: Vec<T> = uniform(seed + 1, lay.len(), -1.0, 1.0);
    let gamma_w: Vec<T> = uniform(seed + 2, lay.c, -2.0, 2.0);
    let beta: Vec<T> = uniform(seed + 3, lay.c, -2.0, 2.0);
    let (xf, gf, wf, bf) = (to_f64(&x), to_f64(&g), to_f64(&gamma_w), to_f64(&beta));
    let stats = reference_stats(&xf, lay);

    let (mut y, mut mean, mut var) =
        (vec![T::from_f64(f64::NAN); lay.len()], vec![T::ZERO; lay.c], vec![T::ZERO; lay.c]);
    batch_norm_forward(&x, lay, &gamma_w, &beta, EPS, &mut y, &mut mean, &mut var);
    let (mut gx, mut gw, mut gb) = (vec![T::from_f64(f64::NAN); lay.len()], vec![T::ZERO; lay.c], vec![T::ZERO; lay.c]);
    batch_norm_backward(&x, &g, lay, [&gamma_w, &mean, &var], EPS, &mut gx, &mut gw, &mut gb);

    let rel = gamma(2 * lay.s + 10, unit_roundoff::<T>()) + gamma(2 * lay.s + 10, U64);
    let m = (lay.n * lay.s) as f64;
    for ch in 0..lay.c {
        let [mu, sigma2, r, a] = stats[ch];
        prop_assert!(close(mean[ch].to_f64(), mu, rel * a), "mean[{ch}]: {} vs {mu}", mean[ch].to_f64());
        let var_tol = rel * (sigma2 + a * a);
        prop_assert!(close(var[ch].to_f64(), sigma2, var_tol), "var[{ch}]: {} vs {sigma2}", var[ch].to_f64());
        let rows = (0..lay.n).flat_map(|n| (0..lay.s).map(move |j| (n * lay.c + ch) * lay.s + j));
        let (mut sum_g, mut sum_gxc, mut abs_g, mut abs_gxc) = (0.0, 0.0, 0.0, 0.0);
        for i in rows.clone() {
            sum_g += gf[i];
            sum_gxc += gf[i] * (xf[i] - mu);
            abs_g += gf[i].abs();
            abs_gxc += gf[i].abs() * ((xf[i] - mu).abs() + a);
        }
        let (w, b) = (wf[ch], bf[ch]);
        prop_assert!(close(gb[ch].to_f64(), sum_g, rel * abs_g), "∂β[{ch}]");
        prop_assert!(
            close(gw[ch].to_f64(), sum_gxc * r, rel * r * abs_gxc),
            "∂γ[{ch}]: {} vs {}",
            gw[ch].to_f64(),
            sum_gxc * r
        );
        for i in rows {
            let xc = xf[i] - mu;
            let want_y = w * r * xc + b;
            let tol_y = rel * (w.abs() * r * (xc.abs() + a) + b.abs());
            prop_assert!(close(y[i].to_f64(), want_y, tol_y), "y[{i}]: {} vs {want_y} for {lay:?}", y[i].to_f64());
            let want_gx = w * r * (gf[i] - sum_g / m - xc * r * r * sum_gxc / m);
            let tol_gx = rel * w.abs() * r * (gf[i].abs() + abs_g / m + (xc.abs() + a) * r * r * abs_gxc / m);
            prop_assert!(
                close(gx[i].to_f64(), want_gx, tol_gx),
                "∂x[{i}]: {} vs {want_gx} for {lay:?}",
                gx[i].to_f64()
            );
        }
    }
    Ok(())
}

fn layout() -> impl Strategy<Value = ChannelLayout> {
    (1usize..=6, 1usize..=5, 1usize..=300)
        .prop_map(|(n, c, s)| ChannelLayout { n, c, s })
        .prop_filter("at least two values per channel", |l| l.n * l.s >= 2)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn batch_norm_matches_the_loop_reference_f64(lay in layout(), offset in -10.0f64..10.0, seed in any::<u64>()) {
        check::<f64>(lay, offset, seed)?;
    }

    #[test]
    fn batch_norm_matches_the_loop_reference_f32(lay in layout(), offset in -10.0f64..10.0, seed in any::<u64>()) {
        check::<f32>(lay, offset, seed)?;
    }
}

/// 16 channels of 8 × 400 values: both passes split over threads.
#[test]
fn batch_norm_matches_the_loop_reference_on_the_parallel_path() {
    check::<f32>(ChannelLayout { n: 8, c: 16, s: 400 }, 3.0, 11).unwrap();
}

/// Checks both layer-norm kernels on `rows` rows of `n` values. The error bounds are batch
/// norm's (see `check`) with the roles exchanged: statistics per row over its `n` values, and
/// `γ`, `β` per column, so `ĝ = γ·g` replaces `γ·g` inside the sums of `∂x`, and `∂γ`, `∂β` sum
/// over rows.
fn check_layer<T: Float>(rows: usize, n: usize, offset: f64, seed: u64) -> Result<(), TestCaseError> {
    let len = rows * n;
    let x: Vec<T> = uniform(seed, len, offset - 1.0, offset + 1.0);
    let g: Vec<T> = uniform(seed + 1, len, -1.0, 1.0);
    let w: Vec<T> = uniform(seed + 2, n, -2.0, 2.0);
    let b: Vec<T> = uniform(seed + 3, n, -2.0, 2.0);
    let (xf, gf, wf, bf) = (to_f64(&x), to_f64(&g), to_f64(&w), to_f64(&b));
    let nan = T::from_f64(f64::NAN);
    let (mut y, mut mean, mut rstd) = (vec![nan; len], vec![nan; rows], vec![nan; rows]);
    layer_norm_forward(&x, n, [&w, &b], EPS, &mut y, &mut mean, &mut rstd);
    let (mut gx, mut gw, mut gb) = (vec![nan; len], vec![nan; n], vec![nan; n]);
    layer_norm_backward(&x, &g, n, [&w, &mean, &rstd], &mut gx, &mut gw, &mut gb);

    let rel = gamma(2 * n + 10, unit_roundoff::<T>()) + gamma(2 * n + 10, U64);
    let (mut want_gw, mut tol_gw, mut want_gb, mut tol_gb) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    for row in 0..rows {
        let (xr, gr) = (&xf[row * n..][..n], &gf[row * n..][..n]);
        let mu = xr.iter().sum::<f64>() / n as f64;
        let var = xr.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n as f64;
        let a = xr.iter().map(|v| v.abs()).sum::<f64>() / n as f64;
        let r = 1.0 / (var + EPS).sqrt();
        prop_assert!(close(mean[row].to_f64(), mu, rel * a), "mean[{row}]: {} vs {mu}", mean[row].to_f64());
        let tol_r = rel * r * r * r * (var + a * a);
        prop_assert!(close(rstd[row].to_f64(), r, tol_r), "rstd[{row}]: {} vs {r}", rstd[row].to_f64());
        let (mut sum_g, mut sum_gxc, mut abs_g, mut abs_gxc) = (0.0, 0.0, 0.0, 0.0);
        for j in 0..n {
            let xc = xr[j] - mu;
            sum_g += wf[j] * gr[j];
            sum_gxc += wf[j] * gr[j] * xc;
            abs_g += (wf[j] * gr[j]).abs();
            abs_gxc += (wf[j] * gr[j]).abs() * (xc.abs() + a);
            want_gw[j] += gr[j] * xc * r;
            tol_gw[j] += rel * gr[j].abs() * (xc.abs() + a) * r;
            want_gb[j] += gr[j];
            tol_gb[j] += rel * gr[j].abs();
        }
        let m = n as f64;
        for j in 0..n {
            let (i, xc) = (row * n + j, xr[j] - mu);
            let want_y = wf[j] * r * xc + bf[j];
            let tol_y = rel * (wf[j].abs() * r * (xc.abs() + a) + bf[j].abs());
            prop_assert!(close(y[i].to_f64(), want_y, tol_y), "y[{i}]: {} vs {want_y}", y[i].to_f64());
            let want_gx = r * (wf[j] * gr[j] - sum_g / m - xc * r * r * sum_gxc / m);
            let tol_gx = rel * r * ((wf[j] * gr[j]).abs() + abs_g / m + (xc.abs() + a) * r * r * abs_gxc / m);
            prop_assert!(close(gx[i].to_f64(), want_gx, tol_gx), "∂x[{i}]: {} vs {want_gx}", gx[i].to_f64());
        }
    }
    for j in 0..n {
        prop_assert!(close(gw[j].to_f64(), want_gw[j], tol_gw[j]), "∂γ[{j}]: {} vs {}", gw[j].to_f64(), want_gw[j]);
        prop_assert!(close(gb[j].to_f64(), want_gb[j], tol_gb[j]), "∂β[{j}]: {} vs {}", gb[j].to_f64(), want_gb[j]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn layer_norm_matches_the_loop_reference(
        rows in 1usize..=8,
        n in 1usize..=300,
        offset in -10.0f64..10.0,
        seed in any::<u64>(),
    ) {
        check_layer::<f32>(rows, n, offset, seed)?;
        check_layer::<f64>(rows, n, offset, seed)?;
    }
}

/// 512 rows of 128 values (a Transformer's activations): both passes split over threads.
#[test]
fn layer_norm_matches_the_loop_reference_on_the_parallel_path() {
    check_layer::<f32>(512, 128, 3.0, 5).unwrap();
}
