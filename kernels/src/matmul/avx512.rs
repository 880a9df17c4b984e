//! A hand-written f32 GEMM for AVX-512 CPUs: packed panels and a 14×32 register-blocked
//! micro-kernel (the BLIS scheme).
//!
//! Used for large f32 products on AVX-512 CPUs (see [`worth_it`]); everything else goes through
//! `matrixmultiply`.
//!
//! Why not only `matrixmultiply`? Its AVX-512 micro-kernel is 16×16: every step over `k` loads
//! one vector of B and broadcasts 16 values of A for 16 FMAs, so the two load ports are as busy
//! as the two FMA ports and it reaches ~75% of this machine's FMA peak. Here each step loads two
//! vectors of B (32 columns) and broadcasts 14 values of A for **28 FMAs**: 16 loads per 28 FMAs,
//! so the FMA ports are the bottleneck, as they should be. 28 accumulators + 2 B vectors use 30
//! of the 32 zmm registers.
//!
//! Loop nest (outermost first), with the cache each level is sized for:
//! ```text
//! for jc in 0..n step NC            # a block of columns (bounds the packed-B buffer)
//! for pc in 0..k step KC            # one KC-deep slice of A and B
//!   pack B[pc.., jc..] into NR-wide panels          (KC×NR = 32 KiB: one panel fits L1)
//!   for ic in 0..m step MC
//!     pack A[ic.., pc..] into MR-tall panels        (MC×KC = 168 KiB: fits L2)
//!     for each B panel, for each A panel: micro-kernel on one MR×NR tile of C
//! ```
//! The first `pc` slice writes C, later slices add to it, so C may start uninitialised.
//! Partial tiles at the edges are computed in full on zero-padded panels into a scratch tile,
//! and only their valid part is stored.

use super::avx512_bf16;
use std::arch::x86_64::*;
use std::cell::RefCell;

/// Rows of C per micro-tile.
pub const MR: usize = 14;
/// Columns of C per micro-tile (two 16-lane vectors).
pub const NR: usize = 32;
/// Depth of one packed slice.
pub(super) const KC: usize = 256;
/// Rows of A packed at once (a multiple of MR).
const MC: usize = MR * 12;
/// Columns of B packed at once (a multiple of NR): bounds the packed-B buffer at NC·KC floats
/// (4 MiB) however wide B is.
const NC: usize = NR * 128;

/// Whether to use this kernel for one `m × k × n` product: on AVX-512 CPUs, for products of at
/// least 2^25 multiply-adds (≈ 320³). Smaller ones go to `matrixmultiply`, whose lighter packing
/// wins there. Single-thread GFLOP/s on the dev machine (`RAYON_NUM_THREADS=1 cargo bench
/// --bench ops -- matmul`), this kernel vs `matrixmultiply`: 128³ 135 vs 149, 256³ 176 vs 182,
/// 512³ 189 vs 173, 1024³ 192 vs 178, 2048³ 193 vs 171 (FMA peak ≈ 236 per core).
pub fn worth_it(m: usize, k: usize, n: usize) -> bool {
    crate::simd::has_avx512() && m.saturating_mul(k).saturating_mul(n) >= 1 << 25 && m >= MR && n >= NR
}

/// Packing buffers of one thread: f32 panels of A and B, and their bfloat16 pairs.
struct Packs {
    a: Vec<f32>,
    b: Vec<f32>,
    a_pairs: Vec<u32>,
    b_pairs: Vec<u32>,
}

thread_local! {
    /// Packing buffers, reused across calls on this thread (no allocation per product).
    static PACKS: RefCell<Packs> =
        const { RefCell::new(Packs { a: Vec::new(), b: Vec::new(), a_pairs: Vec::new(), b_pairs: Vec::new() }) };
}

/// `C = A · B` for an `m × k` by `k × n` product, A and B with arbitrary strides, C row-major
/// with row stride `ldc`.
///
/// # Safety
/// The CPU must support AVX-512F (callers check [`crate::simd::has_avx512`]). Every element of A
/// (`a + i·rsa + p·csa`) and B addressed by the sizes must be readable, and the `m × n` block at
/// `c` writable and not aliased.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    a_strides: [isize; 2],
    b: *const f32,
    b_strides: [isize; 2],
    c: *mut f32,
    ldc: isize,
) {
    // SAFETY: forwarded from the caller.
    unsafe { gemm(Inputs::F32, m, k, n, a, a_strides, b, b_strides, c, ldc) }
}

/// What the micro-kernel multiplies: the f32 inputs as they are, or rounded to bfloat16 pairs
/// ([`super::avx512_bf16`], "medium" matmul precision).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Inputs {
    /// f32 panels, `vfmadd231ps`.
    F32,
    /// The same panels rounded to bfloat16 pairs, `vdpbf16ps` (needs AVX512-BF16).
    Bf16,
}

/// [`sgemm`] with the inputs multiplied as `inputs` says.
///
/// # Safety
/// As [`sgemm`]; with [`Inputs::Bf16`] the CPU must also support AVX512-BF16.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn gemm(
    inputs: Inputs,
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    [rsa, csa]: [isize; 2],
    b: *const f32,
    [rsb, csb]: [isize; 2],
    c: *mut f32,
    ldc: isize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                *c.offset(i as isize * ldc + j as isize) = 0.0;
            }
        }
        return;
    }
    let mut jc = 0;
    while jc < n {
        let nc = NC.min(n - jc);
        // SAFETY: columns [jc, jc+nc) of B and C are inside the caller's operands.
        unsafe {
            sgemm_columns(inputs, m, k, nc, a, [rsa, csa], b.offset(jc as isize * csb), [rsb, csb], c.add(jc), ldc)
        };
        jc += nc;
    }
}

/// [`gemm`] on a block of at most `NC` columns.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn sgemm_columns(
    inputs: Inputs,
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    [rsa, csa]: [isize; 2],
    b: *const f32,
    [rsb, csb]: [isize; 2],
    c: *mut f32,
    ldc: isize,
) {
    PACKS.with(|packs| {
        let mut packs = packs.borrow_mut();
        let Packs { a: pa, b: pb, a_pairs, b_pairs } = &mut *packs;
        let n_panels = n.div_ceil(NR);
        pb.resize(n_panels * NR * KC, 0.0);
        pa.resize(MC * KC, 0.0);
        if inputs == Inputs::Bf16 {
            b_pairs.resize(n_panels * NR * KC / 2, 0);
            a_pairs.resize(MC * KC / 2, 0);
        }
        let mut pc = 0;
        while pc < k {
            let kc = KC.min(k - pc);
            // Steps per panel row as the micro-kernel sees them: one per value, or per pair.
            let steps = if inputs == Inputs::Bf16 { kc.div_ceil(2) } else { kc };
            // SAFETY: the caller guarantees B's elements [pc, pc+kc) × [0, n) are readable.
            unsafe { pack_b(kc, n, b.offset(pc as isize * rsb), rsb, csb, pb) };
            if inputs == Inputs::Bf16 {
                // SAFETY: AVX512-BF16 is the caller's promise for `Inputs::Bf16`.
                unsafe { avx512_bf16::pair_panels(kc, NR, n_panels, pb, b_pairs) };
            }
            let mut ic = 0;
            while ic < m {
                let mc = MC.min(m - ic);
                // SAFETY: as above, for A's rows [ic, ic+mc) and columns [pc, pc+kc).
                unsafe { pack_a(mc, kc, a.offset(ic as isize * rsa + pc as isize * csa), rsa, csa, pa) };
                if inputs == Inputs::Bf16 {
                    // SAFETY: as for B.
                    unsafe { avx512_bf16::pair_panels(kc, MR, mc.div_ceil(MR), pa, a_pairs) };
                }
                for jp in 0..n_panels {
                    let cols = NR.min(n - jp * NR);
                    for ip in 0..mc.div_ceil(MR) {
                        let rows = MR.min(mc - ip * MR);
                        let tile = c.offset((ic + ip * MR) as isize * ldc + (jp * NR) as isize);
                        let (a_panel, b_panel) =
                            (ip * MR * steps..(ip + 1) * MR * steps, jp * NR * steps..(jp + 1) * NR * steps);
                        // SAFETY: the tile's `rows × cols` elements lie inside the caller's
                        // m × n block of C; the panels hold `steps` rows of MR and NR packed
                        // values (or pairs); `Inputs::Bf16` promises AVX512-BF16.
                        unsafe {
                            match inputs {
                                Inputs::F32 => {
                                    micro_kernel(kc, &pa[a_panel], &pb[b_panel], tile, ldc, rows, cols, pc > 0)
                                }
                                Inputs::Bf16 => avx512_bf16::micro_kernel(
                                    steps,
                                    &a_pairs[a_panel],
                                    &b_pairs[b_panel],
                                    tile,
                                    ldc,
                                    rows,
                                    cols,
                                    pc > 0,
                                ),
                            }
                        }
                    }
                }
                ic += mc;
            }
            pc += kc;
        }
    });
}

/// Packs a `kc × n` slice of B into `NR`-wide panels: panel `jp` holds, for each `p`, the `NR`
/// values `B[p, jp·NR ..]` contiguously (zero beyond column `n`).
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn pack_b(kc: usize, n: usize, b: *const f32, rsb: isize, csb: isize, out: &mut [f32]) {
    for jp in 0..n.div_ceil(NR) {
        let cols = NR.min(n - jp * NR);
        let panel = &mut out[jp * NR * kc..(jp + 1) * NR * kc];
        for p in 0..kc {
            let row = &mut panel[p * NR..(p + 1) * NR];
            let src = b.offset(p as isize * rsb + (jp * NR) as isize * csb);
            if csb == 1 {
                // SAFETY: `cols` contiguous elements of row p are readable (caller's contract).
                row[..cols].copy_from_slice(unsafe { std::slice::from_raw_parts(src, cols) });
            } else {
                for (j, v) in row[..cols].iter_mut().enumerate() {
                    // SAFETY: element (p, jp·NR + j) is inside B.
                    *v = unsafe { *src.offset(j as isize * csb) };
                }
            }
            row[cols..].fill(0.0);
        }
    }
}

/// Packs an `mc × kc` block of A into `MR`-tall panels: panel `ip` holds, for each `p`, the `MR`
/// values `A[ip·MR .., p]` contiguously (zero beyond row `mc`).
///
/// Packing is a transpose when A is row-major, and done one value at a time it cost a tenth of
/// a Transformer block's time (a weight gradient `gᵀ·x` packs `2048 × 512` values of A for a
/// product only 128 columns wide). Full panels take one of two fast paths: a column-major A
/// copies each column's `MR` contiguous values at once, and a row-major A is transposed in
/// 16 × 16 blocks in registers ([`transpose_panel`]). Edge panels go value by value.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn pack_a(mc: usize, kc: usize, a: *const f32, rsa: isize, csa: isize, out: &mut [f32]) {
    for ip in 0..mc.div_ceil(MR) {
        let rows = MR.min(mc - ip * MR);
        let panel = &mut out[ip * MR * kc..(ip + 1) * MR * kc];
        let src = a.offset((ip * MR) as isize * rsa);
        if rows == MR && rsa == 1 {
            for (p, col) in panel.chunks_exact_mut(MR).enumerate() {
                // SAFETY: column p's MR values (rows ip·MR ..) are contiguous and inside A.
                col.copy_from_slice(unsafe { std::slice::from_raw_parts(src.offset(p as isize * csa), MR) });
            }
            continue;
        }
        let mut p0 = 0;
        if rows == MR && csa == 1 {
            while p0 + 16 <= kc {
                // SAFETY: rows ip·MR .. +MR and columns p0 .. p0+16 are inside A; the panel has
                // room for columns p0 .. p0+16.
                unsafe { transpose_panel(src.add(p0), rsa, panel[p0 * MR..].as_mut_ptr()) };
                p0 += 16;
            }
        }
        for p in p0..kc {
            let col = &mut panel[p * MR..(p + 1) * MR];
            for (i, v) in col[..rows].iter_mut().enumerate() {
                // SAFETY: element (ip·MR + i, p) is inside A (caller's contract).
                *v = unsafe { *src.offset(i as isize * rsa + p as isize * csa) };
            }
            col[rows..].fill(0.0);
        }
    }
}

/// Packs 16 columns of an `MR`-row, row-major block of A (rows `rsa` apart) into 16 panel
/// columns of `MR` values at `out`: the 14 rows (plus two rows of zeros) are loaded as 16
/// vectors and transposed in registers in four rounds of shuffles, each round interleaving
/// twice as many values as the last (1, 2, 4, then 8 floats), and each column is stored with
/// a 14-lane mask.
///
/// # Safety
/// AVX-512F; 16 readable values at `a + i·rsa` for `i < MR`, and `16·MR` writable values at `out`.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn transpose_panel(a: *const f32, rsa: isize, out: *mut f32) {
    let mut r = [_mm512_setzero_ps(); 16];
    for (i, row) in r.iter_mut().take(MR).enumerate() {
        // SAFETY: row i's 16 values are readable (caller's contract).
        *row = unsafe { _mm512_loadu_ps(a.offset(i as isize * rsa)) };
    }
    // Round 1, within each 128-bit lane: pairs of rows → [r0₀ r1₀ r0₁ r1₁], [r0₂ r1₂ r0₃ r1₃].
    let mut t = [_mm512_setzero_ps(); 16];
    for j in 0..8 {
        t[2 * j] = _mm512_unpacklo_ps(r[2 * j], r[2 * j + 1]);
        t[2 * j + 1] = _mm512_unpackhi_ps(r[2 * j], r[2 * j + 1]);
    }
    // Round 2, 64-bit pairs: u[4g + c] holds rows 4g..4g+4 of column c of every lane.
    let mut u = [_mm512_setzero_ps(); 16];
    for g in 0..4 {
        let (a0, a1, b0, b1) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
        let lo = |x: __m512, y: __m512| _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(x), _mm512_castps_pd(y)));
        let hi = |x: __m512, y: __m512| _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(x), _mm512_castps_pd(y)));
        u[4 * g] = lo(a0, b0);
        u[4 * g + 1] = hi(a0, b0);
        u[4 * g + 2] = lo(a1, b1);
        u[4 * g + 3] = hi(a1, b1);
    }
    // Rounds 3 and 4, whole 128-bit lanes: column c + 4L gathers lane L of u[c], u[4 + c],
    // u[8 + c], u[12 + c] (rows 0–3, 4–7, 8–11, 12–15).
    const EVEN: i32 = 0b10_00_10_00; // lanes 0 and 2 of each operand
    const ODD: i32 = 0b11_01_11_01; // lanes 1 and 3
    let mask: __mmask16 = (1 << MR) - 1;
    for c in 0..4 {
        let v0 = _mm512_shuffle_f32x4::<EVEN>(u[c], u[4 + c]);
        let v1 = _mm512_shuffle_f32x4::<ODD>(u[c], u[4 + c]);
        let v2 = _mm512_shuffle_f32x4::<EVEN>(u[8 + c], u[12 + c]);
        let v3 = _mm512_shuffle_f32x4::<ODD>(u[8 + c], u[12 + c]);
        let columns = [
            (c, _mm512_shuffle_f32x4::<EVEN>(v0, v2)),
            (c + 8, _mm512_shuffle_f32x4::<ODD>(v0, v2)),
            (c + 4, _mm512_shuffle_f32x4::<EVEN>(v1, v3)),
            (c + 12, _mm512_shuffle_f32x4::<ODD>(v1, v3)),
        ];
        for (col, v) in columns {
            // SAFETY: column `col` < 16 of the panel has MR writable values at out + col·MR.
            unsafe { _mm512_mask_storeu_ps(out.add(col * MR), mask, v) };
        }
    }
}

/// One `MR × NR` tile: `C (+)= Ap · Bp` over `kc` packed steps. `rows × cols` is the valid part
/// of the tile (smaller at the edges of C); `accumulate` adds to C instead of overwriting it.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn micro_kernel(
    kc: usize,
    ap: &[f32],
    bp: &[f32],
    c: *mut f32,
    ldc: isize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    debug_assert!(ap.len() >= kc * MR && bp.len() >= kc * NR);
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let (mut pa, mut pb) = (ap.as_ptr(), bp.as_ptr());
    for _ in 0..kc {
        // SAFETY: `kc` steps of MR (A) and NR (B) values lie inside the panels (asserted above).
        let (b0, b1) = unsafe { (_mm512_loadu_ps(pb), _mm512_loadu_ps(pb.add(16))) };
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let ai = _mm512_set1_ps(unsafe { *pa.add(i) });
            row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
            row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
        }
        // SAFETY: advancing within (or one past the end of) the panels.
        unsafe {
            pa = pa.add(MR);
            pb = pb.add(NR);
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_tile(&acc, c, ldc, rows, cols, accumulate) }
}

/// Writes (or with `accumulate`, adds) the `rows × cols` valid part of a micro-kernel's
/// `MR × NR` accumulators to the tile of C at `c`.
///
/// # Safety
/// The `rows × cols` block at `c` (row stride `ldc`) must be writable, and readable when
/// accumulating.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn store_tile(
    acc: &[[__m512; 2]; MR],
    c: *mut f32,
    ldc: isize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    if rows == MR && cols == NR {
        for (i, row) in acc.iter().enumerate() {
            // SAFETY: a full tile: rows 0..MR and columns 0..NR of this tile are inside C.
            unsafe {
                let ci = c.offset(i as isize * ldc);
                let (mut v0, mut v1) = (row[0], row[1]);
                if accumulate {
                    v0 = _mm512_add_ps(v0, _mm512_loadu_ps(ci));
                    v1 = _mm512_add_ps(v1, _mm512_loadu_ps(ci.add(16)));
                }
                _mm512_storeu_ps(ci, v0);
                _mm512_storeu_ps(ci.add(16), v1);
            }
        }
    } else {
        // An edge tile: spill to a scratch tile and store only the valid part.
        let mut tile = [0.0f32; MR * NR];
        for (i, row) in acc.iter().enumerate() {
            // SAFETY: `tile` has room for MR rows of NR values.
            unsafe {
                _mm512_storeu_ps(tile.as_mut_ptr().add(i * NR), row[0]);
                _mm512_storeu_ps(tile.as_mut_ptr().add(i * NR + 16), row[1]);
            }
        }
        for i in 0..rows {
            for j in 0..cols {
                // SAFETY: (i, j) is inside the valid part of the tile, hence inside C.
                unsafe {
                    let cij = c.offset(i as isize * ldc + j as isize);
                    let v = tile[i * NR + j];
                    *cij = if accumulate { *cij + v } else { v };
                }
            }
        }
    }
}
