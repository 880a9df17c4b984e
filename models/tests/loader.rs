//! `TensorDataset` and `DataLoader`: coverage, batching, shuffling, reproducibility, splits.

use ferrograd_autograd::{DType, Error, Tensor};
use ferrograd_models::data::{DataLoader, TensorDataset};
use proptest::prelude::*;
use std::collections::HashSet;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() }
}

/// `n` examples: input row `i` is `[i, i + 0.5]` (f32), target `i` is `10·i` (i64), so every
/// batch can be traced back to example ids and input/target pairing checked.
fn dataset(n: usize) -> TensorDataset {
    let x: Vec<f32> = (0..n).flat_map(|i| [i as f32, i as f32 + 0.5]).collect();
    let y: Vec<i64> = (0..n as i64).map(|i| 10 * i).collect();
    TensorDataset::new(Tensor::from_vec(x, &[n, 2]).unwrap(), Tensor::from_vec(y, &[n]).unwrap()).unwrap()
}

/// The example ids of each batch of one epoch, checking shapes and input/target pairing.
fn epoch_ids(loader: &mut DataLoader) -> Vec<Vec<usize>> {
    loader
        .epoch()
        .map(|b| {
            let (x, y) = b.unwrap();
            let xs = x.to_vec::<f32>().unwrap();
            let ys = y.to_vec::<i64>().unwrap();
            assert_eq!(x.shape(), &[ys.len(), 2]);
            assert_eq!(x.dtype(), DType::F32);
            ys.iter()
                .enumerate()
                .map(|(r, &t)| {
                    let id = (t / 10) as usize;
                    assert_eq!((xs[2 * r], xs[2 * r + 1]), (id as f32, id as f32 + 0.5), "input/target pairing");
                    id
                })
                .collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_example_once_per_epoch(
        n in 1usize..=40, bs in 1usize..=9, shuffle in any::<bool>(), seed in any::<u64>()
    ) {
        let mut loader = DataLoader::new(dataset(n), bs, shuffle, false, seed).unwrap();
        prop_assert_eq!(loader.num_batches(), n.div_ceil(bs));
        prop_assert_eq!(loader.dataset().len(), n);
        for _ in 0..3 {
            let batches = epoch_ids(&mut loader);
            prop_assert_eq!(batches.len(), n.div_ceil(bs));
            // All batches full except possibly the last.
            for (k, b) in batches.iter().enumerate() {
                let want = if k + 1 < batches.len() { bs } else { n - bs * (batches.len() - 1) };
                prop_assert_eq!(b.len(), want);
            }
            let mut all: Vec<usize> = batches.concat();
            if !shuffle {
                prop_assert_eq!(&all, &(0..n).collect::<Vec<_>>(), "without shuffle the order is 0..n");
            }
            all.sort_unstable();
            prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn drop_last_skips_the_incomplete_batch(
        n in 1usize..=40, bs in 1usize..=9, shuffle in any::<bool>(), seed in any::<u64>()
    ) {
        let mut loader = DataLoader::new(dataset(n), bs, shuffle, true, seed).unwrap();
        prop_assert_eq!(loader.num_batches(), n / bs);
        let batches = epoch_ids(&mut loader);
        prop_assert_eq!(batches.len(), n / bs);
        prop_assert!(batches.iter().all(|b| b.len() == bs));
        let all: Vec<usize> = batches.concat();
        let distinct: HashSet<usize> = all.iter().copied().collect();
        prop_assert_eq!(distinct.len(), all.len(), "an example repeated within an epoch");
        prop_assert_eq!(all.len(), n - n % bs);
    }

    #[test]
    fn shuffling_is_reproducible_and_differs_between_epochs(n in 12usize..=40, bs in 1usize..=9, seed in any::<u64>()) {
        let mut a = DataLoader::new(dataset(n), bs, true, false, seed).unwrap();
        let mut b = DataLoader::new(dataset(n), bs, true, false, seed).unwrap();
        let ea: Vec<Vec<usize>> = (0..3).map(|_| epoch_ids(&mut a).concat()).collect();
        let eb: Vec<Vec<usize>> = (0..3).map(|_| epoch_ids(&mut b).concat()).collect();
        prop_assert_eq!(&ea, &eb, "same seed, same order every epoch");
        // Two uniform permutations of ≥ 12 items coincide with probability 1/12! ≈ 2e-9.
        prop_assert_ne!(&ea[0], &ea[1], "epochs should be reshuffled");
        prop_assert_ne!(&ea[1], &ea[2]);
        prop_assert_ne!(&ea[0], &(0..n).collect::<Vec<_>>(), "the first epoch should be shuffled too");
        let mut c = DataLoader::new(dataset(n), bs, true, false, seed.wrapping_add(1)).unwrap();
        prop_assert_ne!(&epoch_ids(&mut c).concat(), &ea[0], "another seed, another order");
    }

    #[test]
    fn split_sizes_partition_and_reproducibility(n in 1usize..=50, frac in 0.0f64..0.95, seed in any::<u64>()) {
        let ds = dataset(n);
        let (train, val) = ds.split(frac, seed).unwrap();
        let n_val = (n as f64 * frac).round() as usize;
        prop_assert_eq!(val.len(), n_val);
        prop_assert_eq!(train.len(), n - n_val);
        let ids = |d: &TensorDataset| -> Vec<usize> {
            // Check pairing, then return ids.
            let xs = d.inputs.to_vec::<f32>().unwrap();
            d.targets.to_vec::<i64>().unwrap().iter().enumerate().map(|(r, &t)| {
                assert_eq!(xs[2 * r], (t / 10) as f32);
                (t / 10) as usize
            }).collect()
        };
        let (ti, vi) = (ids(&train), ids(&val));
        let mut all: Vec<usize> = ti.iter().chain(&vi).copied().collect();
        all.sort_unstable();
        prop_assert_eq!(all, (0..n).collect::<Vec<_>>(), "train and val partition the data");
        let (train2, val2) = ds.split(frac, seed).unwrap();
        prop_assert_eq!(ids(&train2), ti);
        prop_assert_eq!(ids(&val2), vi);
    }
}

#[test]
fn argument_errors() {
    let x = Tensor::zeros(&[3, 2], DType::F32);
    assert!(matches!(
        TensorDataset::new(x.clone(), Tensor::zeros(&[4], DType::I64)),
        Err(Error::ShapeMismatch { op: "TensorDataset", .. })
    ));
    assert!(TensorDataset::new(Tensor::scalar(1.0f32), Tensor::scalar(1i64)).is_err());
    let ds = TensorDataset::new(x, Tensor::zeros(&[3], DType::I64)).unwrap();
    assert!(matches!(DataLoader::new(ds.clone(), 0, true, false, 0), Err(Error::InvalidArgument { .. })));
    for bad in [1.0, -0.1, f64::NAN] {
        assert!(matches!(ds.split(bad, 0), Err(Error::InvalidArgument { op: "split", .. })), "fraction {bad}");
    }
    // Batching an index past the end is an index error, not a panic.
    assert!(matches!(ds.batch(&[0, 3]), Err(Error::IndexOutOfRange { index: 3, size: 3, .. })));
}

#[test]
fn batch_larger_than_dataset_gives_one_batch_or_none() {
    let mut l = DataLoader::new(dataset(5), 8, false, false, 0).unwrap();
    assert_eq!(epoch_ids(&mut l), vec![vec![0, 1, 2, 3, 4]]);
    let mut l = DataLoader::new(dataset(5), 8, false, true, 0).unwrap();
    assert_eq!(l.num_batches(), 0);
    assert!(epoch_ids(&mut l).is_empty());
}
