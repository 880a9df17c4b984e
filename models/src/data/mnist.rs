//! MNIST in the IDX format (gzip-compressed, as distributed).
//!
//! IDX: a big-endian `u32` magic number (`0x00000803` for images, `0x00000801` for labels), one
//! big-endian `u32` per dimension, then the raw `u8` data in row-major order. Every way the files
//! can be wrong (missing, not gzip, wrong magic, truncated, mismatched counts, labels > 9) is an
//! [`Error::Io`] naming the file.

use super::loader::{pixels_to_tensor, TensorDataset};
use ferrograd_autograd::{Error, Result, Tensor};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// Which half of MNIST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The 60,000 training images.
    Train,
    /// The 10,000 test images.
    Test,
}

/// Loads a split from `dir` (holding the four standard `*-ubyte.gz` files): inputs are `f32`
/// `[n, 784]` scaled to `[0, 1]`, targets `i64` `[n]`.
pub fn load(dir: &Path, split: Split) -> Result<TensorDataset> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let images = read_idx(&dir.join(format!("{prefix}-images-idx3-ubyte.gz")), IMAGES_MAGIC)?;
    let labels = read_idx(&dir.join(format!("{prefix}-labels-idx1-ubyte.gz")), LABELS_MAGIC)?;
    let n = images.dims[0] as usize;
    if labels.dims[0] as usize != n {
        return Err(Error::Io {
            path: dir.display().to_string(),
            reason: format!("{n} images but {} labels", labels.dims[0]),
        });
    }
    let pixels: usize = images.dims[1..].iter().map(|&d| d as usize).product();
    if let Some(bad) = labels.data.iter().find(|&&l| l > 9) {
        return Err(Error::Io { path: dir.display().to_string(), reason: format!("label {bad} is not a digit") });
    }
    let inputs = pixels_to_tensor(&images.data, &[n, pixels])?;
    let targets = Tensor::from_vec(labels.data.iter().map(|&l| l as i64).collect::<Vec<_>>(), &[n])?;
    TensorDataset::new(inputs, targets)
}

/// A decoded IDX file of `u8`s.
pub struct Idx {
    /// The size of each dimension.
    pub dims: Vec<u32>,
    /// The data, row-major.
    pub data: Vec<u8>,
}

/// Reads and checks a gzip-compressed IDX file of `u8` data with the given magic number.
pub fn read_idx(path: &Path, magic: u32) -> Result<Idx> {
    let io_err = |reason: String| Error::Io { path: path.display().to_string(), reason };
    let file = std::fs::File::open(path).map_err(|e| io_err(format!("cannot open: {e}")))?;
    let mut bytes = Vec::new();
    GzDecoder::new(file).read_to_end(&mut bytes).map_err(|e| io_err(format!("not a valid gzip stream: {e}")))?;
    parse_idx(&bytes, magic).map_err(io_err)
}

/// Parses IDX bytes (already decompressed).
pub fn parse_idx(bytes: &[u8], magic: u32) -> std::result::Result<Idx, String> {
    let word =
        |i: usize| -> Option<u32> { bytes.get(4 * i..4 * i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])) };
    let found = word(0).ok_or("file too short for an IDX header")?;
    if found != magic {
        return Err(format!("bad magic number {found:#010x}, expected {magic:#010x}"));
    }
    let rank = (magic & 0xff) as usize;
    let dims: Vec<u32> = (1..=rank).map(word).collect::<Option<_>>().ok_or("truncated IDX header")?;
    let len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
        .ok_or_else(|| format!("header dims {dims:?} overflow"))?;
    let header = 4 * (1 + rank);
    let data = &bytes[header.min(bytes.len())..];
    if data.len() != len {
        return Err(format!("truncated or oversized: header says {len} bytes of data, found {}", data.len()));
    }
    Ok(Idx { dims, data: data.to_vec() })
}
