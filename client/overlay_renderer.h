#ifndef GCNSERVE_CLIENT_OVERLAY_RENDERER_H_
#define GCNSERVE_CLIENT_OVERLAY_RENDERER_H_

#include <opencv2/core.hpp>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gcnserve/v1/gcnserve.pb.h"

namespace gcnserve {

struct OverlayOptions {
  // Small images are enlarged by a whole factor (nearest neighbour, so the
  // pixels stay honest) until their longer side is at least this many
  // pixels; a 28x28 image becomes 448x448.
  int min_side = 448;
  // Images whose longer side is above this are shrunk to it.
  int max_side = 1024;
  // Each point's strongest edges (to other points) that are drawn; 0 draws
  // none. The heat map always shows the whole matrix.
  int edges_per_node = 3;
  // Classes written under the picture, best first.
  int top_classes = 3;
};

// What Render() drew, and where, so that callers (and tests) can find things
// on the canvas.
struct OverlayPicture {
  cv::Mat canvas;         // 8-bit BGR
  cv::Rect image_area;    // the input image, scaled, with the graph on it
  cv::Rect heatmap_area;  // the adjacency heat map; empty without adjacency
  cv::Rect legend_area;   // the text under them, wrapped to fit inside it
  double scale_x = 1;     // canvas pixels per original-image pixel
  double scale_y = 1;

  // Where the response's point (x, y), in original-image pixels, lies.
  cv::Point2d ToCanvas(double x, double y) const {
    return {image_area.x + x * scale_x, image_area.y + y * scale_y};
  }
};

// Draws what a graph-convolution model looked at: the input image (enlarged
// when small) with the interest points on it, their size by attention score
// and their colour by feature level, the strongest edges of the adjacency
// between them with opacity by weight, the top classes, a legend written
// into the picture (wrapped to its width, never clipped), and a heat map of
// the adjacency matrix beside it.
//
// Stateless and thread-safe.
class OverlayRenderer {
 public:
  explicit OverlayRenderer(const OverlayOptions& options = {});

  // `encoded_image` is the file that was classified. INVALID_ARGUMENT when
  // it does not decode or the response's adjacency is malformed.
  absl::StatusOr<OverlayPicture> Render(
      const std::string& encoded_image,
      const v1::ClassifyResponse& response) const;
  // The same from a decoded 8-bit image (gray, BGR or BGRA).
  absl::StatusOr<OverlayPicture> Render(
      const cv::Mat& image, const v1::ClassifyResponse& response) const;

  // The colour (BGR) of points of feature level `level`.
  static cv::Scalar LevelColor(int level);

 private:
  const OverlayOptions options_;
};

// Writes `picture` as a PNG file.
absl::Status WritePng(const OverlayPicture& picture, const std::string& path);

}  // namespace gcnserve

#endif  // GCNSERVE_CLIENT_OVERLAY_RENDERER_H_
