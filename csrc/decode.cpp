// gldpose_sdk._decode: fused softmax-expectation decode of bin logits (DESIGN.md section 1).
//
// For each row z[0..B) of logits [N, A, B]:
//   p = softmax(z),  angle = sum_i p_i c_i,  std = sqrt(sum_i p_i (c_i - angle)^2)
// computed in registers/L1 per row: a max pass (with the finiteness check), an exp pass
// e_i = exp(z_i - max), a pass for sum e and sum e*c, then the second moment about the mean
// (no E[c^2] - mean^2 cancellation). The weights e_i are float32 (a hand-written exp that
// vectorises); every sum is double, so results match a float64 reference to ~1e-5 degrees.
//
// Build notes (see CMakeLists.txt): no -ffast-math anywhere (GCC links crtfastmath.o for it,
// which turns on flush-to-zero for the whole Python process). -fopenmp-simd enables the
// `omp simd` reductions below without any OpenMP runtime; -fno-trapping-math lets GCC
// if-convert the clamp in exp_nonpositive. Inner loops use an `int` index: a 64-bit index
// stopped GCC from vectorising them.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "half.hpp"

namespace py = pybind11;

// The row loop is compiled twice on x86-64 Linux with GCC: baseline SSE2 and x86-64-v3
// (AVX2, 8 floats per vector); the loader picks one per CPU (ifunc, glibc only).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__) && \
    defined(__linux__) && defined(__GLIBC__)
#define GLDPOSE_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#define GLDPOSE_INLINE inline __attribute__((always_inline))  // so each clone gets its own copy
#else
#define GLDPOSE_MULTIVERSION
#define GLDPOSE_INLINE inline
#endif

namespace gldpose {
namespace {

// Rows per thread below which threading costs more than it saves (about 0.5 ms of work).
constexpr std::int64_t kRowsPerThread = 4096;
// Auto threading starts at this many rows (N * A), and uses at most kMaxThreads threads.
constexpr std::int64_t kMinRowsToThread = 8192;
constexpr unsigned kMaxThreads = 8;

// exp(x) for x <= 0 in float32, written so GCC can vectorise it (no libm call).
// Cody-Waite reduction x = n ln2 + r, |r| <= ln2 / 2, then a degree-7 Taylor polynomial
// (truncation error < 6e-9 relative, below float rounding). Below -87 the result is 0: such a
// weight is < 2e-38 of the row maximum's weight (exactly 1), invisible in any output.
GLDPOSE_INLINE float exp_nonpositive(float x) {
    const float kLog2e = 1.44269504088896341f;
    const float kLn2Hi = 0.693359375f;     // few mantissa bits: n * kLn2Hi is exact
    const float kLn2Lo = -2.12194440e-4f;  // ln 2 - kLn2Hi
    const float kRound = 12582912.0f;      // 1.5 * 2^23: adding it rounds to an integer
    const float xc = std::max(x, -87.0f);  // keeps 2^n normal; see the mask below
    const float n = (xc * kLog2e + kRound) - kRound;
    const float r = (xc - n * kLn2Hi) - n * kLn2Lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    // 2^n by building the exponent field; n is in [-126, 0], so the result is a normal float.
    const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof(scale));
    const float keep = x >= -87.0f ? 1.0f : 0.0f;  // a multiply, not a branch: vectorises
    return p * scale * keep;
}

// One decode call: a strided [N, A, B] view (byte strides) plus contiguous outputs.
struct Problem {
    const char* data;
    std::int64_t stride_n, stride_a, stride_b;  // bytes, may be negative or zero
    std::int64_t num_a;
    int num_bins;
    bool is_half;
    const double* centres;  // [B]
    float* angles;          // [N * A]
    float* stds;            // [N * A]
    float* probs;           // [N * A * B] or nullptr
};

// Row (n, a) as float32: a pointer into the logits when they are float32, aligned and
// contiguous along bins; otherwise a copy in buf (read through strides, binary16 converted).
GLDPOSE_INLINE const float* load_row(const Problem& pr, std::int64_t n, std::int64_t a,
                                     float* buf) {
    const char* row = pr.data + n * pr.stride_n + a * pr.stride_a;
    const int nb = pr.num_bins;
    if (pr.is_half) {
        for (int i = 0; i < nb; ++i) {
            std::uint16_t h;
            std::memcpy(&h, row + i * pr.stride_b, sizeof(h));
            buf[i] = half_to_float(h);
        }
    } else if (pr.stride_b == static_cast<std::int64_t>(sizeof(float)) &&
               reinterpret_cast<std::uintptr_t>(row) % alignof(float) == 0) {
        return reinterpret_cast<const float*>(row);
    } else {
        for (int i = 0; i < nb; ++i) {
            std::memcpy(&buf[i], row + i * pr.stride_b, sizeof(float));  // may be unaligned
        }
    }
    return buf;
}

// Decode one row held in z; e is scratch of the same length. Returns false if z is not finite.
GLDPOSE_INLINE bool decode_row(const Problem& pr, std::int64_t r, const float* z, float* e) {
    const int nb = pr.num_bins;
    const double* c = pr.centres;
    float zmax = -FLT_MAX;
    int bad = 0;
#pragma omp simd reduction(max : zmax) reduction(| : bad)
    for (int i = 0; i < nb; ++i) {
        bad |= !(std::fabs(z[i]) <= FLT_MAX);  // NaN fails every comparison
        zmax = z[i] > zmax ? z[i] : zmax;
    }
    if (bad) return false;

    // Separate float and double loops, so each vectorises at its own width.
#pragma omp simd
    for (int i = 0; i < nb; ++i) e[i] = exp_nonpositive(z[i] - zmax);
    double s0 = 0.0, s1 = 0.0;
#pragma omp simd reduction(+ : s0, s1)
    for (int i = 0; i < nb; ++i) {
        s0 += e[i];
        s1 += static_cast<double>(e[i]) * c[i];
    }
    const double mean = s1 / s0;  // s0 >= 1: the maximum's weight is exactly 1
    double s2 = 0.0;
#pragma omp simd reduction(+ : s2)
    for (int i = 0; i < nb; ++i) {
        const double d = c[i] - mean;
        s2 += static_cast<double>(e[i]) * d * d;
    }
    pr.angles[r] = static_cast<float>(mean);
    pr.stds[r] = static_cast<float>(std::sqrt(std::max(s2 / s0, 0.0)));
    if (pr.probs != nullptr) {
        float* out = pr.probs + r * nb;
        const float inv = static_cast<float>(1.0 / s0);
        for (int i = 0; i < nb; ++i) out[i] = e[i] * inv;
    }
    return true;
}

// Decode rows [begin, end) (row r is (r / A, r % A)); scratch holds 2 * B floats.
// Returns the first non-finite row, or -1. Stops at that row.
GLDPOSE_MULTIVERSION std::int64_t decode_rows(const Problem& pr, std::int64_t begin,
                                              std::int64_t end, float* scratch) {
    float* buf = scratch;
    float* e = scratch + pr.num_bins;
    std::int64_t n = begin / pr.num_a, a = begin % pr.num_a;  // no division per row
    for (std::int64_t r = begin; r < end; ++r) {
        if (!decode_row(pr, r, load_row(pr, n, a, buf), e)) return r;
        if (++a == pr.num_a) {
            a = 0;
            ++n;
        }
    }
    return -1;
}

unsigned choose_threads(std::int64_t rows, int requested) {
    if (requested > 0) return static_cast<unsigned>(std::max<std::int64_t>(
        1, std::min<std::int64_t>(requested, rows)));
    if (rows < kMinRowsToThread) return 1;
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    const std::int64_t by_work = rows / kRowsPerThread;
    return static_cast<unsigned>(std::min<std::int64_t>({hw, kMaxThreads, by_work}));
}

// Run over all rows, split into equal contiguous chunks; returns the first bad row or -1.
std::int64_t run(const Problem& pr, std::int64_t rows, unsigned threads) {
    std::vector<float> scratch(static_cast<std::size_t>(threads) * 2 * pr.num_bins);
    if (threads <= 1) return decode_rows(pr, 0, rows, scratch.data());
    std::vector<std::int64_t> first_bad(threads, -1);
    std::vector<std::thread> pool;
    pool.reserve(threads - 1);
    const std::int64_t chunk = (rows + threads - 1) / threads;
    for (unsigned t = 0; t < threads; ++t) {
        const std::int64_t begin = std::min<std::int64_t>(rows, t * chunk);
        const std::int64_t end = std::min<std::int64_t>(rows, begin + chunk);
        float* buf = scratch.data() + static_cast<std::size_t>(t) * 2 * pr.num_bins;
        std::int64_t* bad = &first_bad[t];
        auto work = [&pr, begin, end, buf, bad] { *bad = decode_rows(pr, begin, end, buf); };
        if (t + 1 == threads) {
            work();  // the calling thread takes the last chunk
            continue;
        }
        try {
            pool.emplace_back(work);
        } catch (const std::system_error&) {
            work();  // no thread available (resource limit): do this chunk here
        }
    }
    for (auto& th : pool) th.join();
    for (std::int64_t b : first_bad) {
        if (b >= 0) return b;  // chunks are in row order: the first one found is the first row
    }
    return -1;
}

std::string dtype_name(const py::array& arr) { return py::str(arr.dtype()).cast<std::string>(); }

py::array_t<double> checked_centres(const py::object& obj, py::ssize_t num_bins) {
    if (!py::isinstance<py::array>(obj)) {
        throw py::value_error("centres must be a numpy float32 array [bins], got " +
                              py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
    }
    const auto arr = py::reinterpret_borrow<py::array>(obj);
    if (!arr.dtype().equal(py::dtype::of<float>())) {
        throw py::value_error("centres must be float32, got dtype " + dtype_name(arr));
    }
    if (arr.ndim() != 1 || arr.shape(0) != num_bins) {
        std::string shape = "(";
        for (py::ssize_t d = 0; d < arr.ndim(); ++d) shape += std::to_string(arr.shape(d)) + ",";
        throw py::value_error("logits have " + std::to_string(num_bins) +
                              " bins but centres have shape " + shape + ")");
    }
    py::array_t<double> out(num_bins);
    auto src = arr.unchecked<float, 1>();
    double* dst = out.mutable_data();
    for (py::ssize_t i = 0; i < num_bins; ++i) dst[i] = src(i);
    return out;
}

// Logits as decode() takes them: a float32 or float16 numpy array [N, A, B], 1 <= B.
py::array checked_logits(const py::object& logits_obj, bool& is_half) {
    if (!py::isinstance<py::array>(logits_obj)) {
        throw py::value_error(
            "logits must be a numpy array [N, angles, bins], got " +
            py::str(py::type::of(logits_obj).attr("__name__")).cast<std::string>());
    }
    auto logits = py::reinterpret_borrow<py::array>(logits_obj);
    if (logits.ndim() != 3) {
        throw py::value_error("logits must have 3 dimensions [N, angles, bins], got " +
                              std::to_string(logits.ndim()));
    }
    const py::dtype dtype = logits.dtype();
    is_half = dtype.kind() == 'f' && dtype.itemsize() == 2 &&
              dtype.equal(py::dtype("float16"));   // byte order: only then the string compare
    if (!is_half && !dtype.equal(py::dtype::of<float>())) {
        throw py::value_error("logits dtype must be float32 or float16 (native byte order), got " +
                              dtype_name(logits));
    }
    const py::ssize_t b = logits.shape(2);
    if (b < 1 || b > INT_MAX / 2) {
        throw py::value_error("logits must have between 1 and INT_MAX/2 bins, got " +
                              std::to_string(b));
    }
    return logits;
}

// The decode of checked logits with `centres` (double, one per bin): (angles, std[, probs]).
py::tuple decode_checked(const py::array& logits, bool is_half, const double* centres,
                         bool return_probs, int threads) {
    const py::ssize_t n = logits.shape(0), a = logits.shape(1), b = logits.shape(2);
    py::array_t<float> angles({n, a});
    py::array_t<float> stds({n, a});
    py::array_t<float> probs;
    if (return_probs) probs = py::array_t<float>({n, a, b});
    const Problem pr{static_cast<const char*>(logits.data()),
                     logits.strides(0),
                     logits.strides(1),
                     logits.strides(2),
                     a,
                     static_cast<int>(b),
                     is_half,
                     centres,
                     angles.mutable_data(),
                     stds.mutable_data(),
                     return_probs ? probs.mutable_data() : nullptr};
    const std::int64_t rows = static_cast<std::int64_t>(n) * a;
    std::int64_t bad = -1;
    if (rows > 0) {
        const unsigned nt = choose_threads(rows, threads);
        py::gil_scoped_release nogil;
        bad = run(pr, rows, nt);
    }
    if (bad >= 0) {
        throw py::value_error("logits contain NaN or Inf at row n=" + std::to_string(bad / a) +
                              ", angle=" + std::to_string(bad % a) +
                              ": the network output is not usable");
    }
    if (return_probs) return py::make_tuple(angles, stds, probs);
    return py::make_tuple(angles, stds);
}

py::tuple decode(const py::object& logits_obj, const py::object& centres_obj, bool return_probs,
                 int threads) {
    bool is_half = false;
    const py::array logits = checked_logits(logits_obj, is_half);
    if (threads < 0) {
        throw py::value_error("threads must be >= 0 (0: automatic), got " +
                              std::to_string(threads));
    }
    const py::array_t<double> centres = checked_centres(centres_obj, logits.shape(2));
    return decode_checked(logits, is_half, centres.data(), return_probs, threads);
}

// --- decode_mapped: the decode followed by the manifest's expectation map and calibration ---
// Both are piecewise-linear maps through knots (x_k, y_k), x strictly increasing, evaluated as
// np.interp does (its formula in double, the end values held beyond the knots).
struct Knots {
    const double* x;
    const double* y;
    int count;
};

// The right knot of v's segment, in [1, count - 1] (np.searchsorted(x, v, "right"), clipped).
int right_knot(const Knots& k, double v) {
    const int j = static_cast<int>(std::upper_bound(k.x, k.x + k.count, v) - k.x);
    return std::max(std::min(j, k.count - 1), std::min(1, k.count - 1));
}

double interp(const Knots& k, int j, double v) {
    if (v <= k.x[0]) return k.y[0];
    if (v >= k.x[k.count - 1]) return k.y[k.count - 1];
    return (k.y[j] - k.y[j - 1]) / (k.x[j] - k.x[j - 1]) * (v - k.x[j - 1]) + k.y[j - 1];
}

// Knots from a pair (x, y) of 1-D float sequences; `keep` holds the converted arrays.
Knots knots_of(const py::handle& pair, const std::string& what, int min_count,
               std::vector<py::array_t<double>>& keep) {
    const auto seq = py::reinterpret_borrow<py::sequence>(pair);
    if (!py::isinstance<py::sequence>(pair) || py::len(seq) != 2) {
        throw py::value_error(what + " must be a pair (x, y) of knot arrays");
    }
    auto x = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(seq[0]);
    auto y = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(seq[1]);
    if (!x || !y || x.ndim() != 1 || y.ndim() != 1 || x.shape(0) != y.shape(0) ||
        x.shape(0) < min_count || x.shape(0) > 4096) {
        throw py::value_error(what + " must be two 1-D arrays of the same length, " +
                              std::to_string(min_count) + " to 4096 knots");
    }
    const double* xs = x.data();
    const double* ys = y.data();
    for (py::ssize_t i = 0; i < x.shape(0); ++i) {
        if (!std::isfinite(xs[i]) || !std::isfinite(ys[i]) || (i > 0 && xs[i] <= xs[i - 1])) {
            throw py::value_error(what + " knots must be finite with x strictly increasing");
        }
    }
    keep.push_back(x);
    keep.push_back(y);
    return Knots{xs, ys, static_cast<int>(x.shape(0))};
}

// The expectation map (when `map` is given) and the calibration (one Knots per angle, when
// `calibration` is given) applied in place to the decoded angles and stds [rows], with the
// calibrated stds into `cal`.
void apply_maps(float* ang, float* sd, float* cal, py::ssize_t rows, py::ssize_t a,
                const Knots* map, const std::vector<Knots>* calibration) {
    for (py::ssize_t r = 0; r < rows; ++r) {
        if (map != nullptr) {
            const double v = ang[r];
            const int j = right_knot(*map, v);
            const float slope =
                static_cast<float>((map->y[j] - map->y[j - 1]) / (map->x[j] - map->x[j - 1]));
            ang[r] = static_cast<float>(interp(*map, j, v));
            sd[r] = sd[r] * slope;
        }
        if (calibration == nullptr) {
            cal[r] = sd[r];
            continue;
        }
        const Knots& k = (*calibration)[static_cast<size_t>(r % a)];
        const double raw = sd[r];
        cal[r] = static_cast<float>(raw > k.x[k.count - 1] ? raw * (k.y[k.count - 1] /
                                                                      k.x[k.count - 1])
                                                          : interp(k, right_knot(k, raw), raw));
    }
}

void check_calibration_count(size_t count, py::ssize_t a) {
    if (count != static_cast<size_t>(a)) {
        throw py::value_error("std_maps must hold one (raw, calibrated) pair per angle (" +
                              std::to_string(a) + ")");
    }
}

// The calibration's knots from `std_maps` (a sequence of pairs), converted arrays into `keep`.
std::vector<Knots> calibration_of(const py::object& std_maps,
                                  std::vector<py::array_t<double>>& keep) {
    std::vector<Knots> calibration;
    if (std_maps.is_none()) return calibration;
    if (!py::isinstance<py::sequence>(std_maps)) {
        throw py::value_error("std_maps must hold one (raw, calibrated) pair per angle");
    }
    const auto maps = py::reinterpret_borrow<py::sequence>(std_maps);
    for (size_t i = 0; i < py::len(maps); ++i) {
        calibration.push_back(knots_of(maps[i], "std_maps[" + std::to_string(i) + "]", 1, keep));
    }
    return calibration;
}

// (angles, std after the map, calibrated std) from decode()'s (angles, std); `calibration`
// null: none (the calibrated std is the std).
py::tuple mapped(const py::tuple& decoded, const Knots* map,
                 const std::vector<Knots>* calibration) {
    auto angles = decoded[0].cast<py::array_t<float>>();
    auto stds = decoded[1].cast<py::array_t<float>>();
    const py::ssize_t n = angles.shape(0), a = angles.shape(1);
    if (calibration != nullptr) check_calibration_count(calibration->size(), a);
    py::array_t<float> calibrated({n, a});
    apply_maps(angles.mutable_data(), stds.mutable_data(), calibrated.mutable_data(), n * a, a,
               map, calibration);
    return py::make_tuple(angles, stds, calibrated);
}

py::tuple decode_mapped(const py::object& logits, const py::object& centres,
                        const py::object& angle_map, const py::object& std_maps) {
    const py::tuple decoded = decode(logits, centres, false, 0);
    std::vector<py::array_t<double>> keep;
    const bool has_map = !angle_map.is_none();
    const Knots map = has_map ? knots_of(angle_map, "angle_map", 2, keep) : Knots{};
    const std::vector<Knots> calibration = calibration_of(std_maps, keep);
    return mapped(decoded, has_map ? &map : nullptr,
                  std_maps.is_none() ? nullptr : &calibration);
}

// decode_mapped with the centres and knots checked and converted once (a model's decode,
// prepared when it is loaded): a call converts nothing but the logits.
class MappedDecoder {
public:
    MappedDecoder(const py::object& centres, const py::object& angle_map,
                  const py::object& std_maps) {
        if (!py::isinstance<py::array>(centres) ||
            py::reinterpret_borrow<py::array>(centres).ndim() != 1) {
            throw py::value_error("centres must be a numpy float32 array [bins]");
        }
        const py::array_t<double> c =
            checked_centres(centres, py::reinterpret_borrow<py::array>(centres).shape(0));
        centres_.assign(c.data(), c.data() + c.size());
        has_map_ = !angle_map.is_none();
        if (has_map_) map_ = knots_of(angle_map, "angle_map", 2, keep_);
        has_calibration_ = !std_maps.is_none();
        calibration_ = calibration_of(std_maps, keep_);
    }

    py::tuple operator()(const py::object& logits_obj) const {
        bool is_half = false;
        const py::array logits = checked_logits(logits_obj, is_half);
        const py::ssize_t b = logits.shape(2);
        if (b != static_cast<py::ssize_t>(centres_.size())) {
            throw py::value_error("logits have " + std::to_string(b) +
                                  " bins but centres have shape (" +
                                  std::to_string(centres_.size()) + ",)");
        }
        if (has_calibration_) check_calibration_count(calibration_.size(), logits.shape(1));
        return mapped(decode_checked(logits, is_half, centres_.data(), false, 0),
                      has_map_ ? &map_ : nullptr, has_calibration_ ? &calibration_ : nullptr);
    }

private:
    std::vector<double> centres_;
    std::vector<py::array_t<double>> keep_;   // the knots' converted arrays
    bool has_map_ = false;
    Knots map_{};
    bool has_calibration_ = false;
    std::vector<Knots> calibration_;
};

// Test hook: binary16 bit patterns (uint16 array) to float32, through the converter above.
py::array_t<float> half_bits_to_float(const py::array_t<std::uint16_t, py::array::c_style |
                                                                          py::array::forcecast>&
                                          bits) {
    py::array_t<float> out(bits.size());
    const std::uint16_t* src = bits.data();
    float* dst = out.mutable_data();
    for (py::ssize_t i = 0; i < bits.size(); ++i) dst[i] = half_to_float(src[i]);
    return out;
}

}  // namespace
}  // namespace gldpose

PYBIND11_MODULE(_decode, m) {
    m.doc() = "Fused softmax-expectation decode of bin logits into angles and std (degrees).";
    m.def("decode", &gldpose::decode, py::arg("logits"), py::arg("centres"),
          py::arg("return_probs") = false, py::arg("threads") = 0,
          R"doc(Decode logits [N, A, B] (float32 or float16, any strides) with centres [B] float32.

Returns (angles [N, A] float32, std [N, A] float32) in the centres' unit (degrees), plus
probs [N, A, B] float32 when return_probs is true. threads=0 picks automatically (one thread
below 8192 rows); a positive value forces that many. Releases the GIL while decoding.

Raises ValueError for a non-array, wrong rank or dtype, a centres length that does not match B,
or NaN/Inf in the logits (naming the first bad row).)doc");
    m.def("decode_mapped", &gldpose::decode_mapped, py::arg("logits"), py::arg("centres"),
          py::arg("angle_map") = py::none(), py::arg("std_maps") = py::none(),
          R"doc(decode(), then the model's expectation map and std calibration, in one call.

angle_map: None or (expectations, angles), the knots that each angle goes through (the end
values hold beyond them); the std is scaled by the slope of the angle's segment.
std_maps: None or one (raw_std, std) pair of knots per angle: the calibrated std (the first
value below the knots, in proportion to the raw std above them).
Returns (angles [N, A], std [N, A] after the map, calibrated std [N, A]), float32.
Raises ValueError as decode() does, and for knots that are not increasing finite 1-D pairs.)doc");
    py::class_<gldpose::MappedDecoder>(m, "MappedDecoder",
                                        "decode_mapped with its centres and knots fixed.")
        .def(py::init<const py::object&, const py::object&, const py::object&>(),
             py::arg("centres"), py::arg("angle_map") = py::none(),
             py::arg("std_maps") = py::none(),
             R"doc(Check and convert centres [B] float32, angle_map and std_maps (as decode_mapped
takes them) once. Raises ValueError for bad centres or knots.)doc")
        .def("__call__", &gldpose::MappedDecoder::operator(), py::arg("logits"),
             R"doc(decode_mapped(logits, centres, angle_map, std_maps) with the fixed centres and
knots: (angles, std after the map, calibrated std), each [N, A] float32. Raises ValueError as
decode_mapped does.)doc");
    m.def("_half_bits_to_float", &gldpose::half_bits_to_float, py::arg("bits"),
          "Test hook: convert binary16 bit patterns (uint16) to float32 as decode() does.");
}
