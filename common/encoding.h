// Byte strings and their text forms: base64url (RFC 4648 §5, no padding), standard base64
// (RFC 4648 §4, padded: the alphabet of signed notes and transparency-log checkpoints), hex.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keymgr {

using Bytes = std::vector<uint8_t>;

inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline std::string to_string(const Bytes& b) { return std::string(b.begin(), b.end()); }

std::string base64url_encode(const uint8_t* data, size_t len);
inline std::string base64url_encode(const Bytes& b) { return base64url_encode(b.data(), b.size()); }
inline std::string base64url_encode(std::string_view s) {
  return base64url_encode(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
// Strict: rejects padding, whitespace, the standard alphabet's '+' and '/', and non-canonical
// trailing bits.
std::optional<Bytes> base64url_decode(std::string_view s);

// Standard alphabet, '=' padding to a multiple of 4.
std::string base64_encode(const uint8_t* data, size_t len);
inline std::string base64_encode(const Bytes& b) { return base64_encode(b.data(), b.size()); }
// Strict: exactly the canonical output of base64_encode (length a multiple of 4, padding only at
// the end and only as much as needed, zero trailing bits); rejects whitespace and '-' '_'.
std::optional<Bytes> base64_decode(std::string_view s);

std::string hex_encode(const Bytes& b);
std::optional<Bytes> hex_decode(std::string_view s);

}  // namespace keymgr
