#include "client/overlay_renderer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

// A response for a `width` x `height` image with points at the given places,
// in order, on levels 0, 1, 0, 1, ... and an adjacency that links each point
// to the next one strongly and to the rest weakly.
v1::ClassifyResponse Response(int width, int height,
                              const std::vector<cv::Point2f>& points) {
  v1::ClassifyResponse response;
  response.set_model("model3");
  response.set_version(1);
  response.set_image_width(width);
  response.set_image_height(height);
  auto* best = response.add_classes();
  best->set_index(9);
  best->set_label("Ankle boot");
  best->set_probability(0.9f);
  auto* second = response.add_classes();
  second->set_index(7);
  second->set_label("Sneaker");
  second->set_probability(0.1f);
  const int k = static_cast<int>(points.size());
  for (int i = 0; i < k; ++i) {
    auto* p = response.add_points();
    p->set_x(points[i].x);
    p->set_y(points[i].y);
    p->set_score(1.0f + i);
    p->set_level(i % 2);
  }
  response.mutable_adjacency()->set_size(k);
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < k; ++j) {
      float w = i == j ? 0.5f : (std::abs(i - j) == 1 ? 0.3f : 0.01f);
      response.mutable_adjacency()->add_weights(w);
    }
  }
  return response;
}

std::string EncodedGray(int width, int height, int value) {
  cv::Mat image(height, width, CV_8UC1, cv::Scalar(value));
  std::vector<uchar> png;
  cv::imencode(".png", image, png);
  return std::string(png.begin(), png.end());
}

cv::Vec3b ColorOf(const cv::Scalar& s) {
  return cv::Vec3b(static_cast<uchar>(s[0]), static_cast<uchar>(s[1]),
                   static_cast<uchar>(s[2]));
}

TEST(OverlayRendererTest, SmallImageIsEnlargedByAWholeFactor) {
  std::vector<cv::Point2f> points = {{4, 4}, {20, 6}, {14, 22}, {25, 25}};
  auto picture = OverlayRenderer().Render(EncodedGray(28, 28, 0),
                                          Response(28, 28, points));
  ASSERT_TRUE(picture.ok()) << picture.status();
  EXPECT_EQ(picture->image_area.size(), cv::Size(448, 448));  // x16
  EXPECT_DOUBLE_EQ(picture->scale_x, 16);
  EXPECT_DOUBLE_EQ(picture->scale_y, 16);
  // The heat map sits beside the picture, as tall, inside the canvas.
  EXPECT_EQ(picture->heatmap_area.height, 448);
  EXPECT_EQ(picture->heatmap_area.y, picture->image_area.y);
  EXPECT_GT(picture->heatmap_area.x, picture->image_area.br().x);
  cv::Rect canvas(0, 0, picture->canvas.cols, picture->canvas.rows);
  EXPECT_EQ(picture->heatmap_area & canvas, picture->heatmap_area);
  EXPECT_GT(picture->canvas.rows, picture->image_area.br().y);  // text below
}

TEST(OverlayRendererTest,
     PointsAreDrawnWhereTheResponsePutThemInTheirLevelColour) {
  std::vector<cv::Point2f> points = {{4, 4}, {20, 6}, {14, 22}, {25.5f, 25.5f}};
  v1::ClassifyResponse response = Response(28, 28, points);
  auto picture = OverlayRenderer().Render(EncodedGray(28, 28, 0), response);
  ASSERT_TRUE(picture.ok()) << picture.status();
  for (int i = 0; i < static_cast<int>(points.size()); ++i) {
    cv::Point2d at = picture->ToCanvas(points[i].x, points[i].y);
    EXPECT_NEAR(at.x, picture->image_area.x + points[i].x * 16, 1e-9);
    cv::Vec3b pixel =
        picture->canvas.at<cv::Vec3b>(static_cast<int>(std::lround(at.y)),
                                      static_cast<int>(std::lround(at.x)));
    EXPECT_EQ(pixel, ColorOf(OverlayRenderer::LevelColor(i % 2)))
        << "point " << i << " at " << at;
  }
  // Away from every point and edge the image shows through (black).
  cv::Point2d empty = picture->ToCanvas(2, 26);
  EXPECT_EQ(picture->canvas.at<cv::Vec3b>(static_cast<int>(empty.y),
                                          static_cast<int>(empty.x)),
            cv::Vec3b(0, 0, 0));
}

TEST(OverlayRendererTest, StrongEdgesAreDrawnAndWeakOnesAreNot) {
  // Points on a line; 0-1 and 1-2 are strong, 0-2 weak: with one edge per
  // node, the midpoint of 0-1 is orange-ish, the midpoint of 0-3 is not.
  std::vector<cv::Point2f> points = {{4, 14}, {14, 14}, {24, 14}, {14, 4}};
  OverlayOptions options;
  options.edges_per_node = 1;
  auto picture = OverlayRenderer(options).Render(EncodedGray(28, 28, 0),
                                                 Response(28, 28, points));
  ASSERT_TRUE(picture.ok()) << picture.status();
  auto at = [&](double x, double y) {
    cv::Point2d p = picture->ToCanvas(x, y);
    return picture->canvas.at<cv::Vec3b>(static_cast<int>(std::lround(p.y)),
                                         static_cast<int>(std::lround(p.x)));
  };
  cv::Vec3b edge = at(9, 14);               // between points 0 and 1
  EXPECT_GT(edge[2], 100);                  // red channel of orange
  EXPECT_GT(edge[1], 50);                   // green channel of orange
  EXPECT_LT(edge[0], 40);                   // little blue
  EXPECT_EQ(at(9, 9), cv::Vec3b(0, 0, 0));  // on the weak 0-3 diagonal
}

TEST(OverlayRendererTest, HeatMapShowsTheMatrix) {
  std::vector<cv::Point2f> points = {{4, 4}, {20, 6}, {14, 22}, {25, 25}};
  auto picture = OverlayRenderer().Render(EncodedGray(28, 28, 0),
                                          Response(28, 28, points));
  ASSERT_TRUE(picture.ok());
  const cv::Rect area = picture->heatmap_area;
  auto cell = [&](int i, int j) {
    return picture->canvas.at<cv::Vec3b>(area.y + area.height * (2 * i + 1) / 8,
                                         area.x + area.width * (2 * j + 1) / 8);
  };
  // The diagonal holds the largest weight: the top of the colour map
  // (viridis: yellow, high red and green); a weak cell is dark.
  EXPECT_GT(cell(0, 0)[1], 200);
  EXPECT_GT(cell(2, 2)[2], 200);
  EXPECT_LT(cell(0, 3)[1] + cell(0, 3)[2], cell(0, 0)[1] + cell(0, 0)[2]);
  EXPECT_EQ(cell(0, 1), cell(1, 0));  // symmetric weights, same colour
}

TEST(OverlayRendererTest, LargeImageIsShrunkAndPointsFollow) {
  std::vector<cv::Point2f> points = {{100, 200}, {1500, 900}};
  auto picture = OverlayRenderer().Render(EncodedGray(2000, 1000, 30),
                                          Response(2000, 1000, points));
  ASSERT_TRUE(picture.ok());
  EXPECT_EQ(picture->image_area.size(), cv::Size(1024, 512));
  cv::Point2d at = picture->ToCanvas(1500, 900);
  EXPECT_NEAR(at.x, picture->image_area.x + 1500 * 0.512, 1e-6);
  EXPECT_NEAR(at.y, picture->image_area.y + 900 * 0.512, 1e-6);
}

TEST(OverlayRendererTest, ResponseWithoutGraphHasNoHeatMap) {
  v1::ClassifyResponse response = Response(28, 28, {});
  response.clear_adjacency();
  auto picture = OverlayRenderer().Render(EncodedGray(28, 28, 0), response);
  ASSERT_TRUE(picture.ok());
  EXPECT_TRUE(picture->heatmap_area.empty());
  EXPECT_EQ(picture->image_area.size(), cv::Size(448, 448));
}

// What `--graph` asks for: no points, points without the adjacency, both.
enum class Graph { kNone, kPoints, kFull };

std::string GraphName(Graph graph) {
  switch (graph) {
    case Graph::kNone:
      return "none";
    case Graph::kPoints:
      return "points";
    case Graph::kFull:
      return "full";
  }
  return "?";
}

// A response as the bundled Model3 gives at `graph`: 40 points spread over
// the inside of a `width` x `height` image, on three levels.
v1::ClassifyResponse ModelResponse(int width, int height, Graph graph) {
  std::vector<cv::Point2f> points;
  for (int i = 0; i < 40 && graph != Graph::kNone; ++i) {
    points.push_back({width * (0.15f + 0.7f * (i % 8) / 7),
                      height * (0.15f + 0.7f * (i / 8) / 4)});
  }
  v1::ClassifyResponse response = Response(width, height, points);
  for (int i = 0; i < response.points_size(); ++i) {
    response.mutable_points(i)->set_level(i % 3);
  }
  if (graph != Graph::kFull) response.clear_adjacency();
  return response;
}

bool IsBackground(const cv::Vec3b& pixel) {
  return pixel == cv::Vec3b(255, 255, 255);
}

// Checks that the text under the pictures lies inside legend_area, the
// legend inside the canvas's margins, and its last line (the footer) inside
// the canvas: text that ran past the width would ink the right margin.
void ExpectLegendFits(const OverlayPicture& picture) {
  const cv::Mat& canvas = picture.canvas;
  const cv::Rect legend = picture.legend_area;
  ASSERT_FALSE(legend.empty());
  EXPECT_GE(legend.x, 8);
  EXPECT_LE(legend.br().x, canvas.cols - 8);
  EXPECT_LE(legend.br().y, canvas.rows - 8);
  int outside = 0, inside = 0, lowest = -1;
  for (int y = legend.y; y < canvas.rows; ++y) {
    for (int x = 0; x < canvas.cols; ++x) {
      if (IsBackground(canvas.at<cv::Vec3b>(y, x))) continue;
      if (legend.contains({x, y})) {
        ++inside;
        lowest = y;
      } else {
        ++outside;
      }
    }
  }
  EXPECT_EQ(outside, 0) << "legend pixels outside " << legend << " on a "
                        << canvas.size() << " canvas";
  EXPECT_GT(inside, 0);
  EXPECT_GT(lowest, legend.br().y - 24) << "the last line is not drawn";
}

TEST(OverlayRendererTest, LegendFitsAtEveryGraphSettingAndImageShape) {
  const cv::Size sizes[] = {{28, 28},   {1, 1},       {280, 28},    {28, 280},
                            {64, 48},   {448, 448},   {1024, 1024}, {640, 480},
                            {480, 640}, {4000, 3000}, {3000, 4000}, {5000, 200},
                            {200, 5000}};
  for (Graph graph : {Graph::kNone, Graph::kPoints, Graph::kFull}) {
    for (const cv::Size& size : sizes) {
      SCOPED_TRACE("--graph " + GraphName(graph) + ", " +
                   std::to_string(size.width) + "x" +
                   std::to_string(size.height));
      cv::Mat image(size, CV_8UC1, cv::Scalar(0));
      auto picture = OverlayRenderer().Render(
          image, ModelResponse(size.width, size.height, graph));
      ASSERT_TRUE(picture.ok()) << picture.status();
      ExpectLegendFits(*picture);
    }
  }
}

TEST(OverlayRendererTest, LongWordsAndLabelsAreWrappedNotClipped) {
  v1::ClassifyResponse response = ModelResponse(28, 28, Graph::kPoints);
  response.mutable_classes(0)->set_label(
      "American Staffordshire terrier, Staffordshire bull terrier");
  response.mutable_classes(1)->set_label(std::string(120, 'w'));
  response.set_model(std::string(80, 'm'));
  for (int edges : {0, 3}) {
    OverlayOptions options;
    options.edges_per_node = edges;
    auto picture =
        OverlayRenderer(options).Render(cv::Mat(28, 28, CV_8UC1), response);
    ASSERT_TRUE(picture.ok()) << picture.status();
    ExpectLegendFits(*picture);
    // The title is cut to the header's width, not past it.
    const cv::Mat& canvas = picture->canvas;
    for (int y = 0; y < picture->image_area.y; ++y) {
      for (int x = canvas.cols - 8; x < canvas.cols; ++x) {
        ASSERT_TRUE(IsBackground(canvas.at<cv::Vec3b>(y, x)))
            << "title pixel at " << cv::Point(x, y);
      }
    }
  }
}

TEST(OverlayRendererTest, TitleStopsBeforeTheHeatMapsTitle) {
  v1::ClassifyResponse response = ModelResponse(28, 28, Graph::kFull);
  response.mutable_classes(0)->set_label(
      "American Staffordshire terrier, Staffordshire bull terrier");
  auto picture = OverlayRenderer().Render(cv::Mat(28, 28, CV_8UC1), response);
  ASSERT_TRUE(picture.ok()) << picture.status();
  const cv::Mat& canvas = picture->canvas;
  // Between the picture's right edge and the heat map, above both: blank.
  for (int y = 0; y < picture->image_area.y; ++y) {
    for (int x = picture->image_area.br().x + 20; x < picture->heatmap_area.x;
         ++x) {
      ASSERT_TRUE(IsBackground(canvas.at<cv::Vec3b>(y, x)))
          << "title pixel at " << cv::Point(x, y);
    }
  }
}

TEST(OverlayRendererTest, BadInputsAreErrors) {
  v1::ClassifyResponse response = Response(28, 28, {{1, 1}, {2, 2}});
  auto undecodable =
      OverlayRenderer().Render(std::string("not an image"), response);
  EXPECT_EQ(undecodable.status().code(), absl::StatusCode::kInvalidArgument);
  response.mutable_adjacency()->add_weights(1);  // 5 weights for 2 nodes
  auto malformed = OverlayRenderer().Render(EncodedGray(28, 28, 0), response);
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(malformed.status().message(), HasSubstr("5 weights for 2 nodes"));
}

TEST(OverlayRendererTest, WritesAPngThatDecodesToTheCanvas) {
  std::vector<cv::Point2f> points = {{4, 4}, {20, 6}, {14, 22}};
  auto picture = OverlayRenderer().Render(EncodedGray(28, 28, 80),
                                          Response(28, 28, points));
  ASSERT_TRUE(picture.ok());
  std::string path =
      (std::filesystem::path(testing::TempDir()) / "overlay_test.png").string();
  ASSERT_TRUE(WritePng(*picture, path).ok());
  cv::Mat read = cv::imread(path, cv::IMREAD_COLOR);
  ASSERT_FALSE(read.empty());
  EXPECT_EQ(read.size(), picture->canvas.size());
  EXPECT_EQ(cv::norm(read, picture->canvas, cv::NORM_INF), 0);
  EXPECT_FALSE(WritePng(*picture, "/nonexistent-folder/x.png").ok());
}

}  // namespace
}  // namespace gcnserve
