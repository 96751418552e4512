#ifndef GCNSERVE_SERVER_DECODE_AREA_SHRINK_H_
#define GCNSERVE_SERVER_DECODE_AREA_SHRINK_H_

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <opencv2/core.hpp>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// Header-only, so that every build of the decode path (the sanitizer
// tests' and fuzzers' source lists) has it with image_preprocessor.cc.
// Bit for bit with OpenCV: a * b + c must round twice, never fuse into an
// FMA (which -march with FMA would allow).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

namespace gcnserve {
namespace area_shrink_internal {

// How the cells of one axis cover the source: cell d takes the source
// samples first[d] .. first[d] + count[d] - 1 with weights
// weight[d * stride ...]: the covered fraction of each over the cell's
// width, as float.
struct Axis {
  int stride = 0;  // at least the most samples a cell covers
  std::vector<int> first, count;
  std::vector<float> weight;  // cells x stride
};

// The cover of `to` cells over `from` samples with cells `scale` wide, in
// the steps of OpenCV's INTER_AREA: a partial sample before the cell's
// whole ones and one after count only when over 1e-3 of a sample; the last
// cell may be narrower than `scale`. false (never expected) if a cell
// would take no sample or more than the stride holds.
inline bool Cover(int from, int to, double scale, Axis* axis) {
  // A cell `scale` wide touches at most ceil(scale) + 1 samples.
  axis->stride = static_cast<int>(std::ceil(scale)) + 1;
  axis->first.assign(to, 0);
  axis->count.assign(to, 0);
  axis->weight.assign(static_cast<size_t>(to) * axis->stride, 0.0f);
  for (int d = 0; d < to; ++d) {
    const double start = d * scale;
    const double end = start + scale;
    const double cell = std::min(scale, from - start);
    const int last_whole =
        std::min(static_cast<int>(std::floor(end)), from - 1);
    const int first_whole =
        std::min(static_cast<int>(std::ceil(start)), last_whole);
    float* weights = &axis->weight[static_cast<size_t>(d) * axis->stride];
    int n = 0;
    auto add = [&](int sample, double covered) {
      if (n == 0) axis->first[d] = sample;
      if (n < axis->stride) weights[n] = static_cast<float>(covered);
      ++n;
    };
    if (first_whole - start > 1e-3) {
      add(first_whole - 1, (first_whole - start) / cell);
    }
    for (int s = first_whole; s < last_whole; ++s) add(s, 1.0 / cell);
    if (end - last_whole > 1e-3) {
      add(last_whole, std::min(std::min(end - last_whole, 1.0), cell) / cell);
    }
    if (n == 0 || n > axis->stride) return false;
    axis->count[d] = n;
  }
  return true;
}

// OpenCV's saturate_cast<uchar>(float): to the nearest integer, ties to
// even (cvRound: the SSE conversion under the default rounding mode), then
// clamped. Inline, where std::lrint is a call to libm.
inline int Round(float v) {
#if defined(__SSE2__)
  const int r = _mm_cvtss_si32(_mm_set_ss(v));
#else
  const int r = static_cast<int>(std::lrint(v));
#endif
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

// floats[i] = bytes[i] for n bytes, 16 at a time where SSE2 is there (the
// build's -O2 leaves such loops scalar).
inline void ToFloats(const uchar* bytes, int n, float* floats) {
  int i = 0;
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  for (; i + 16 <= n; i += 16) {
    const __m128i b =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + i));
    const __m128i lo = _mm_unpacklo_epi8(b, zero),
                  hi = _mm_unpackhi_epi8(b, zero);
    _mm_storeu_ps(floats + i, _mm_cvtepi32_ps(_mm_unpacklo_epi16(lo, zero)));
    _mm_storeu_ps(floats + i + 4,
                  _mm_cvtepi32_ps(_mm_unpackhi_epi16(lo, zero)));
    _mm_storeu_ps(floats + i + 8,
                  _mm_cvtepi32_ps(_mm_unpacklo_epi16(hi, zero)));
    _mm_storeu_ps(floats + i + 12,
                  _mm_cvtepi32_ps(_mm_unpackhi_epi16(hi, zero)));
  }
#endif
  for (; i < n; ++i) floats[i] = bytes[i];
}

// One source row across: out[d * C + c] = sum over cell d's taps of
// row[s * C + c] * w, added up in order from the first tap. `floats` is
// the row as float, converted once: most samples serve two cells.
template <int C>  // 1 or 3
inline void Across(const uchar* row, int samples, const Axis& x, int cells,
                   float* floats, float* out) {
  ToFloats(row, samples * C, floats);
  for (int d = 0; d < cells; ++d) {
    const float* from = floats + x.first[d] * C;
    const float* w = &x.weight[static_cast<size_t>(d) * x.stride];
    const int taps = x.count[d];
    // The channels' sums in registers: an array here would go through
    // memory on every tap.
    if constexpr (C == 1) {
      float s0 = from[0] * w[0];
      for (int t = 1; t < taps; ++t) s0 = s0 + from[t] * w[t];
      out[d] = s0;
    } else {
      float s0 = from[0] * w[0], s1 = from[1] * w[0], s2 = from[2] * w[0];
      for (int t = 1; t < taps; ++t) {
        s0 = s0 + from[t * 3] * w[t];
        s1 = s1 + from[t * 3 + 1] * w[t];
        s2 = s2 + from[t * 3 + 2] * w[t];
      }
      out[d * 3] = s0;
      out[d * 3 + 1] = s1;
      out[d * 3 + 2] = s2;
    }
  }
}

template <int C>
inline void Shrink(const cv::Mat& src, int width, int height, const Axis& x,
                   const Axis& y, const float* table, float* planes) {
  const int n = width * C;
  std::vector<float> floats(static_cast<size_t>(src.cols) * C), across(n),
      sum(n);
  int across_row = -1;  // the source row `across` holds
  const size_t plane = static_cast<size_t>(width) * height;
  for (int d = 0; d < height; ++d) {
    const float* beta = &y.weight[static_cast<size_t>(d) * y.stride];
    for (int t = 0; t < y.count[d]; ++t) {
      const int s = y.first[d] + t;
      if (s != across_row) {  // a row on a cell's edge serves both cells
        Across<C>(src.ptr<uchar>(s), src.cols, x, width, floats.data(),
                  across.data());
        across_row = s;
      }
      const float b = beta[t];
      float* __restrict to_sum = sum.data();
      const float* __restrict from = across.data();
      if (t == 0) {
        for (int i = 0; i < n; ++i) to_sum[i] = b * from[i];
      } else {
        for (int i = 0; i < n; ++i) to_sum[i] = to_sum[i] + b * from[i];
      }
    }
    float* to = planes + static_cast<size_t>(d) * width;
    for (int i = 0; i < width; ++i) {
      for (int c = 0; c < C; ++c) {
        to[c * plane + i] = table[c * 256 + Round(sum[i * C + c])];
      }
    }
  }
}

}  // namespace area_shrink_internal

// Steps 5 to 7 of model/gcnserve_model/preprocess.py in one pass for a
// decoded photo: shrinks `src` (8-bit, 1 or 3 channels interleaved) to
// width x height by area, sample for sample what cv::resize with INTER_AREA
// gives (the same weights, summed in the same order in float32, rounded
// the same way; a test holds every sample equal), and writes each resulting
// sample v of channel c as table[c * 256 + v] into plane c of `planes`
// (channels x height x width floats). No image of the source's size is
// written beside it: one row of floats per source row, one per output row.
//
// false, writing nothing, where OpenCV takes another path and so gives other
// samples: the sizes equal, either side growing, or both scales whole
// numbers (OpenCV's integer-area code); the caller resizes with OpenCV then.
// Thread-safe: no shared state.
inline bool AreaShrinkIntoPlanes(const cv::Mat& src, int width, int height,
                                 const float* table, float* planes) {
  if (src.depth() != CV_8U || (src.channels() != 1 && src.channels() != 3) ||
      width < 1 || height < 1 || src.cols < width || src.rows < height ||
      (src.cols == width && src.rows == height)) {
    return false;
  }
  // cv::resize's scales: the inverse of destination over source.
  const double scale_x = 1.0 / (static_cast<double>(width) / src.cols);
  const double scale_y = 1.0 / (static_cast<double>(height) / src.rows);
  // Whole as OpenCV tells it: within DBL_EPSILON of the nearest integer.
  const bool whole_x = std::abs(scale_x - std::lround(scale_x)) < DBL_EPSILON;
  const bool whole_y = std::abs(scale_y - std::lround(scale_y)) < DBL_EPSILON;
  if (whole_x && whole_y) return false;
  area_shrink_internal::Axis x, y;
  if (!area_shrink_internal::Cover(src.cols, width, scale_x, &x) ||
      !area_shrink_internal::Cover(src.rows, height, scale_y, &y)) {
    return false;
  }
  if (src.channels() == 1) {
    area_shrink_internal::Shrink<1>(src, width, height, x, y, table, planes);
  } else {
    area_shrink_internal::Shrink<3>(src, width, height, x, y, table, planes);
  }
  return true;
}

}  // namespace gcnserve

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#endif  // GCNSERVE_SERVER_DECODE_AREA_SHRINK_H_
