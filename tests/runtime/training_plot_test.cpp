// The SVG training curves: structure, series, escaping, odd histories.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "runtime/src/training_plot.h"
#include "tests/runtime/test_support.h"

namespace cnnc::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::vector<EpochRecord> history(int epochs, bool with_val) {
  std::vector<EpochRecord> h;
  for (int e = 1; e <= epochs; ++e) {
    EpochRecord r;
    r.epoch = e;
    r.loss = 2.0 / e;
    r.accuracy = 1 - 0.5 / e;
    r.val_loss = 2.2 / e;
    r.val_accuracy = 1 - 0.6 / e;
    r.has_val = with_val;
    h.push_back(r);
  }
  return h;
}

// The number of points of the series with that data-name (-1 if absent).
int points_of(const std::string& svg, const std::string& name) {
  std::smatch m;
  std::regex series("data-name=\"" + name + "\"[^>]*points=\"([^\"]*)\"");
  if (!std::regex_search(svg, m, series)) return -1;
  std::string points = m[1];
  int n = 0;
  for (char c : points) n += c == ',';
  return n;
}

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(TrainingPlot, TwoPanelsWithFourSeriesAxesAndLegend) {
  std::string svg = detail::training_plot_svg("lenet5", history(5, true));
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_THAT(svg, HasSubstr("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(count_of(svg, "<g class=\"panel\">"), 2);
  EXPECT_EQ(points_of(svg, "training loss"), 5);
  EXPECT_EQ(points_of(svg, "validation loss"), 5);
  EXPECT_EQ(points_of(svg, "training accuracy"), 5);
  EXPECT_EQ(points_of(svg, "validation accuracy"), 5);
  EXPECT_EQ(count_of(svg, ">epoch</text>"), 2);
  EXPECT_THAT(svg, HasSubstr(">cross-entropy loss</text>"));
  EXPECT_THAT(svg, HasSubstr(">validation accuracy</text>"));  // legend
  EXPECT_THAT(svg, HasSubstr(">0.5</text>"));                   // a y tick
  EXPECT_EQ(count_of(svg, "<g"), count_of(svg, "</g>"));
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

TEST(TrainingPlot, NoValidationMeansTwoSeries) {
  std::string svg = detail::training_plot_svg("m", history(3, false));
  EXPECT_EQ(points_of(svg, "training loss"), 3);
  EXPECT_EQ(points_of(svg, "validation loss"), -1);
  EXPECT_EQ(count_of(svg, "<polyline"), 2);
}

TEST(TrainingPlot, EscapesTheTitleAndSkipsNonfiniteValues) {
  std::vector<EpochRecord> h = history(3, false);
  h[1].loss = std::nan("");
  std::string svg = detail::training_plot_svg("a<b&\"c\"", h);
  EXPECT_THAT(svg, HasSubstr("a&lt;b&amp;&quot;c&quot;"));
  EXPECT_THAT(svg, Not(HasSubstr("a<b")));
  EXPECT_EQ(points_of(svg, "training loss"), 2);
  EXPECT_THAT(svg, Not(HasSubstr("nan")));
}

TEST(TrainingPlot, EmptyAndSingleEpochHistoriesAreValid) {
  std::string empty = detail::training_plot_svg("m", {});
  EXPECT_EQ(count_of(empty, "<polyline"), 0);
  EXPECT_THAT(empty, HasSubstr("</svg>"));
  std::string one = detail::training_plot_svg("m", history(1, true));
  EXPECT_EQ(points_of(one, "validation accuracy"), 1);
  EXPECT_THAT(one, Not(HasSubstr("nan")));
  EXPECT_THAT(one, Not(HasSubstr("inf")));
}

TEST(TrainingPlot, FitWritesItBesideTheCheckpoint) {
  TempDir dir;
  FakeNet net;
  Dataset train = make_dataset(20, 4, 4, 1, 3, 1), val = make_dataset(8, 4, 4, 1, 3, 2);
  FitOptions o;
  o.recipe.epochs = 2;
  o.recipe.batch_size = 4;
  o.checkpoint = dir.path("run.safetensors");
  o.verbose = false;
  fit(net, train, &val, o);
  std::vector<char> bytes = read_bytes(dir.path("run.history.svg"));
  std::string svg(bytes.begin(), bytes.end());
  EXPECT_EQ(points_of(svg, "validation loss"), 2);
  EXPECT_FALSE(file_exists(dir.path("run.history.svg.tmp")));
}

}  // namespace
}  // namespace cnnc::testing
