// Inline SVG charts for self-contained HTML reports (no scripts, no fonts or files fetched).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace g4u::reports {

struct ChartPoint {
  double x = 0, y = 0;
  std::optional<double> y_lo, y_hi;  // error bar (e.g. a 95 % CI)
  std::string series;                // colour + legend entry
  std::string label;                 // text beside the point
};

struct ScatterChart {
  std::string title, x_label, y_label;
  bool log2_x = false;               // x on a log2 axis (bits per weight: 4, 8, 16, 32)
  bool log10_x = false;              // x on a log10 axis (KL divergences over decades)
  std::optional<std::pair<double, double>> y_range;  // fixed y axis (e.g. [0, 1] for accuracies)
  bool lines = false;                // join each series' points in x order (curves: small markers)
  std::vector<ChartPoint> points;
  int width = 560, height = 360;
};

// A complete <svg> element: axes with "nice" ticks, error bars, points with <title> tooltips, a
// legend of the series (the chart grows to hold it). Points with non-finite coordinates (or x <= 0 on
// a log axis) are left out; with no point left the chart says "no data". Point labels are placed
// where they overlap no other label (right, left, above or below the point); a label that fits
// nowhere is left to the point's tooltip.
std::string svg_scatter(const ScatterChart& chart);

// "Nice" tick values (1, 2, 5 x 10^k steps) covering [lo, hi], about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

std::string xml_escape(const std::string& s);

}  // namespace g4u::reports
