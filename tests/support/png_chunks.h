#ifndef GCNSERVE_TESTS_SUPPORT_PNG_CHUNKS_H_
#define GCNSERVE_TESTS_SUPPORT_PNG_CHUNKS_H_

// Hand-made PNG chunks, for the tests of what libpng warns about or refuses
// inside chunks whose structure (length, CRC) is whole.
#include <zlib.h>

#include <cstdint>
#include <string>

namespace gcnserve {

// A chunk of `type` holding `data`, with its CRC right.
inline std::string PngChunk(const std::string& type, const std::string& data) {
  auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  const std::string body = type + data;
  const auto crc = static_cast<uint32_t>(crc32(
      0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
  return be32(static_cast<uint32_t>(data.size())) + body + be32(crc);
}

// `png` with `chunk` right after its IHDR (the signature's 8 bytes and
// IHDR's 25), where ancillary chunks go.
inline std::string WithChunkAfterHeader(std::string png, const std::string& chunk) {
  return png.insert(33, chunk);
}

// An ancillary chunk that fails its CRC: libpng warns, skips it and decodes
// the image ("tEXt: CRC error").
inline std::string TextChunkFailingItsCrc() {
  std::string chunk = PngChunk("tEXt", std::string("Comment\0hello", 13));
  chunk.back() ^= 1;
  return chunk;
}

// `png` (one IDAT chunk) with its first deflate block made of the reserved
// type 3 and the CRC recomputed: the structure is whole, only zlib can tell
// ("invalid block type").
inline std::string WithUninflatableIdat(std::string png) {
  const size_t idat = png.find("IDAT");
  if (idat == std::string::npos || idat < 4) return png;
  uint32_t length = 0;
  for (size_t i = idat - 4; i < idat; ++i) {
    length = length << 8 | static_cast<unsigned char>(png[i]);
  }
  std::string data = png.substr(idat + 4, length);
  data[2] = '\x07';  // after the 2-byte zlib header: final block, type 3
  return png.replace(idat - 4, 12 + length, PngChunk("IDAT", data));
}

}  // namespace gcnserve

#endif  // GCNSERVE_TESTS_SUPPORT_PNG_CHUNKS_H_
