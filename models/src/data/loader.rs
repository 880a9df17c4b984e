//! In-memory datasets and mini-batch loading.

use ferrograd_autograd::{DType, Error, Result, Rng, Tensor};

/// Inputs and targets held in memory, indexed along their first dimension.
#[derive(Clone)]
pub struct TensorDataset {
    /// `[n, ...]`
    pub inputs: Tensor,
    /// `[n, ...]`
    pub targets: Tensor,
}

impl TensorDataset {
    /// A dataset; `inputs` and `targets` must have the same first dimension.
    pub fn new(inputs: Tensor, targets: Tensor) -> Result<Self> {
        if inputs.rank() == 0 || targets.rank() == 0 || inputs.shape()[0] != targets.shape()[0] {
            return Err(Error::shape(
                "TensorDataset",
                &[inputs.shape(), targets.shape()],
                "first dimensions must match",
            ));
        }
        Ok(TensorDataset { inputs, targets })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.inputs.shape()[0]
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The examples at `indices`, as a batch.
    pub fn batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        let idx = Tensor::from_vec(indices.iter().map(|&i| i as i64).collect::<Vec<_>>(), &[indices.len()])?;
        Ok((self.inputs.index_select(0, &idx)?, self.targets.index_select(0, &idx)?))
    }

    /// Splits off a validation set: a seeded shuffle, then the first `1 − val_fraction` for
    /// training and the rest for validation.
    pub fn split(&self, val_fraction: f64, seed: u64) -> Result<(TensorDataset, TensorDataset)> {
        if !(0.0..1.0).contains(&val_fraction) {
            return Err(Error::invalid("split", format!("validation fraction {val_fraction} not in [0, 1)")));
        }
        let perm = Rng::new(seed).permutation(self.len());
        let n_val = (self.len() as f64 * val_fraction).round() as usize;
        let (train, val) = perm.split_at(self.len() - n_val);
        let (xt, yt) = self.batch(train)?;
        let (xv, yv) = self.batch(val)?;
        Ok((TensorDataset::new(xt, yt)?, TensorDataset::new(xv, yv)?))
    }
}

/// Iterates over a dataset in mini-batches, reshuffled every epoch from a seed.
pub struct DataLoader {
    dataset: TensorDataset,
    batch_size: usize,
    shuffle: bool,
    drop_last: bool,
    rng: Rng,
}

impl DataLoader {
    /// A loader. With `shuffle`, each call to [`DataLoader::epoch`] draws a new permutation from
    /// a generator seeded with `seed`, so a run is reproducible. With `drop_last`, a final
    /// incomplete batch is skipped.
    pub fn new(dataset: TensorDataset, batch_size: usize, shuffle: bool, drop_last: bool, seed: u64) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::invalid("DataLoader", "batch size must be positive"));
        }
        Ok(DataLoader { dataset, batch_size, shuffle, drop_last, rng: Rng::new(seed) })
    }

    /// Number of batches per epoch.
    pub fn num_batches(&self) -> usize {
        if self.drop_last {
            self.dataset.len() / self.batch_size
        } else {
            self.dataset.len().div_ceil(self.batch_size)
        }
    }

    /// The dataset.
    pub fn dataset(&self) -> &TensorDataset {
        &self.dataset
    }

    /// One pass over the data: an iterator of `(inputs, targets)` batches.
    pub fn epoch(&mut self) -> impl Iterator<Item = Result<(Tensor, Tensor)>> + '_ {
        let order =
            if self.shuffle { self.rng.permutation(self.dataset.len()) } else { (0..self.dataset.len()).collect() };
        let (bs, n) = (self.batch_size, self.num_batches());
        let data = &self.dataset;
        (0..n).map(move |b| {
            let end = ((b + 1) * bs).min(order.len());
            data.batch(&order[b * bs..end])
        })
    }
}

/// Scales `u8` pixel values to `f32` in `[0, 1]`.
pub fn pixels_to_tensor(pixels: &[u8], shape: &[usize]) -> Result<Tensor> {
    let v: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let t = Tensor::from_vec(v, shape)?;
    debug_assert_eq!(t.dtype(), DType::F32);
    Ok(t)
}
