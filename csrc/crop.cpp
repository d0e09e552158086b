// gldpose_sdk._crop: the manifest's "area_linear" crop filter (preprocess.resize_square) for a
// square region of a BGR frame, in one call, with the crop's brightness statistics.
//
// resize_square("area_linear") is two OpenCV resizes: a whole-factor area average by
// k = side // size (skipped for k = 1), then a bilinear resize to size x size. Training crops go
// through the same function, so the SDK's crop must give the same bytes. This file reproduces
// OpenCV's uint8 arithmetic exactly (checked against cv2 at first use by
// gldpose_sdk.preprocess, and in tests/csrc/test_crop.py on every size the SDK can meet):
//   area, k = 2:  (a + b + c + d + 2) >> 2
//   area, k > 2:  round-half-even(float(sum of the k x k block) * float(1 / k^2))
//   bilinear:     OpenCV's fixed-point path: per axis the source position
//                 fx = float((dx + 0.5) * (1 / (dst / src)) - 0.5), weights
//                 round(2048 * (1 - frac)), round(2048 * frac); horizontally the taps are
//                 clamped to the row (position < 0 or >= last pixel: weight 2048 on the edge),
//                 vertically only the row indices are clamped. Horizontal sums are exact ints
//                 S; the vertical step is OpenCV's vector formula
//                 (((S0 >> 4) * b0 >> 16) + ((S1 >> 4) * b1 >> 16) + 2) >> 2, saturated.
// What it saves is not arithmetic but calls: OpenCV's two resizes, their buffers and thread
// pool, a temporary crop and a separate cv2.meanStdDev pass cost 2-7x their warm time right
// after the network has run (docs/results/latency.md, session 13).

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GLDPOSE_CROP_X86 1
#include <immintrin.h>
#endif

namespace py = pybind11;

namespace gldpose {
namespace {

constexpr int kChannels = 3;
constexpr int kCoefBits = 11;                 // OpenCV's INTER_RESIZE_COEF_BITS
constexpr int kCoefScale = 1 << kCoefBits;    // 2048
// Largest output side accepted (the network input; bounds the scratch memory).
constexpr int kMaxSize = 1024;
// Largest whole shrink factor k = side // size accepted: a block's column sums stay exact in
// uint16 (k * 255) and its sum exact in float (k * k * 255 < 2^24), as OpenCV's own.
constexpr int kMaxFactor = 255;

struct Taps {
    std::vector<int> first;          // first source index (second = first + 1, clamped)
    std::vector<int> second;
    std::vector<std::int32_t> w0;    // weights, w0 + w1 = 2048
    std::vector<std::int32_t> w1;
    std::vector<std::int16_t> pairs;   // per sample: w0, w1, w0, w1, w0, w1, 0, 0 (SIMD rows)
};

// OpenCV's bilinear taps for src -> dst samples along one axis. `clamp_position` is the
// horizontal rule (position outside the row: all weight on the edge pixel); vertically OpenCV
// keeps the weights and clamps only the row indices.
Taps linear_taps(int src, int dst, bool clamp_position) {
    Taps t;
    t.first.resize(dst);
    t.second.resize(dst);
    t.w0.resize(dst);
    t.w1.resize(dst);
    const double scale = 1.0 / (static_cast<double>(dst) / src);
    for (int d = 0; d < dst; ++d) {
        float f = static_cast<float>((d + 0.5) * scale - 0.5);
        int s = static_cast<int>(std::floor(f));
        f -= static_cast<float>(s);
        if (clamp_position) {
            if (s < 0) {
                f = 0.f;
                s = 0;
            }
            if (s >= src - 1) {
                f = 0.f;
                s = src - 1;
            }
        }
        // saturate_cast<short>(float): round half to even
        t.w0[d] = static_cast<std::int32_t>(std::nearbyint((1.f - f) * kCoefScale));
        t.w1[d] = static_cast<std::int32_t>(std::nearbyint(f * kCoefScale));
        const std::int16_t p[8] = {static_cast<std::int16_t>(t.w0[d]),
                                   static_cast<std::int16_t>(t.w1[d]),
                                   static_cast<std::int16_t>(t.w0[d]),
                                   static_cast<std::int16_t>(t.w1[d]),
                                   static_cast<std::int16_t>(t.w0[d]),
                                   static_cast<std::int16_t>(t.w1[d]), 0, 0};
        t.pairs.insert(t.pairs.end(), p, p + 8);
        t.first[d] = std::clamp(s, 0, src - 1);
        t.second[d] = std::clamp(s + 1, 0, src - 1);
    }
    return t;
}

// linear_taps(src, dst, clamp_position), computed once per thread for the last few size pairs
// and then shared: a tracked face's square side repeats from frame to frame, and computing the
// taps costs two libm rounding calls per sample (baseline x86-64 has no rounding instruction).
// Entries are shared pointers, so that replacing one never pulls taps from under a caller.
std::shared_ptr<const Taps> cached_taps(int src, int dst, bool clamp_position) {
    struct Entry {
        int src = -1, dst = -1;
        bool clamp = false;
        std::shared_ptr<const Taps> taps;
    };
    constexpr int kEntries = 8;
    thread_local Entry cache[kEntries];
    thread_local int next = 0;
    for (const Entry& e : cache) {
        if (e.src == src && e.dst == dst && e.clamp == clamp_position) return e.taps;
    }
    Entry& slot = cache[next];
    next = (next + 1) % kEntries;
    slot = Entry{src, dst, clamp_position,
                 std::make_shared<const Taps>(linear_taps(src, dst, clamp_position))};
    return slot.taps;
}

#ifdef GLDPOSE_CROP_X86
bool has_ssse3() {
    static const bool yes = __builtin_cpu_supports("ssse3");
    return yes;
}

// Two output pixels of a 2x area step per SSSE3 step: the 12 bytes of four source pixels of
// each row are paired per channel by pshufb and added by pmaddubsw (x 1), the two rows' sums
// added, rounded and packed. Returns the first output pixel left to the scalar loop (the loads
// stay inside the rows, the 8-byte store inside the output row).
__attribute__((target("ssse3"))) int area2_row_ssse3(const std::uint8_t* a, const std::uint8_t* b,
                                                     int m, std::uint8_t* out) {
    const __m128i pair = _mm_setr_epi8(0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11, -1, -1, -1, -1);
    const __m128i ones = _mm_set1_epi8(1);
    const __m128i two = _mm_set1_epi16(2);
    int x = 0;
    for (; 6 * x + 16 <= 6 * m && 3 * x + 8 <= 3 * m; x += 2) {
        const __m128i sa = _mm_maddubs_epi16(
            _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 6 * x)), pair),
            ones);
        const __m128i sb = _mm_maddubs_epi16(
            _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 6 * x)), pair),
            ones);
        const __m128i v = _mm_srli_epi16(_mm_add_epi16(_mm_add_epi16(sa, sb), two), 2);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 3 * x), _mm_packus_epi16(v, v));
    }
    return x;
}
#endif

// The k x k block sums of one area row, from the k source rows' column sums `acc`
// [k * m * 3], into `sums` [m * 3]. K is the factor at compile time for the common ones
// (unrolled), 0 for any other (runtime k).
template <int K>
void block_sums(const std::uint16_t* __restrict acc, int k, int m,
                std::uint32_t* __restrict sums) {
    if (K != 0) k = K;
    for (int x = 0; x < m; ++x) {
        const std::uint16_t* p = acc + static_cast<std::int64_t>(k) * kChannels * x;
        std::uint32_t s0 = 0, s1 = 0, s2 = 0;
        for (int dx = 0; dx < k; ++dx) {
            s0 += p[3 * dx];
            s1 += p[3 * dx + 1];
            s2 += p[3 * dx + 2];
        }
        sums[kChannels * x] = s0;
        sums[kChannels * x + 1] = s1;
        sums[kChannels * x + 2] = s2;
    }
}

// Block means as OpenCV's INTER_AREA gives them: float(sum) * float(1 / k^2) rounded half to
// even, saturated to a byte. Adding and removing 2^23 rounds a float in 0..2^23 to an integer
// by the FPU's own round-to-nearest-even, as std::nearbyint does in the default mode (which on
// baseline x86-64 is a library call per byte: roundss needs SSE4.1); written this way the loop
// vectorises. The product must round before the addition: the build keeps the compiler from
// fusing them into an FMA (-ffp-contract=off in CMakeLists.txt).
void round_means(const std::uint32_t* __restrict sums, int n, float scale,
                 std::uint8_t* __restrict out) {
    constexpr float kShift = 8388608.f;   // 2^23
    for (int i = 0; i < n; ++i) {
        const float r = (static_cast<float>(static_cast<std::int32_t>(sums[i])) * scale + kShift)
                        - kShift;
        out[i] = static_cast<std::uint8_t>(static_cast<std::int32_t>(std::min(r, 255.f)));
    }
}

// Row y of the means of k x k blocks of a (k*m)-pixel square at `src` (row stride `stride`
// bytes) into `out` (m * 3 bytes), with OpenCV's INTER_AREA rounding. `acc` is scratch of
// k * m * 3 uint16 and `sums` of m * 3 (k > 2 only): the k rows are first added column by
// column (exact: k * 255 fits; contiguous, so the compiler vectorises it), then each block's k
// columns.
void area_row(const std::uint8_t* src, std::int64_t stride, int k, int m, int y,
              std::uint8_t* __restrict out, std::uint16_t* __restrict acc,
              std::uint32_t* __restrict sums, bool simd) {
    const int row = m * kChannels;
    if (k == 2) {
        const std::uint8_t* __restrict a = src + (2 * y) * stride;
        const std::uint8_t* __restrict b = a + stride;
        int x = 0;
#ifdef GLDPOSE_CROP_X86
        if (simd) x = area2_row_ssse3(a, b, m, out);
#else
        (void)simd;
#endif
        for (; x < m; ++x) {
            for (int c = 0; c < kChannels; ++c) {
                const int i = 6 * x + c;
                const int total = a[i] + a[i + 3] + b[i] + b[i + 3];
                out[3 * x + c] = static_cast<std::uint8_t>((total + 2) >> 2);
            }
        }
        return;
    }
    const int width = k * row;   // bytes of the block rows read from each source row
    const std::uint8_t* __restrict first = src + static_cast<std::int64_t>(k) * y * stride;
    for (int i = 0; i < width; ++i) acc[i] = first[i];
    for (int dy = 1; dy < k; ++dy) {
        const std::uint8_t* __restrict line = first + dy * stride;
        for (int i = 0; i < width; ++i) acc[i] = static_cast<std::uint16_t>(acc[i] + line[i]);
    }
    switch (k) {
        case 3: block_sums<3>(acc, k, m, sums); break;
        case 4: block_sums<4>(acc, k, m, sums); break;
        case 5: block_sums<5>(acc, k, m, sums); break;
        case 6: block_sums<6>(acc, k, m, sums); break;
        default: block_sums<0>(acc, k, m, sums); break;
    }
    round_means(sums, row, 1.f / static_cast<float>(k * k), out);
}

// One source row through the horizontal taps: exact integer sums [dst * 3] (+1 spare).
void horizontal_scalar(const std::uint8_t* line, const Taps& tx, int from, int dst,
                       std::int32_t* __restrict sums) {
    for (int d = from; d < dst; ++d) {
        const std::uint8_t* p0 = line + tx.first[d] * kChannels;
        const std::uint8_t* p1 = line + tx.second[d] * kChannels;
        const std::int32_t a0 = tx.w0[d], a1 = tx.w1[d];
        for (int c = 0; c < kChannels; ++c) sums[d * kChannels + c] = p0[c] * a0 + p1[c] * a1;
    }
}

#ifdef GLDPOSE_CROP_X86
// The same with SSSE3, one output pixel per step: a 16-byte load at the first tap holds both
// taps' three bytes; pshufb spreads them into int16 pairs (first, second) per channel, and
// pmaddwd with the pairs (w0, w1) gives the three exact sums. Pixels whose load would pass the
// row's end (`vector_end`) are left to the scalar loop.
__attribute__((target("ssse3"))) void horizontal_ssse3(const std::uint8_t* line, const Taps& tx,
                                                       int vector_end, int dst,
                                                       std::int32_t* __restrict sums) {
    const __m128i spread = _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
    int d = 0;
    for (; d < vector_end; ++d) {
        const __m128i px = _mm_loadu_si128(
            reinterpret_cast<const __m128i*>(line + tx.first[d] * kChannels));
        const __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&tx.pairs[8 * d]));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(sums + d * kChannels),
                         _mm_madd_epi16(_mm_shuffle_epi8(px, spread), w));
    }
    horizontal_scalar(line, tx, d, dst, sums);
}

// The vertical step for one output row (SSE2), 8 bytes per step, with the bytes' sum and sum of
// squares; returns where the scalar tail starts.
int vertical_sse2(const std::int32_t* __restrict s0, const std::int32_t* __restrict s1,
                  std::int32_t b0, std::int32_t b1, int row, std::uint8_t* __restrict out,
                  std::uint64_t& sum, std::uint64_t& sum_sq) {
    const __m128i w0 = _mm_set1_epi16(static_cast<short>(b0));
    const __m128i w1 = _mm_set1_epi16(static_cast<short>(b1));
    const __m128i two = _mm_set1_epi16(2);
    const __m128i zero = _mm_setzero_si128();
    __m128i sad = zero, squares = zero;
    int i = 0;
    for (; i + 8 <= row; i += 8) {
        const __m128i a = _mm_packs_epi32(
            _mm_srai_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s0 + i)), 4),
            _mm_srai_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s0 + i + 4)), 4));
        const __m128i b = _mm_packs_epi32(
            _mm_srai_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s1 + i)), 4),
            _mm_srai_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s1 + i + 4)), 4));
        __m128i v = _mm_add_epi16(_mm_add_epi16(_mm_mulhi_epi16(a, w0), _mm_mulhi_epi16(b, w1)),
                                  two);
        v = _mm_srai_epi16(v, 2);
        const __m128i bytes = _mm_packus_epi16(v, v);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i), bytes);
        sad = _mm_add_epi64(sad, _mm_sad_epu8(bytes, zero));   // both halves hold the 8 bytes
        const __m128i wide = _mm_unpacklo_epi8(bytes, zero);
        squares = _mm_add_epi32(squares, _mm_madd_epi16(wide, wide));
    }
    std::uint32_t q[4];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q), squares);
    sum += static_cast<std::uint64_t>(_mm_cvtsi128_si32(sad));
    sum_sq += static_cast<std::uint64_t>(q[0]) + q[1] + q[2] + q[3];
    return i;
}

#endif

// Bilinear side x side x 3 -> dst x dst x 3 into `out` (contiguous), adding the output bytes and
// their squares to `sum` / `sum_sq`. `row_of(r)` gives source row r (side * 3 bytes), valid
// until its next call: a row of the frame, or a row of the area step made on demand, so the
// shrunk image is never stored whole.
template <class RowOf>
void bilinear(RowOf row_of, int side, int dst, std::uint8_t* __restrict out, std::uint64_t& sum,
              std::uint64_t& sum_sq, bool simd) {
    const std::shared_ptr<const Taps> x_taps = cached_taps(side, dst, true);
    const std::shared_ptr<const Taps> y_taps = cached_taps(side, dst, false);
    const Taps& tx = *x_taps;
    const Taps& ty = *y_taps;
    const int row = dst * kChannels;
    std::vector<std::int32_t> rows(static_cast<size_t>(2 * row + 8));
    std::int32_t* s0 = rows.data();
    std::int32_t* s1 = rows.data() + row + 4;
    // Output pixels whose 16-byte load at the first tap stays inside the source row.
    int vector_end = 0;
    while (vector_end < dst && tx.first[vector_end] * kChannels + 16 <= side * kChannels) {
        ++vector_end;
    }
    auto horizontal = [&](const std::uint8_t* line, std::int32_t* sums) {
#ifdef GLDPOSE_CROP_X86
        if (simd) {
            horizontal_ssse3(line, tx, vector_end, dst, sums);
            return;
        }
#endif
        horizontal_scalar(line, tx, 0, dst, sums);
    };
    int have0 = -1, have1 = -1;   // source rows now held in s0 / s1
    for (int d = 0; d < dst; ++d) {
        const int r0 = ty.first[d], r1 = ty.second[d];
        if (r0 == have1 && r0 != have0) {   // moving down: the old second row is the new first
            std::swap(s0, s1);
            std::swap(have0, have1);
        }
        if (have0 != r0) {
            horizontal(row_of(r0), s0);
            have0 = r0;
        }
        if (have1 != r1) {
            horizontal(row_of(r1), s1);
            have1 = r1;
        }
        const std::int32_t b0 = ty.w0[d], b1 = ty.w1[d];
        std::uint8_t* o = out + static_cast<std::int64_t>(d) * row;
        int i = 0;
#ifdef GLDPOSE_CROP_X86
        if (simd) i = vertical_sse2(s0, s1, b0, b1, row, o, sum, sum_sq);
#endif
        for (; i < row; ++i) {
            const std::int32_t v =
                ((((s0[i] >> 4) * b0) >> 16) + (((s1[i] >> 4) * b1) >> 16) + 2) >> 2;
            const std::uint32_t byte = static_cast<std::uint32_t>(std::clamp(v, 0, 255));
            o[i] = static_cast<std::uint8_t>(byte);
            sum += byte;
            sum_sq += byte * byte;
        }
    }
}

bool simd_available() {
#ifdef GLDPOSE_CROP_X86
    return has_ssse3();
#else
    return false;
#endif
}

// The region's crop into `out` [size, size, 3]; returns (mean, std) of its bytes (0..255), the
// numbers cv2.meanStdDev gives on the crop.
py::tuple area_linear(const py::array& region, int size, py::array& out, bool simd) {
    if (region.ndim() != 3 || region.shape(2) != kChannels ||
        !py::isinstance<py::array_t<std::uint8_t>>(region)) {
        throw py::value_error("region must be a uint8 [side, side, 3] array");
    }
    const py::ssize_t side = region.shape(0);
    if (region.shape(1) != side || side < 1) {
        throw py::value_error("region must be a non-empty square");
    }
    if (region.strides(2) != 1 || region.strides(1) != kChannels || region.strides(0) < side * 3) {
        throw py::value_error("region's pixels must be contiguous within each row");
    }
    if (size < 1 || size > kMaxSize) {
        throw py::value_error("size must be in 1.." + std::to_string(kMaxSize));
    }
    if (side / size > kMaxFactor) {
        throw py::value_error("region shrinks by more than " + std::to_string(kMaxFactor) +
                              " times (side // size); cut it with OpenCV");
    }
    if (out.ndim() != 3 || out.shape(0) != size || out.shape(1) != size ||
        out.shape(2) != kChannels || !py::isinstance<py::array_t<std::uint8_t>>(out) ||
        !(out.flags() & py::array::c_style) || !out.writeable()) {
        throw py::value_error("out must be a writable C-contiguous uint8 [size, size, 3] array");
    }
    const auto* src = static_cast<const std::uint8_t*>(region.data());
    const std::int64_t stride = region.strides(0);
    auto* dst = static_cast<std::uint8_t*>(out.mutable_data());
    std::uint64_t sum = 0, sum_sq = 0;
    simd = simd && simd_available();
    {
        py::gil_scoped_release release;
        const int s = static_cast<int>(side);
        const int k = s / size;
        if (s == size) {   // OpenCV's resize to the same size is a copy
            const int row = size * kChannels;
            for (int y = 0; y < size; ++y) {
                const std::uint8_t* __restrict line = src + y * stride;
                std::uint8_t* __restrict o = dst + static_cast<std::int64_t>(y) * row;
                std::memcpy(o, line, static_cast<size_t>(row));
                std::uint32_t line_sum = 0, line_sq = 0;
                for (int i = 0; i < row; ++i) {
                    line_sum += line[i];
                    line_sq += static_cast<std::uint32_t>(line[i]) * line[i];
                }
                sum += line_sum;
                sum_sq += line_sq;
            }
        } else if (k >= 2) {
            const int m = s / k;
            const std::uint8_t* square = src + (s - k * m) / 2 * (stride + kChannels);
            std::vector<std::uint8_t> line(static_cast<size_t>(m) * kChannels + 16);
            std::vector<std::uint16_t> acc(k > 2 ? static_cast<size_t>(k) * m * kChannels : 0);
            std::vector<std::uint32_t> sums(k > 2 ? static_cast<size_t>(m) * kChannels : 0);
            bilinear(
                [&](int r) {
                    area_row(square, stride, k, m, r, line.data(), acc.data(), sums.data(), simd);
                    return static_cast<const std::uint8_t*>(line.data());
                },
                m, size, dst, sum, sum_sq, simd);
        } else {
            bilinear([&](int r) { return src + r * stride; }, s, size, dst, sum, sum_sq, simd);
        }
    }
    const double n = static_cast<double>(size) * size * kChannels;
    const double mean = static_cast<double>(sum) / n;
    const double var = std::max(static_cast<double>(sum_sq) / n - mean * mean, 0.0);
    return py::make_tuple(mean, std::sqrt(var));
}

}  // namespace
}  // namespace gldpose

PYBIND11_MODULE(_crop, m) {
    m.doc() = "The 'area_linear' crop filter with OpenCV's exact bytes, and the crop's statistics.";
    m.def("area_linear", &gldpose::area_linear, py::arg("region"), py::arg("size"),
          py::arg("out"), py::arg("simd") = true,
          R"doc(Resize a square uint8 BGR region [side, side, 3] (a view into a frame: pixels
contiguous within rows, any row stride) to [size, size, 3] into `out`, as
gldpose_sdk.preprocess.resize_square(region, size, "area_linear") does with OpenCV: a
whole-factor area average by side // size when that is 2 or more (on the centred square it
divides), then bilinear. Returns (mean, std) of the crop's bytes, as cv2.meanStdDev over all of
them. simd=False runs the portable scalar code (what CPUs without SSSE3 and non-x86 builds
run; for tests). Releases the GIL. Raises ValueError for other dtypes, shapes or layouts.)doc");
    m.def("simd_available", &gldpose::simd_available,
          "Whether area_linear runs its SIMD code on this CPU (x86-64 with SSSE3); without it "
          "the scalar code is about 3x slower than OpenCV's own vectorised resize.");
}
