//! MNIST loading: the shipped test split, and every way an IDX file can be wrong.

use ferrograd_autograd::{DType, Error};
use ferrograd_models::data::mnist::{load, parse_idx, read_idx, Split};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

const IMAGES: u32 = 0x0000_0803;
const LABELS: u32 = 0x0000_0801;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist")
}

/// A fresh path under the system temp dir, unique to this process and call.
fn temp_path(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "ferrograd-mnist-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Removes a temp file or dir when dropped.
struct Cleanup(PathBuf);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.0);
    }
}

/// IDX bytes: big-endian magic, big-endian dims, then the data.
fn idx_bytes(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = magic.to_be_bytes().to_vec();
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Asserts an `Error::Io` whose path is `path` and whose reason contains `needle`.
fn assert_io_err<T>(r: ferrograd_autograd::Result<T>, path: &Path, needle: &str) {
    match r {
        Err(e @ Error::Io { .. }) => {
            let Error::Io { path: p, reason } = &e else { unreachable!() };
            assert_eq!(p, &path.display().to_string(), "{e}");
            assert!(reason.contains(needle), "reason {reason:?} should mention {needle:?}");
            assert!(e.to_string().starts_with(&path.display().to_string()), "message {e} should name the path");
        }
        Err(other) => panic!("expected Error::Io for {}, got {other:?}", path.display()),
        Ok(_) => panic!("expected Error::Io for {}, got Ok", path.display()),
    }
}

#[test]
fn test_split_has_mnist_shapes_values_and_labels() {
    let ds = load(&data_dir(), Split::Test).unwrap();
    assert_eq!(ds.len(), 10_000);
    assert_eq!(ds.inputs.shape(), &[10_000, 784]);
    assert_eq!(ds.targets.shape(), &[10_000]);
    assert_eq!(ds.inputs.dtype(), DType::F32);
    assert_eq!(ds.targets.dtype(), DType::I64);
    let x = ds.inputs.to_vec::<f32>().unwrap();
    assert!(x.iter().all(|v| (0.0..=1.0).contains(v)), "pixels must be scaled to [0, 1]");
    // Pixels are bytes / 255: both ends of the range occur, and every value is k/255.
    assert!(x.contains(&0.0) && x.contains(&1.0));
    assert!(x.iter().take(50_000).all(|&v| ((v * 255.0).round() / 255.0 - v).abs() < 1e-6));
    // Most of a digit image is background: the mean intensity of the MNIST test set is 0.1325.
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
    assert!((mean - 0.13251).abs() < 1e-4, "mean pixel {mean}");
    // The published label histogram of the 10k test set, and its first labels.
    let y = ds.targets.to_vec::<i64>().unwrap();
    let mut hist = [0usize; 10];
    for &l in &y {
        hist[l as usize] += 1;
    }
    assert_eq!(hist, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    assert_eq!(&y[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
}

#[test]
fn parse_idx_accepts_good_bytes_and_rejects_bad_ones() {
    let good = idx_bytes(IMAGES, &[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    let idx = parse_idx(&good, IMAGES).unwrap();
    assert_eq!(idx.dims, vec![2, 2, 3]);
    assert_eq!(idx.data, (1..=12).collect::<Vec<u8>>());
    // Wrong magic (a label file where images are expected).
    let e = parse_idx(&idx_bytes(LABELS, &[3], &[1, 2, 3]), IMAGES).err().unwrap();
    assert!(e.contains("magic") && e.contains("0x00000801") && e.contains("0x00000803"), "{e}");
    // Data shorter or longer than the header says.
    let e = parse_idx(&good[..good.len() - 1], IMAGES).err().unwrap();
    assert!(e.contains("truncated"), "{e}");
    let mut long = good.clone();
    long.push(0);
    assert!(parse_idx(&long, IMAGES).is_err());
    // Header cut off inside the magic number or the dims.
    assert!(parse_idx(&good[..3], IMAGES).is_err());
    assert!(parse_idx(&good[..9], IMAGES).err().unwrap().contains("header"));
    assert!(parse_idx(&[], IMAGES).is_err());
}

#[test]
fn read_idx_errors_name_the_file() {
    // Missing file.
    let missing = temp_path("missing.gz");
    assert_io_err(read_idx(&missing, IMAGES), &missing, "cannot open");
    // Not gzip at all.
    let plain = temp_path("plain.gz");
    let _c1 = Cleanup(plain.clone());
    std::fs::write(&plain, idx_bytes(LABELS, &[2], &[1, 2])).unwrap();
    assert_io_err(read_idx(&plain, LABELS), &plain, "gzip");
    // Valid gzip, wrong magic.
    let wrong = temp_path("wrong-magic.gz");
    let _c2 = Cleanup(wrong.clone());
    std::fs::write(&wrong, gzip(&idx_bytes(LABELS, &[2], &[1, 2]))).unwrap();
    assert_io_err(read_idx(&wrong, IMAGES), &wrong, "magic");
    // Valid gzip, truncated data.
    let short = temp_path("truncated.gz");
    let _c3 = Cleanup(short.clone());
    std::fs::write(&short, gzip(&idx_bytes(LABELS, &[5], &[1, 2]))).unwrap();
    assert_io_err(read_idx(&short, LABELS), &short, "truncated");
    // A gzip stream cut short.
    let cut = temp_path("cut.gz");
    let _c4 = Cleanup(cut.clone());
    let z = gzip(&idx_bytes(LABELS, &[200], &[7; 200]));
    std::fs::write(&cut, &z[..z.len() / 2]).unwrap();
    assert!(matches!(read_idx(&cut, LABELS), Err(Error::Io { ref path, .. }) if *path == cut.display().to_string()));
    // And a good one reads back.
    let ok = temp_path("ok.gz");
    let _c5 = Cleanup(ok.clone());
    std::fs::write(&ok, gzip(&idx_bytes(LABELS, &[3], &[4, 5, 6]))).unwrap();
    let idx = read_idx(&ok, LABELS).unwrap();
    assert_eq!((idx.dims, idx.data), (vec![3], vec![4, 5, 6]));
}

/// Writes a tiny MNIST-like directory (3 images of 2×2) with the given labels.
fn write_tiny(dir: &Path, n_images: u32, labels: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    let pixels: Vec<u8> = (0..n_images as usize * 4).map(|i| (i * 20) as u8).collect();
    std::fs::write(dir.join("t10k-images-idx3-ubyte.gz"), gzip(&idx_bytes(IMAGES, &[n_images, 2, 2], &pixels)))
        .unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), gzip(&idx_bytes(LABELS, &[labels.len() as u32], labels)))
        .unwrap();
}

#[test]
fn load_checks_consistency_and_scales_pixels() {
    let dir = temp_path("tiny");
    let _c = Cleanup(dir.clone());
    write_tiny(&dir, 3, &[3, 0, 9]);
    let ds = load(&dir, Split::Test).unwrap();
    assert_eq!(ds.inputs.shape(), &[3, 4]);
    let want: Vec<f32> = (0..12).map(|i| (i * 20) as f32 / 255.0).collect();
    assert_eq!(ds.inputs.to_vec::<f32>().unwrap(), want);
    assert_eq!(ds.targets.to_vec::<i64>().unwrap(), vec![3, 0, 9]);
    // The train split's files are absent here: the error names the missing file.
    assert_io_err(load(&dir, Split::Train), &dir.join("train-images-idx3-ubyte.gz"), "cannot open");

    // Counts that disagree, and a label that is not a digit: errors naming the directory.
    let bad = temp_path("mismatch");
    let _c2 = Cleanup(bad.clone());
    write_tiny(&bad, 3, &[1, 2]);
    assert_io_err(load(&bad, Split::Test), &bad, "labels");
    let bad = temp_path("not-a-digit");
    let _c3 = Cleanup(bad.clone());
    write_tiny(&bad, 3, &[1, 2, 10]);
    assert_io_err(load(&bad, Split::Test), &bad, "10");
}
