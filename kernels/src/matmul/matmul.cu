// Matrix products C = A·B (+ bias), hand-written in numbered versions, as in llm.c's dev/cuda:
//
//   1. gemm_naive     one thread per element of C, reading A and B from global memory.
//   2. gemm_smem      32×32 tiles of A and B staged in shared memory; each value read from
//                     global memory once per tile instead of once per product.
//   3. gemm_blocked   128×128 tiles of C per block, 8×8 of them per thread held in registers
//                     (2-D register blocking): 16 shared-memory reads feed 64 FMAs.
//   4. gemm_vec       version 3 with 16-byte (float4) global loads; the default for f32.
//   5. gemm_tf32      tensor cores: mma.sync m16n8k8 on TF32 inputs (10-bit mantissa),
//                     f32 accumulation; each warp owns a 64×32 tile of C. Chosen by a flag.
//
// Versions 3–5 take row-major or transposed operands (the `_nn/_nt/_tn/_tt` suffixes: `t` means
// the operand is stored transposed, e.g. a weight read as Wᵀ), a batch in blockIdx.z with one
// stride per operand (0 broadcasts it), and an optional bias added to every row of C. All
// bounds are checked, so any M, N, K works.

// ---------------------------------------------------------------- 1. naive

extern "C" __global__ void gemm_naive_f32(int M, int N, int K, const float* A, const float* B, float* C) {
    int col = blockIdx.x * blockDim.x + threadIdx.x, row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row >= M || col >= N) return;
    float acc = 0.f;
    for (int k = 0; k < K; ++k) acc += A[(long long)row * K + k] * B[(long long)k * N + col];
    C[(long long)row * N + col] = acc;
}

// ---------------------------------------------------------------- 2. shared-memory tiles

#define SMEM_TILE 32
extern "C" __global__ void gemm_smem_f32(int M, int N, int K, const float* A, const float* B, float* C) {
    __shared__ float As[SMEM_TILE][SMEM_TILE], Bs[SMEM_TILE][SMEM_TILE + 1];
    int tx = threadIdx.x, ty = threadIdx.y;
    int row = blockIdx.y * SMEM_TILE + ty, col = blockIdx.x * SMEM_TILE + tx;
    float acc = 0.f;
    for (int k0 = 0; k0 < K; k0 += SMEM_TILE) {
        As[ty][tx] = (row < M && k0 + tx < K) ? A[(long long)row * K + k0 + tx] : 0.f;
        Bs[ty][tx] = (k0 + ty < K && col < N) ? B[(long long)(k0 + ty) * N + col] : 0.f;
        __syncthreads();
        for (int k = 0; k < SMEM_TILE; ++k) acc += As[ty][k] * Bs[k][tx];
        __syncthreads();
    }
    if (row < M && col < N) C[(long long)row * N + col] = acc;
}

// ---------------------------------------------------------------- 3./4. register-blocked

#define BM 128
#define BN 128
#define BK 8
#define PAD 4 // keeps the transposed stores into As, and the mma fragment reads, free of bank conflicts

// Element (r, c) of an operand stored row-major with leading dimension ld, or transposed.
template <bool TRANS, typename T> __device__ __forceinline__ T load_at(const T* p, long long ld, int r, int c, int rows, int cols) {
    if (r >= rows || c >= cols) return T(0);
    return TRANS ? p[(long long)c * ld + r] : p[(long long)r * ld + c];
}

// Stages the BK-wide slab of A (rows m0.., k0..) as As[k][m] and of B (k0.., n0..) as Bs[k][n].
// 256 threads move 1024 values of each: every thread 4 consecutive values along the operand's
// contiguous dimension (one float4 when VEC). With VEC, the launcher guarantees that the
// contiguous dimension is a multiple of 4 and the pointers are 16-byte aligned, so a group of 4
// is either wholly inside the matrix or wholly outside it.
template <bool TA, bool TB, bool VEC, typename T>
__device__ __forceinline__ void load_tiles(T (*As)[BM + PAD], T (*Bs)[BN + PAD], const T* A, long long lda, const T* B,
                                           long long ldb, int M, int N, int K, int m0, int n0, int k0) {
    const int t = threadIdx.x;
    // A: row-major tiles are 128 rows × 8 k (4 k per thread); transposed ones 8 k × 128 rows.
    {
        int r = TA ? (t % 32) * 4 : t / 2; // first of this thread's 4 values: m index within the tile...
        int k = TA ? t / 32 : (t % 2) * 4; // ...and k index within the tile
        T v[4];
        if constexpr (VEC) {
            bool inside = TA ? (k0 + k < K && m0 + r < M) : (m0 + r < M && k0 + k < K);
            float4 f = make_float4(0.f, 0.f, 0.f, 0.f);
            if (inside) f = TA ? *reinterpret_cast<const float4*>(A + (long long)(k0 + k) * lda + m0 + r)
                               : *reinterpret_cast<const float4*>(A + (long long)(m0 + r) * lda + k0 + k);
            v[0] = f.x; v[1] = f.y; v[2] = f.z; v[3] = f.w;
        } else {
            #pragma unroll
            for (int j = 0; j < 4; ++j)
                v[j] = TA ? load_at<true>(A, lda, m0 + r + j, k0 + k, M, K) : load_at<false>(A, lda, m0 + r, k0 + k + j, M, K);
        }
        #pragma unroll
        for (int j = 0; j < 4; ++j) {
            if constexpr (TA) As[k][r + j] = v[j];
            else As[k + j][r] = v[j];
        }
    }
    // B: row-major tiles are 8 k × 128 cols (4 cols per thread); transposed ones 128 cols × 8 k.
    {
        int c = TB ? t / 2 : (t % 32) * 4;
        int k = TB ? (t % 2) * 4 : t / 32;
        T v[4];
        if constexpr (VEC) {
            bool inside = k0 + k < K && n0 + c < N;
            float4 f = make_float4(0.f, 0.f, 0.f, 0.f);
            if (inside) f = TB ? *reinterpret_cast<const float4*>(B + (long long)(n0 + c) * ldb + k0 + k)
                               : *reinterpret_cast<const float4*>(B + (long long)(k0 + k) * ldb + n0 + c);
            v[0] = f.x; v[1] = f.y; v[2] = f.z; v[3] = f.w;
        } else {
            #pragma unroll
            for (int j = 0; j < 4; ++j)
                v[j] = TB ? load_at<true>(B, ldb, k0 + k + j, n0 + c, K, N) : load_at<false>(B, ldb, k0 + k, n0 + c + j, K, N);
        }
        #pragma unroll
        for (int j = 0; j < 4; ++j) {
            if constexpr (TB) Bs[k + j][c] = v[j];
            else Bs[k][c + j] = v[j];
        }
    }
}

// One block computes a 128×128 tile of C; thread (ty, tx) of the 16×16 grid owns rows
// ty·8.. and columns tx·8.. of it, in 64 registers. The tile is (z, m0, n0): batch entry z and
// row tile m0 come from the entry point's loops (the grid's y and z extents are capped at
// 65,535, so a large batch or M takes several turns per block).
template <bool TA, bool TB, bool VEC, typename T>
__device__ void gemm_blocked(int M, int N, int K, const T* A, long long lda, long long sA, const T* B, long long ldb,
                             long long sB, T* C, long long sC, const T* bias, int has_bias, int z, int m0) {
    __shared__ __align__(16) T As[BK][BM + PAD];
    __shared__ __align__(16) T Bs[BK][BN + PAD];
    A += z * sA;
    B += z * sB;
    C += z * sC;
    const int n0 = blockIdx.x * BN;
    const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
    T acc[8][8];
    #pragma unroll
    for (int i = 0; i < 8; ++i)
        #pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = T(0);
    for (int k0 = 0; k0 < K; k0 += BK) {
        load_tiles<TA, TB, VEC>(As, Bs, A, lda, B, ldb, M, N, K, m0, n0, k0);
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BK; ++k) {
            T a[8], b[8];
            #pragma unroll
            for (int i = 0; i < 8; ++i) a[i] = As[k][ty * 8 + i];
            #pragma unroll
            for (int j = 0; j < 8; ++j) b[j] = Bs[k][tx * 8 + j];
            #pragma unroll
            for (int i = 0; i < 8; ++i)
                #pragma unroll
                for (int j = 0; j < 8; ++j) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
    #pragma unroll
    for (int i = 0; i < 8; ++i) {
        int row = m0 + ty * 8 + i;
        if (row >= M) break;
        #pragma unroll
        for (int j = 0; j < 8; ++j) {
            int col = n0 + tx * 8 + j;
            if (col < N) C[(long long)row * N + col] = acc[i][j] + (has_bias ? bias[col] : T(0));
        }
    }
}

// ---------------------------------------------------------------- 5. TF32 tensor cores

// Rounds to TF32 (round to nearest, ties away), the input format of the tensor cores.
__device__ __forceinline__ float to_tf32(float x) {
    unsigned int r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return __uint_as_float(r);
}

// 256 threads = 8 warps in a 2×4 grid; each warp owns a 64×32 tile of the block's 128×128:
// 4×4 mma tiles of 16×8, 64 accumulators per thread. Fragment layouts (PTX ISA, mma.m16n8k8
// .tf32), with g = lane / 4 and q = lane % 4:
//   A 16×8:  a0 = (g, q)  a1 = (g+8, q)  a2 = (g, q+4)  a3 = (g+8, q+4)
//   B 8×8:   b0 = (q, g)  b1 = (q+4, g)
//   C 16×8:  c0 = (g, 2q) c1 = (g, 2q+1) c2 = (g+8, 2q) c3 = (g+8, 2q+1)
template <bool TA, bool TB, bool VEC>
__device__ void gemm_tf32(int M, int N, int K, const float* A, long long lda, long long sA, const float* B, long long ldb,
                          long long sB, float* C, long long sC, const float* bias, int has_bias, int z, int m0) {
    __shared__ __align__(16) float As[BK][BM + PAD];
    __shared__ __align__(16) float Bs[BK][BN + PAD];
    A += z * sA;
    B += z * sB;
    C += z * sC;
    const int n0 = blockIdx.x * BN;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int wm = (warp / 4) * 64, wn = (warp % 4) * 32;
    const int g = lane / 4, q = lane % 4;
    float acc[4][4][4];
    #pragma unroll
    for (int i = 0; i < 4; ++i)
        #pragma unroll
        for (int j = 0; j < 4; ++j)
            #pragma unroll
            for (int c = 0; c < 4; ++c) acc[i][j][c] = 0.f;
    for (int k0 = 0; k0 < K; k0 += BK) {
        load_tiles<TA, TB, VEC>(As, Bs, A, lda, B, ldb, M, N, K, m0, n0, k0);
        __syncthreads();
        unsigned int a[4][4], b[4][2];
        #pragma unroll
        for (int i = 0; i < 4; ++i) {
            int r = wm + i * 16 + g;
            a[i][0] = __float_as_uint(to_tf32(As[q][r]));
            a[i][1] = __float_as_uint(to_tf32(As[q][r + 8]));
            a[i][2] = __float_as_uint(to_tf32(As[q + 4][r]));
            a[i][3] = __float_as_uint(to_tf32(As[q + 4][r + 8]));
        }
        #pragma unroll
        for (int j = 0; j < 4; ++j) {
            int c = wn + j * 8 + g;
            b[j][0] = __float_as_uint(to_tf32(Bs[q][c]));
            b[j][1] = __float_as_uint(to_tf32(Bs[q + 4][c]));
        }
        #pragma unroll
        for (int i = 0; i < 4; ++i)
            #pragma unroll
            for (int j = 0; j < 4; ++j)
                asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
                             "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                             : "+f"(acc[i][j][0]), "+f"(acc[i][j][1]), "+f"(acc[i][j][2]), "+f"(acc[i][j][3])
                             : "r"(a[i][0]), "r"(a[i][1]), "r"(a[i][2]), "r"(a[i][3]), "r"(b[j][0]), "r"(b[j][1]));
        __syncthreads();
    }
    #pragma unroll
    for (int i = 0; i < 4; ++i)
        #pragma unroll
        for (int j = 0; j < 4; ++j)
            #pragma unroll
            for (int c = 0; c < 4; ++c) {
                int row = m0 + wm + i * 16 + g + (c >= 2 ? 8 : 0);
                int col = n0 + wn + j * 8 + 2 * q + (c & 1);
                if (row < M && col < N) C[(long long)row * N + col] = acc[i][j][c] + (has_bias ? bias[col] : 0.f);
            }
}

// ---------------------------------------------------------------- entry points

#define GEMM_ARGS(T)                                                                                                   \
    int M, int N, int K, const T *A, long long lda, long long sA, const T *B, long long ldb, long long sB, T *C,        \
        long long sC, const T *bias, int has_bias, int batch
#define GEMM_PASS M, N, K, A, lda, sA, B, ldb, sB, C, sC, bias, has_bias
// Every (batch entry, row tile) pair this block owns; every thread of the block takes the same
// turns, so the barriers inside stay uniform.
#define GEMM_TILES for (int z = blockIdx.z; z < batch; z += gridDim.z) for (int m0 = blockIdx.y * BM; m0 < M; m0 += gridDim.y * BM)

#define GEMM_ENTRIES(SUFFIX, TA, TB)                                                                                   \
    extern "C" __global__ void __launch_bounds__(256) gemm_blocked_f32_##SUFFIX(GEMM_ARGS(float)) {                    \
        GEMM_TILES gemm_blocked<TA, TB, false>(GEMM_PASS, z, m0);                                                      \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(256) gemm_blocked_f64_##SUFFIX(GEMM_ARGS(double)) {                   \
        GEMM_TILES gemm_blocked<TA, TB, false>(GEMM_PASS, z, m0);                                                      \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(256) gemm_vec_f32_##SUFFIX(GEMM_ARGS(float)) {                        \
        GEMM_TILES gemm_blocked<TA, TB, true>(GEMM_PASS, z, m0);                                                       \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(256) gemm_tf32_f32_##SUFFIX(GEMM_ARGS(float)) {                       \
        GEMM_TILES gemm_tf32<TA, TB, false>(GEMM_PASS, z, m0);                                                         \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(256) gemm_tf32vec_f32_##SUFFIX(GEMM_ARGS(float)) {                    \
        GEMM_TILES gemm_tf32<TA, TB, true>(GEMM_PASS, z, m0);                                                          \
    }

GEMM_ENTRIES(nn, false, false)
GEMM_ENTRIES(nt, false, true)
GEMM_ENTRIES(tn, true, false)
GEMM_ENTRIES(tt, true, true)
