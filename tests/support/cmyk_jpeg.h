#ifndef GCNSERVE_TESTS_SUPPORT_CMYK_JPEG_H_
#define GCNSERVE_TESTS_SUPPORT_CMYK_JPEG_H_

// CMYK and YCCK JPEGs written by libjpeg itself (OpenCV cannot write one),
// for the tests of their decoding.
#include <cstdio>  // jpeglib.h needs FILE
#include <cstdlib>
#include <string>
#include <vector>

#include <jpeglib.h>

namespace gcnserve {

// A `width` x `height` JPEG of 4 components, stored as YCCK when `ycck`
// (libjpeg's jpeg_set_colorspace; an Adobe marker says which). The picture:
// smooth C, M, Y ramps with edges, and K rising down the image.
inline std::string CmykJpeg(int width, int height, bool ycck,
                            bool progressive = false) {
  std::vector<JSAMPLE> cmyk(static_cast<size_t>(width) * height * 4);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      JSAMPLE* p = &cmyk[(static_cast<size_t>(y) * width + x) * 4];
      p[0] = static_cast<JSAMPLE>(255 * x / width);
      p[1] = static_cast<JSAMPLE>(255 * y / height);
      p[2] = static_cast<JSAMPLE>((x * y) % 251);
      p[3] = static_cast<JSAMPLE>(((x / 7 + y / 5) % 2) * 60 + 180 * y / height);
    }
  }
  jpeg_compress_struct cinfo;
  jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = 4;
  cinfo.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  if (ycck) jpeg_set_colorspace(&cinfo, JCS_YCCK);
  jpeg_set_quality(&cinfo, 90, TRUE);
  if (progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = &cmyk[static_cast<size_t>(cinfo.next_scanline) * width * 4];
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::string bytes(reinterpret_cast<const char*>(buffer), size);
  jpeg_destroy_compress(&cinfo);
  std::free(buffer);
  return bytes;
}

}  // namespace gcnserve

#endif  // GCNSERVE_TESTS_SUPPORT_CMYK_JPEG_H_
