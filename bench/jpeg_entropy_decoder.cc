#include "bench/jpeg_entropy_decoder.h"

#include <csetjmp>
#include <cstdio>
// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

#include <string>

namespace gcnserve {

namespace {

// libjpeg reports errors by calling error_exit, which must not return: jump
// back to EntropyDecodeJpeg with the message.
struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void OnError(j_common_ptr info) {
  auto* errors = reinterpret_cast<ErrorManager*>(info->err);
  (*info->err->format_message)(info, errors->message);
  std::longjmp(errors->jump, 1);
}

}  // namespace

absl::Status EntropyDecodeJpeg(std::string_view jpeg) {
  jpeg_decompress_struct info;
  ErrorManager errors;
  info.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = OnError;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&info);
    return absl::InvalidArgumentError(std::string("not a JPEG libjpeg reads: ") +
                                      errors.message);
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(jpeg.data()),
               static_cast<unsigned long>(jpeg.size()));
  jpeg_read_header(&info, TRUE);
  jpeg_read_coefficients(&info);  // every scan's entropy decoding
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return absl::OkStatus();
}

}  // namespace gcnserve
