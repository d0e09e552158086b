// IEEE 754 binary16 -> binary32 conversion (numpy's float16 is binary16).
//
// Written out rather than using _Float16: on baseline x86-64 (no F16C) GCC lowers _Float16
// conversions to a libgcc call per element, and MSVC has no _Float16 at all. Every binary16
// value is exactly representable in binary32, so this conversion is exact.
#pragma once

#include <cstdint>
#include <cstring>

namespace gldpose {

inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exponent = (h >> 10) & 0x1fu;
    const std::uint32_t mantissa = h & 0x3ffu;
    std::uint32_t bits;
    if (exponent == 0x1fu) {  // Inf or NaN: keep the payload
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent == 0u) {  // zero or subnormal: mantissa * 2^-24, exact in float
        float value = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
        std::memcpy(&bits, &value, sizeof(bits));
        bits |= sign;
    } else {  // normal: rebias the exponent from 15 to 127
        bits = sign | ((exponent + (127u - 15u)) << 23) | (mantissa << 13);
    }
    float out;
    std::memcpy(&out, &bits, sizeof(out));
    return out;
}

}  // namespace gldpose
