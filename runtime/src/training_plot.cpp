#include "runtime/src/training_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "runtime/src/file_io.h"

namespace cnnc::detail {

namespace {

constexpr double kPanelWidth = 460, kPanelHeight = 340;
constexpr double kLeft = 70, kRight = 20, kTop = 58, kBottom = 50;  // margins inside a panel
constexpr char kTrainColor[] = "#1f77b4", kValColor[] = "#ff7f0e";

std::string num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", v);
  return buffer;
}

std::string escape_xml(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// Round tick positions from at or below lo to at or above hi: steps of 1, 2
// or 5 times a power of ten.
std::vector<double> nice_ticks(double lo, double hi, int wanted) {
  double span = hi - lo;
  if (!(span > 0)) span = std::max(std::fabs(hi), 1.0);
  double raw = span / std::max(wanted, 1);
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power * (raw / power <= 1 ? 1 : raw / power <= 2 ? 2 : raw / power <= 5 ? 5 : 10);
  std::vector<double> ticks;
  const double first = std::floor(lo / step), last = std::ceil(hi / step - 1e-9);
  for (double i = first; i <= last && ticks.size() < 50; ++i) {
    ticks.push_back(std::fabs(i) < 0.5 ? 0.0 : i * step);
  }
  return ticks;
}

std::string tick_text(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

struct Series {
  std::string name, color;
  bool dashed;
  std::vector<std::pair<double, double>> points;  // (epoch, value), finite only
};

class Panel {
 public:
  Panel(double x0, const std::string& title, const std::string& y_label)
      : x0_(x0), title_(title), y_label_(y_label) {}
  void add(Series s) {
    if (!s.points.empty()) series_.push_back(std::move(s));
  }
  std::string svg(int epochs) const;

 private:
  double x0_;
  std::string title_, y_label_;
  std::vector<Series> series_;
};

std::string Panel::svg(int epochs) const {
  const double plot_w = kPanelWidth - kLeft - kRight, plot_h = kPanelHeight - kTop - kBottom;
  const double left = x0_ + kLeft, top = kTop, bottom = kTop + plot_h;
  double lo = INFINITY, hi = -INFINITY;
  for (const Series& s : series_) {
    for (const auto& p : s.points) lo = std::min(lo, p.second), hi = std::max(hi, p.second);
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  std::vector<double> y_ticks = nice_ticks(lo, hi, 5);
  const double y_min = std::min(lo, y_ticks.front()), y_max = std::max(hi, y_ticks.back());
  const double y_span = y_max > y_min ? y_max - y_min : 1;
  const double x_max = std::max(epochs, 2);
  auto px = [&](double epoch) { return left + (epoch - 1) / (x_max - 1) * plot_w; };
  auto py = [&](double v) { return bottom - (v - y_min) / y_span * plot_h; };

  std::string out = "<g class=\"panel\">\n";
  out += "<text x=\"" + num(left + plot_w / 2) + "\" y=\"24\" text-anchor=\"middle\" " +
         "font-size=\"15\" font-weight=\"bold\">" + escape_xml(title_) + "</text>\n";
  for (double t : y_ticks) {
    out += "<line x1=\"" + num(left) + "\" y1=\"" + num(py(t)) + "\" x2=\"" + num(left + plot_w) +
           "\" y2=\"" + num(py(t)) + "\" stroke=\"#e0e0e0\"/>\n";
    out += "<text x=\"" + num(left - 6) + "\" y=\"" + num(py(t) + 4) +
           "\" text-anchor=\"end\" font-size=\"11\">" + tick_text(t) + "</text>\n";
  }
  for (double t : nice_ticks(1, x_max, 8)) {
    if (t < 1 || t != std::floor(t)) continue;
    out += "<line x1=\"" + num(px(t)) + "\" y1=\"" + num(bottom) + "\" x2=\"" + num(px(t)) +
           "\" y2=\"" + num(bottom + 5) + "\" stroke=\"black\"/>\n";
    out += "<text x=\"" + num(px(t)) + "\" y=\"" + num(bottom + 18) +
           "\" text-anchor=\"middle\" font-size=\"11\">" + tick_text(t) + "</text>\n";
  }
  out += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(plot_w) +
         "\" height=\"" + num(plot_h) + "\" fill=\"none\" stroke=\"black\"/>\n";
  out += "<text x=\"" + num(left + plot_w / 2) + "\" y=\"" + num(bottom + 38) +
         "\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n";
  out += "<text transform=\"translate(" + num(x0_ + 18) + "," + num(top + plot_h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">" + escape_xml(y_label_) +
         "</text>\n";
  // The legend: one row between the title and the plot.
  double legend_x = left + plot_w / 2 - 75.0 * double(series_.size());
  for (const Series& s : series_) {
    std::string dash = s.dashed ? " stroke-dasharray=\"6,4\"" : "";
    out += "<polyline class=\"series\" data-name=\"" + escape_xml(s.name) + "\" fill=\"none\" " +
           "stroke=\"" + s.color + "\" stroke-width=\"2\"" + dash + " points=\"";
    for (const auto& p : s.points) out += num(px(p.first)) + "," + num(py(p.second)) + " ";
    out += "\"/>\n";
    for (const auto& p : s.points) {
      out += "<circle cx=\"" + num(px(p.first)) + "\" cy=\"" + num(py(p.second)) +
             "\" r=\"3\" fill=\"" + s.color + "\"/>\n";
    }
    const double legend_y = top - 14;
    out += "<line x1=\"" + num(legend_x) + "\" y1=\"" + num(legend_y) + "\" x2=\"" +
           num(legend_x + 24) + "\" y2=\"" + num(legend_y) + "\" stroke=\"" + s.color +
           "\" stroke-width=\"2\"" + dash + "/>\n";
    out += "<text x=\"" + num(legend_x + 30) + "\" y=\"" + num(legend_y + 4) +
           "\" font-size=\"11\">" + escape_xml(s.name) + "</text>\n";
    legend_x += 150;
  }
  return out + "</g>\n";
}

Series series(const std::string& name, const char* color, bool dashed,
              const std::vector<EpochRecord>& history, double EpochRecord::*field, bool val) {
  Series s{name, color, dashed, {}};
  for (const EpochRecord& r : history) {
    if (val && !r.has_val) continue;
    double v = r.*field;
    if (std::isfinite(v)) s.points.push_back({double(r.epoch), v});
  }
  return s;
}

}  // namespace

std::string training_plot_svg(const std::string& title, const std::vector<EpochRecord>& history) {
  int epochs = 1;
  for (const EpochRecord& r : history) epochs = std::max(epochs, r.epoch);
  Panel loss(0, "loss", "cross-entropy loss"), accuracy(kPanelWidth, "accuracy", "accuracy");
  loss.add(series("training loss", kTrainColor, false, history, &EpochRecord::loss, false));
  loss.add(series("validation loss", kValColor, true, history, &EpochRecord::val_loss, true));
  accuracy.add(
      series("training accuracy", kTrainColor, false, history, &EpochRecord::accuracy, false));
  accuracy.add(
      series("validation accuracy", kValColor, true, history, &EpochRecord::val_accuracy, true));
  const double width = 2 * kPanelWidth, height = kPanelHeight + 20;
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" +
         num(height) + "\" viewBox=\"0 0 " + num(width) + " " + num(height) +
         "\" font-family=\"sans-serif\">\n";
  out += "<title>" + escape_xml(title) + ": training history</title>\n";
  out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out += loss.svg(epochs) + accuracy.svg(epochs);
  out += "<text x=\"" + num(width / 2) + "\" y=\"" + num(height - 6) +
         "\" text-anchor=\"middle\" font-size=\"11\" fill=\"#555\">" + escape_xml(title) + ", " +
         std::to_string(history.size()) + " epochs</text>\n";
  return out + "</svg>\n";
}

void write_training_plot(const std::string& path, const std::string& title,
                         const std::vector<EpochRecord>& history) {
  std::string svg = training_plot_svg(title, history);
  write_file_atomic(path, {{svg.data(), svg.size()}});
}

}  // namespace cnnc::detail
