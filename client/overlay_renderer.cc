#include "client/overlay_renderer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace gcnserve {
namespace {

constexpr int kMargin = 16;
constexpr int kGap = 40;           // between the picture and the heat map
constexpr int kHeaderHeight = 44;  // title above the pictures
constexpr int kStrip = 6;          // level strips beside the heat map
constexpr int kColorBarWidth = 14;
constexpr int kColorBarLabels = 56;       // at least, right of the colour bar
constexpr double kScaleLabelScale = 0.4;  // the colour bar's numbers
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr double kTextScale = 0.5;
constexpr double kTitleScale = 0.75;
const cv::Scalar kBackground(255, 255, 255);
const cv::Scalar kText(40, 40, 40);
const cv::Scalar kMuted(110, 110, 110);
// Orange reads on black backgrounds and on white garments, and is apart
// from every level colour.
const cv::Scalar kEdgeColor(0, 150, 255);

std::string Percent(float probability) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f%%", probability * 100);
  return text;
}

std::string Number(double value) {
  char text[24];
  std::snprintf(text, sizeof text, "%.3g", value);
  return text;
}

// A run of text, optionally led by a dot in a level's colour, laid out left
// to right and wrapped to a width.
struct TextItem {
  std::string text;
  int swatch_level = -1;  // >= 0: a dot of this level's colour first
  bool new_line = false;  // start a new line before this item
};

int TextWidth(const std::string& text, double scale = kTextScale,
              int thickness = 1) {
  int baseline = 0;
  return cv::getTextSize(text, kFont, scale, thickness, &baseline).width;
}

// `text`, cut and ended with "..." where it is wider than `width`.
std::string FitToWidth(const std::string& text, int width, double scale,
                       int thickness) {
  if (TextWidth(text, scale, thickness) <= width) return text;
  std::string cut = text;
  while (!cut.empty() && TextWidth(cut + "...", scale, thickness) > width) {
    cut.pop_back();
  }
  return cut + "...";
}

// The smallest and largest weight of `adjacency`, 0 included.
std::pair<float, float> WeightRange(const v1::Adjacency& adjacency) {
  float low = 0, high = 0;
  for (float w : adjacency.weights()) {
    low = std::min(low, w);
    high = std::max(high, w);
  }
  return {low, high};
}

// Splits `text` into pieces no wider than `width`: between words, and inside
// a word only where the word alone is wider than `width`.
std::vector<std::string> BreakToWidth(const std::string& text, int width) {
  std::vector<std::string> pieces;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(start, end - start);
    start = end + 1;
    while (!word.empty()) {
      size_t fits = word.size();
      while (fits > 1 && TextWidth(word.substr(0, fits)) > width) --fits;
      pieces.push_back(word.substr(0, fits));
      word.erase(0, fits);
    }
  }
  return pieces;
}

// The items as the pieces FlowText places: an item that fits on a line stays
// whole (a class and its probability together); a longer one goes word by
// word, so that no piece is wider than a line.
std::vector<TextItem> Pieces(const std::vector<TextItem>& items, int width,
                             int swatch_width) {
  std::vector<TextItem> pieces;
  for (const TextItem& item : items) {
    const int lead = item.swatch_level >= 0 ? swatch_width : 0;
    if (TextWidth(item.text) + lead <= width) {
      pieces.push_back(item);
      continue;
    }
    std::vector<std::string> words = BreakToWidth(item.text, width - lead);
    for (size_t i = 0; i < words.size(); ++i) {
      pieces.push_back(
          {words[i], i == 0 ? item.swatch_level : -1, i == 0 && item.new_line});
    }
  }
  return pieces;
}

// Lays out `items` from `origin` within `width` pixels, never past it; draws
// them when `canvas` is given. Returns the height used.
int FlowText(cv::Mat* canvas, cv::Point origin, int width,
             const std::vector<TextItem>& items) {
  int baseline = 0;
  const int line_height =
      cv::getTextSize("Ag", kFont, kTextScale, 1, &baseline).height + 10;
  const int space = TextWidth(" ");
  const int swatch = line_height / 2 - 2;
  const int swatch_width = swatch * 2 + 4;
  int x = 0, y = 0;
  for (const TextItem& item : Pieces(items, width, swatch_width)) {
    int item_width =
        TextWidth(item.text) + (item.swatch_level >= 0 ? swatch_width : 0);
    if (item.new_line || (x > 0 && x + item_width > width)) {
      x = 0;
      y += line_height;
    }
    if (canvas != nullptr) {
      cv::Point at(origin.x + x, origin.y + y + line_height - 8);
      if (item.swatch_level >= 0) {
        cv::Point center(at.x + swatch, at.y - swatch / 2 - 1);
        cv::circle(*canvas, center, swatch / 2 + 2, cv::Scalar(0, 0, 0),
                   cv::FILLED, cv::LINE_AA);
        cv::circle(*canvas, center, swatch / 2 + 1,
                   OverlayRenderer::LevelColor(item.swatch_level), cv::FILLED,
                   cv::LINE_AA);
        at.x += swatch_width;
      }
      cv::putText(*canvas, item.text, at, kFont, kTextScale, kText, 1,
                  cv::LINE_AA);
    }
    x += item_width + space;
  }
  return y + line_height;
}

// The input as 8-bit BGR, enlarged or shrunk as the options say.
cv::Mat ScaledImage(const cv::Mat& image, const OverlayOptions& options) {
  cv::Mat bgr;
  if (image.channels() == 1) {
    cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR);
  } else if (image.channels() == 4) {
    cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);
  } else {
    bgr = image;
  }
  int longer = std::max(bgr.cols, bgr.rows);
  cv::Mat scaled;
  if (longer < options.min_side) {
    int factor = (options.min_side + longer - 1) / longer;
    cv::resize(bgr, scaled, cv::Size(), factor, factor, cv::INTER_NEAREST);
  } else if (longer > options.max_side) {
    double factor = static_cast<double>(options.max_side) / longer;
    cv::resize(bgr, scaled, cv::Size(), factor, factor, cv::INTER_AREA);
  } else {
    scaled = bgr.clone();
  }
  return scaled;
}

// Draws a line with `alpha` opacity, blending only the pixels near it.
void BlendLine(cv::Mat& canvas, cv::Point2d a, cv::Point2d b,
               const cv::Scalar& color, int thickness, double alpha) {
  cv::Rect box(cv::Point(static_cast<int>(std::floor(std::min(a.x, b.x))),
                         static_cast<int>(std::floor(std::min(a.y, b.y)))),
               cv::Point(static_cast<int>(std::ceil(std::max(a.x, b.x))) + 1,
                         static_cast<int>(std::ceil(std::max(a.y, b.y))) + 1));
  box -= cv::Point(thickness + 1, thickness + 1);
  box += cv::Size(2 * thickness + 2, 2 * thickness + 2);
  box &= cv::Rect(0, 0, canvas.cols, canvas.rows);
  if (box.empty()) return;
  cv::Mat roi = canvas(box);
  cv::Mat layer = roi.clone();
  cv::Point2d offset(box.x, box.y);
  constexpr int kShift = 4;  // sub-pixel precision for cv::line
  auto fixed = [](cv::Point2d p) {
    return cv::Point(static_cast<int>(std::lround(p.x * (1 << kShift))),
                     static_cast<int>(std::lround(p.y * (1 << kShift))));
  };
  cv::line(layer, fixed(a - offset), fixed(b - offset), color, thickness,
           cv::LINE_AA, kShift);
  cv::addWeighted(layer, alpha, roi, 1 - alpha, 0, roi);
}

struct Edge {
  int from, to;
  float weight;
};

// Each node's `per_node` strongest edges to other nodes, each pair once,
// weakest first (so that the strongest are drawn on top).
std::vector<Edge> StrongestEdges(const v1::Adjacency& adjacency, int per_node) {
  const int k = adjacency.size();
  std::map<std::pair<int, int>, float> chosen;
  std::vector<int> order(k);
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < k; ++j) order[j] = j;
    auto weight = [&](int j) { return adjacency.weights(i * k + j); };
    std::sort(order.begin(), order.end(),
              [&](int x, int y) { return weight(x) > weight(y); });
    int taken = 0;
    for (int j : order) {
      if (taken == per_node) break;
      if (j == i || weight(j) <= 0) continue;
      auto key = std::minmax(i, j);
      float& w = chosen[{key.first, key.second}];
      w = std::max(w, weight(j));
      ++taken;
    }
  }
  std::vector<Edge> edges;
  for (const auto& [pair, weight] : chosen) {
    edges.push_back({pair.first, pair.second, weight});
  }
  std::sort(edges.begin(), edges.end(),
            [](const Edge& a, const Edge& b) { return a.weight < b.weight; });
  return edges;
}

void DrawGraph(const v1::ClassifyResponse& response,
               const OverlayOptions& options, OverlayPicture& picture) {
  const auto& points = response.points();
  if (points.empty()) return;
  const v1::Adjacency& adjacency = response.adjacency();
  if (options.edges_per_node > 0 && adjacency.size() == points.size()) {
    std::vector<Edge> edges = StrongestEdges(adjacency, options.edges_per_node);
    // Opacity spans the drawn edges' weights, weakest faint, strongest
    // solid, so that the differences show.
    float weakest = edges.empty() ? 0 : edges.front().weight;
    float strongest = edges.empty() ? 1 : edges.back().weight;
    int thickness = std::max(1, picture.image_area.width / 220);
    for (const Edge& edge : edges) {
      double t = strongest > weakest
                     ? (edge.weight - weakest) / (strongest - weakest)
                     : 1.0;
      double alpha = 0.12 + 0.83 * t;
      BlendLine(picture.canvas,
                picture.ToCanvas(points[edge.from].x(), points[edge.from].y()),
                picture.ToCanvas(points[edge.to].x(), points[edge.to].y()),
                kEdgeColor, thickness, alpha);
    }
  }
  float low = points[0].score(), high = points[0].score();
  for (const auto& p : points) {
    low = std::min(low, p.score());
    high = std::max(high, p.score());
  }
  const int side =
      std::min(picture.image_area.width, picture.image_area.height);
  const double largest = std::max(5.0, side / 36.0);
  const double smallest = std::max(2.0, largest / 3);
  std::vector<int> order(points.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  // Weakest first, so that the points the model cared most about are on top.
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return points[a].score() < points[b].score();
  });
  for (int i : order) {
    const auto& p = points[i];
    double t = high > low ? (p.score() - low) / (high - low) : 0.5;
    int radius =
        static_cast<int>(std::lround(smallest + t * (largest - smallest)));
    cv::Point2d at = picture.ToCanvas(p.x(), p.y());
    cv::Point center(static_cast<int>(std::lround(at.x)),
                     static_cast<int>(std::lround(at.y)));
    cv::circle(picture.canvas, center, radius + 1, cv::Scalar(0, 0, 0),
               cv::FILLED, cv::LINE_AA);
    cv::circle(picture.canvas, center, radius,
               OverlayRenderer::LevelColor(p.level()), cv::FILLED, cv::LINE_AA);
  }
}

void DrawHeatmap(const v1::ClassifyResponse& response,
                 OverlayPicture& picture) {
  const v1::Adjacency& adjacency = response.adjacency();
  const int k = adjacency.size();
  const cv::Rect area = picture.heatmap_area;
  const auto [low, high] = WeightRange(adjacency);
  const float range = high > low ? high - low : 1;
  cv::Mat cells(k, k, CV_8UC1);
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < k; ++j) {
      cells.at<uchar>(i, j) = cv::saturate_cast<uchar>(
          255.0 * (adjacency.weights(i * k + j) - low) / range);
    }
  }
  cv::Mat colored, scaled;
  cv::applyColorMap(cells, colored, cv::COLORMAP_VIRIDIS);
  cv::resize(colored, scaled, area.size(), 0, 0, cv::INTER_NEAREST);
  scaled.copyTo(picture.canvas(area));

  // Each row's and column's point level, in the points' colours.
  const bool levels = response.points_size() == k;
  for (int i = 0; levels && i < k; ++i) {
    int from = area.y + i * area.height / k;
    int to = area.y + (i + 1) * area.height / k;
    cv::Scalar color = OverlayRenderer::LevelColor(response.points(i).level());
    cv::rectangle(
        picture.canvas,
        cv::Rect(area.x - kStrip - 2, from, kStrip, std::max(1, to - from)),
        color, cv::FILLED);
    from = area.x + i * area.width / k;
    to = area.x + (i + 1) * area.width / k;
    cv::rectangle(
        picture.canvas,
        cv::Rect(from, area.y - kStrip - 2, std::max(1, to - from), kStrip),
        color, cv::FILLED);
  }

  // The colour bar with its scale.
  cv::Rect bar(area.br().x + 10, area.y, kColorBarWidth, area.height);
  cv::Mat ramp(bar.height, 1, CV_8UC1);
  for (int y = 0; y < bar.height; ++y) {
    ramp.at<uchar>(y, 0) = cv::saturate_cast<uchar>(
        255.0 * (bar.height - 1 - y) / std::max(1, bar.height - 1));
  }
  cv::Mat ramp_colored, ramp_scaled;
  cv::applyColorMap(ramp, ramp_colored, cv::COLORMAP_VIRIDIS);
  cv::resize(ramp_colored, ramp_scaled, bar.size(), 0, 0, cv::INTER_NEAREST);
  ramp_scaled.copyTo(picture.canvas(bar));
  cv::putText(picture.canvas, Number(high),
              cv::Point(bar.br().x + 4, bar.y + 12), kFont, kScaleLabelScale,
              kText, 1, cv::LINE_AA);
  cv::putText(picture.canvas, Number(low),
              cv::Point(bar.br().x + 4, bar.br().y), kFont, kScaleLabelScale,
              kText, 1, cv::LINE_AA);
}

}  // namespace

OverlayRenderer::OverlayRenderer(const OverlayOptions& options)
    : options_(options) {}

cv::Scalar OverlayRenderer::LevelColor(int level) {
  // BGR; apart from each other, from the orange edges and from gray.
  static const cv::Scalar kColors[] = {
      {235, 100, 20},  // blue
      {60, 20, 220},   // crimson
      {50, 175, 40},   // green
      {200, 40, 200},  // magenta
      {190, 190, 0},   // teal
      {30, 200, 230},  // yellow
  };
  constexpr int kCount = sizeof kColors / sizeof kColors[0];
  return kColors[((level % kCount) + kCount) % kCount];
}

absl::StatusOr<OverlayPicture> OverlayRenderer::Render(
    const std::string& encoded_image,
    const v1::ClassifyResponse& response) const {
  cv::Mat image;
  try {
    image =
        cv::imdecode(cv::Mat(1, static_cast<int>(encoded_image.size()), CV_8UC1,
                             const_cast<char*>(encoded_image.data())),
                     cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(std::string("cannot decode the image: ") +
                                      e.what());
  }
  if (image.empty()) {
    return absl::InvalidArgumentError("cannot decode the image");
  }
  return Render(image, response);
}

absl::StatusOr<OverlayPicture> OverlayRenderer::Render(
    const cv::Mat& image, const v1::ClassifyResponse& response) const {
  if (image.empty() || image.depth() != CV_8U) {
    return absl::InvalidArgumentError("the image must be 8-bit and not empty");
  }
  const v1::Adjacency& adjacency = response.adjacency();
  const int k = adjacency.size();
  if (k < 0 || adjacency.weights_size() != k * k) {
    return absl::InvalidArgumentError(
        "the adjacency has " + std::to_string(adjacency.weights_size()) +
        " weights for " + std::to_string(k) + " nodes");
  }
  cv::Mat scaled = ScaledImage(image, options_);

  // Layout: title on top; picture, then heat map and its colour bar; text
  // below, wrapped to the width.
  OverlayPicture picture;
  picture.image_area =
      cv::Rect(kMargin, kMargin + kHeaderHeight, scaled.cols, scaled.rows);
  int width = picture.image_area.br().x + kMargin;
  if (k > 0) {
    int side = std::max(scaled.rows, 2 * k);
    picture.heatmap_area = cv::Rect(picture.image_area.br().x + kGap,
                                    picture.image_area.y, side, side);
    const auto [low, high] = WeightRange(adjacency);
    const int labels = 4 +
                       std::max(TextWidth(Number(low), kScaleLabelScale),
                                TextWidth(Number(high), kScaleLabelScale)) +
                       kMargin / 2;
    width = picture.heatmap_area.br().x + 10 + kColorBarWidth +
            std::max(kColorBarLabels, labels);
  }
  width = std::max(width, 420);

  std::vector<TextItem> text;
  // One item per class, so that a narrow picture wraps between them.
  text.push_back({"Top classes:"});
  for (int i = 0; i < std::min(options_.top_classes, response.classes_size());
       ++i) {
    const auto& c = response.classes(i);
    text.push_back({" " + std::to_string(i + 1) + ". " + c.label() + " " +
                    Percent(c.probability())});
  }
  if (response.points_size() > 0) {
    std::set<int> levels;
    for (const auto& p : response.points()) levels.insert(p.level());
    text.push_back({std::to_string(response.points_size()) +
                        " interest points: bigger dot = higher attention score;"
                        " colour = feature map:",
                    -1, true});
    for (int level : levels) {
      text.push_back({"level " + std::to_string(level), level});
    }
    if (k > 0 && options_.edges_per_node > 0) {
      text.push_back({"Orange lines: each point's " +
                          std::to_string(options_.edges_per_node) +
                          " strongest edges; more opaque = larger weight.",
                      -1, true});
    }
  } else {
    text.push_back({"No interest points in the response:", -1, true});
    text.push_back({"the model has no graph, or --graph none was asked."});
  }
  if (k > 0) {
    text.push_back({"Right: the adjacency the graph convolutions used, " +
                        std::to_string(k) + "x" + std::to_string(k) +
                        "; row i, column j = weight of edge i-j; strips = "
                        "each point's level.",
                    -1, true});
  }
  char shown[96];
  std::snprintf(shown, sizeof shown, "%s v%lld; %dx%d image shown at x%.3g.",
                response.model().c_str(),
                static_cast<long long>(response.version()), image.cols,
                image.rows, static_cast<double>(scaled.cols) / image.cols);
  text.push_back({shown, -1, true});

  const int text_width = width - 2 * kMargin;
  const int content_bottom =
      std::max(picture.image_area.br().y, picture.heatmap_area.br().y);
  const cv::Point text_origin(kMargin, content_bottom + 12);
  picture.legend_area =
      cv::Rect(text_origin.x, text_origin.y, text_width,
               FlowText(nullptr, text_origin, text_width, text));
  int height = picture.legend_area.br().y + kMargin;
  picture.canvas = cv::Mat(height, width, CV_8UC3, kBackground);
  scaled.copyTo(picture.canvas(picture.image_area));
  picture.scale_x =
      response.image_width() > 0
          ? static_cast<double>(scaled.cols) / response.image_width()
          : static_cast<double>(scaled.cols) / image.cols;
  picture.scale_y =
      response.image_height() > 0
          ? static_cast<double>(scaled.rows) / response.image_height()
          : static_cast<double>(scaled.rows) / image.rows;

  std::string title = response.classes_size() > 0
                          ? response.classes(0).label() + "  " +
                                Percent(response.classes(0).probability())
                          : "no classes";
  // Up to the heat map's title, or the margin.
  const int title_width =
      (k > 0 ? picture.heatmap_area.x - kGap / 2 : width - kMargin) - kMargin;
  title = FitToWidth(title, title_width, kTitleScale, 2);
  cv::putText(picture.canvas, title, cv::Point(kMargin, kMargin + 26), kFont,
              kTitleScale, kText, 2, cv::LINE_AA);
  if (k > 0) {
    cv::putText(picture.canvas, "adjacency",
                cv::Point(picture.heatmap_area.x, kMargin + 26), kFont,
                kTitleScale, kMuted, 1, cv::LINE_AA);
    DrawHeatmap(response, picture);
  }
  DrawGraph(response, options_, picture);
  FlowText(&picture.canvas, text_origin, text_width, text);
  return picture;
}

absl::Status WritePng(const OverlayPicture& picture, const std::string& path) {
  try {
    // zlib level 6: a third of OpenCV's default size, in a few ms.
    if (cv::imwrite(path, picture.canvas, {cv::IMWRITE_PNG_COMPRESSION, 6})) {
      return absl::OkStatus();
    }
  } catch (const cv::Exception& e) {
    return absl::InternalError("cannot write " + path + ": " + e.what());
  }
  return absl::InternalError("cannot write " + path);
}

}  // namespace gcnserve
