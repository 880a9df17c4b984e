//! Property tests for the strided-layout machinery: `copy_strided`, `copy_into`, `coalesce`,
//! `RowWalker`, `contiguous_strides` and `Strided::extent`, each against the definition of a
//! strided view (element `[i_0, …]` lives at `offset + Σ i_d·stride_d`), evaluated one
//! multi-index at a time.

mod common;

use common::{numel, row_major_offsets, View};
use ferrograd_kernels::copy::{coalesce, contiguous_strides, copy_into, copy_strided, RowWalker, Strided};
use proptest::prelude::*;

/// A shape, a view of it (possibly broadcast, permuted, stepped, offset) and a seed.
fn viewed_shape() -> impl Strategy<Value = (Vec<usize>, View, u64)> {
    prop_oneof![4 => common::small_shape(), 1 => common::big_shape()]
        .prop_flat_map(|shape| (Just(shape.clone()), common::view(shape, true), any::<u64>()))
}

/// Distinct non-negative values, so that reading the wrong element can never go unnoticed by
/// coincidence.
fn distinct(len: usize, seed: u64) -> Vec<i64> {
    let base = (seed >> 8) as i64;
    (0..len as i64).map(|i| base.wrapping_add(i * 7919)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Copies are exact, so they are checked on distinct integers (any `T: Copy`) and on floats.
    #[test]
    fn copy_strided_reads_every_element_of_the_view((shape, v, seed) in viewed_shape()) {
        let src = distinct(v.len, seed);
        let mut out = vec![i64::MIN; numel(&shape)];
        copy_strided(Strided { data: &src, offset: v.offset, strides: &v.strides }, &shape, &mut out);
        let want: Vec<i64> = row_major_offsets(&shape, &v.strides, v.offset).into_iter().map(|o| src[o]).collect();
        prop_assert_eq!(&out, &want);

        let srcf: Vec<f32> = common::uniform(seed, v.len, -3.0, 3.0);
        let mut outf = vec![f32::NAN; numel(&shape)];
        copy_strided(Strided { data: &srcf, offset: v.offset, strides: &v.strides }, &shape, &mut outf);
        let wantf: Vec<f32> = row_major_offsets(&shape, &v.strides, v.offset).into_iter().map(|o| srcf[o]).collect();
        prop_assert_eq!(outf, wantf);
    }

    /// `copy_into` writes exactly the destination view's elements, each from the matching
    /// source element, and leaves every other destination element alone.
    #[test]
    fn copy_into_writes_exactly_the_destination_view(
        (shape, vs, vd, seed) in common::small_shape().prop_flat_map(|s| {
            (Just(s.clone()), common::view(s.clone(), true), common::view(s, false), any::<u64>())
        })
    ) {
        // The source holds non-negative values and the destination starts out negative, so a
        // stray write cannot go unnoticed.
        let src = distinct(vs.len, seed);
        let before: Vec<i64> = (0..vd.len as i64).map(|i| -1 - i).collect();
        let mut dst = before.clone();
        copy_into(Strided { data: &src, offset: vs.offset, strides: &vs.strides }, &shape, &mut dst, vd.offset, &vd.strides);
        let mut want = before;
        let so = row_major_offsets(&shape, &vs.strides, vs.offset);
        let dof = row_major_offsets(&shape, &vd.strides, vd.offset);
        for (s, d) in so.into_iter().zip(dof) {
            want[d] = src[s];
        }
        prop_assert_eq!(dst, want);
    }

    /// `coalesce` must not change which elements are visited or in what order: the merged shape
    /// and strides address the same offsets, row-major, for every operand. It must also drop
    /// size-1 dimensions and leave no adjacent pair that it could still merge.
    #[test]
    fn coalesce_preserves_the_offsets_of_every_operand(
        (shape, va, vb, vc) in prop::collection::vec(1..5usize, 0..=5).prop_flat_map(|s| {
            (Just(s.clone()), common::view(s.clone(), true), common::view(s.clone(), true), common::view(s, true))
        })
    ) {
        let (merged, [sa, sb, sc]) = coalesce(&shape, [&va.strides, &vb.strides, &vc.strides]);
        prop_assert_eq!(numel(&merged), numel(&shape));
        for (orig, new) in [(&va.strides, &sa), (&vb.strides, &sb), (&vc.strides, &sc)] {
            prop_assert_eq!(new.len(), merged.len());
            prop_assert_eq!(row_major_offsets(&merged, new, 0), row_major_offsets(&shape, orig, 0));
        }
        if merged != [1] {
            prop_assert!(!merged.contains(&1), "size-1 dimension kept: {:?}", merged);
        }
        for d in 1..merged.len() {
            let mergeable = [&sa, &sb, &sc].iter().all(|s| s[d - 1] == s[d] * merged[d]);
            prop_assert!(!mergeable, "dims {} and {} of {:?} could still merge", d - 1, d, merged);
        }
    }

    /// Starting anywhere and advancing row by row, `RowWalker` gives each operand the offset of
    /// the current row's first element.
    #[test]
    fn row_walker_tracks_every_operands_row_offsets(
        (shape, va, vb, start) in common::small_shape().prop_flat_map(|s| {
            (Just(s.clone()), common::view(s.clone(), true), common::view(s, true), any::<prop::sample::Index>())
        })
    ) {
        let rows: usize = shape[..shape.len() - 1].iter().product();
        let row_len = shape[shape.len() - 1];
        let oa = row_major_offsets(&shape, &va.strides, va.offset);
        let ob = row_major_offsets(&shape, &vb.strides, vb.offset);
        let first = start.index(rows);
        let mut walk = RowWalker::new(&shape, [&va.strides, &vb.strides], [va.offset, vb.offset], first);
        for row in first..rows {
            prop_assert_eq!(walk.offsets(), [oa[row * row_len], ob[row * row_len]], "row {}", row);
            walk.advance();
        }
    }

    /// `extent` is one past the largest offset the view reads.
    #[test]
    fn extent_is_one_past_the_last_offset_read((shape, v, _seed) in viewed_shape()) {
        let strided = Strided::<u8> { data: &[], offset: v.offset, strides: &v.strides };
        let last = row_major_offsets(&shape, &v.strides, v.offset).into_iter().max().expect("non-empty shape");
        prop_assert_eq!(strided.extent(&shape), last + 1);
    }

    /// Row-major strides: the last dimension is contiguous, and each stride spans the dimensions
    /// after it.
    #[test]
    fn contiguous_strides_are_row_major(shape in prop::collection::vec(0..6usize, 0..=5)) {
        let s = contiguous_strides(&shape);
        prop_assert_eq!(s.len(), shape.len());
        for d in 0..shape.len() {
            prop_assert_eq!(s[d], shape[d + 1..].iter().product::<usize>());
        }
    }
}

/// The example from `coalesce`'s docs: two dense `[64, 128]` operands are one flat loop.
#[test]
fn coalesce_merges_dense_operands_into_one_dimension() {
    let strides = contiguous_strides(&[64, 128]);
    let (shape, [a, b]) = coalesce(&[64, 128], [&strides, &strides]);
    assert_eq!((shape, a, b), (vec![8192], vec![1], vec![1]));
    // A transposed operand stops the merge; a broadcast one merges if it is broadcast throughout.
    let (shape, [a, b]) = coalesce(&[4, 5], [&[1, 4], &[5, 1]]);
    assert_eq!((shape, a, b), (vec![4, 5], vec![1, 4], vec![5, 1]));
    let (shape, [a]) = coalesce(&[4, 1, 5], [&[0, 7, 0]]);
    assert_eq!((shape, a), (vec![20], vec![0]));
}

/// Scalars (rank 0) are one element; shapes with a zero dimension copy nothing.
#[test]
fn copy_strided_of_a_scalar_and_of_an_empty_shape() {
    let data = [1.5f64, 2.5, 3.5];
    let mut out = [0.0];
    copy_strided(Strided { data: &data, offset: 2, strides: &[] }, &[], &mut out);
    assert_eq!(out, [3.5]);
    let mut none: [f64; 0] = [];
    copy_strided(Strided { data: &data, offset: 0, strides: &[1, 1] }, &[3, 0], &mut none);
    let mut dst = [9.0; 3];
    copy_into(Strided { data: &data, offset: 0, strides: &[1, 1] }, &[0, 3], &mut dst, 0, &[3, 1]);
    assert_eq!(dst, [9.0; 3]);
}

/// A view reaching past its buffer is a caller bug: it must panic, never read out of bounds.
#[test]
#[should_panic(expected = "view out of bounds")]
fn copy_strided_rejects_a_view_outside_its_buffer() {
    let data = [0u32; 5];
    let mut out = [0u32; 6];
    copy_strided(Strided { data: &data, offset: 0, strides: &[3, 1] }, &[2, 3], &mut out);
}
