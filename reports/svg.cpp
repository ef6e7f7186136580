#include "reports/svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace g4u::reports {
namespace {

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string tick_label(double v) {
  if (v == 0) return "0";
  double a = std::fabs(v);
  if (a >= 1e4 || a < 1e-3) return fmt::format("{:.2g}", v);
  return fmt::format("{:g}", std::round(v * 1e6) / 1e6);
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  double raw = (hi - lo) / std::max(1, target);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  double first = std::ceil(lo / step - 1e-9);
  for (int i = 0; i < 1000; ++i) {
    double v = (first + i) * step;
    if (v > hi + step * 1e-9) break;
    t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  }
  return t;
}

namespace {

// A text box in chart pixels, for keeping labels apart.
struct Box {
  double x0, y0, x1, y1;
  bool overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

}  // namespace

std::string svg_scatter(const ScatterChart& c) {
  const bool log_x = c.log2_x || c.log10_x;
  auto fx = [&](double x) { return c.log2_x ? std::log2(x) : c.log10_x ? std::log10(x) : x; };
  auto unfx = [&](double v) { return c.log2_x ? std::exp2(v) : c.log10_x ? std::pow(10.0, v) : v; };
  std::vector<ChartPoint> pts;
  for (const auto& p : c.points)
    if (std::isfinite(p.x) && std::isfinite(p.y) && (!log_x || p.x > 0)) pts.push_back(p);
  // Series colours in order of first appearance.
  std::map<std::string, std::string> colour;
  std::vector<std::string> order;
  for (const auto& p : pts)
    if (!colour.count(p.series)) {
      colour[p.series] = kPalette[order.size() % (sizeof(kPalette) / sizeof(kPalette[0]))];
      order.push_back(p.series);
    }
  const double L = 70, R = 170, T = 34, B = 52;
  // The legend (18 px a series) sets the least height.
  const double W = c.width, H = std::max<double>(c.height, T + 8 + 18.0 * static_cast<double>(order.size()) + B);
  const double pw = W - L - R, ph = H - T - B;
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" role=\"img\" "
      "class=\"chart\"><title>{2}</title>\n<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"#fff\"/>\n"
      "<text x=\"{3}\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{2}</text>\n",
      W, H, xml_escape(c.title), L);
  if (pts.empty()) {
    s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"13\" fill=\"#666\">no data</text>\n</svg>", L + pw / 2 - 20, T + ph / 2);
    return s;
  }
  double x0 = fx(pts[0].x), x1 = x0, y0 = pts[0].y, y1 = y0;
  for (const auto& p : pts) {
    x0 = std::min(x0, fx(p.x));
    x1 = std::max(x1, fx(p.x));
    y0 = std::min({y0, p.y, p.y_lo.value_or(p.y)});
    y1 = std::max({y1, p.y, p.y_hi.value_or(p.y)});
  }
  auto pad = [](double& lo, double& hi) {
    double span = hi - lo;
    if (span <= 0) span = std::max(std::fabs(hi), 1.0) * 0.2;
    lo -= span * 0.08;
    hi += span * 0.08;
  };
  pad(x0, x1);
  if (c.y_range && c.y_range->first <= y0 && y1 <= c.y_range->second && c.y_range->first < c.y_range->second) {
    y0 = c.y_range->first;
    y1 = c.y_range->second;
  } else {
    pad(y0, y1);
    bool all_nonneg = std::all_of(pts.begin(), pts.end(), [](const ChartPoint& p) { return p.y_lo.value_or(p.y) >= 0; });
    if (all_nonneg) y0 = std::max(y0, 0.0);
  }
  auto px = [&](double x) { return L + (fx(x) - x0) / (x1 - x0) * pw; };
  auto pxr = [&](double fxv) { return L + (fxv - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return T + ph - (y - y0) / (y1 - y0) * ph; };
  // Axes and grid.
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n", L, T, pw, ph);
  for (double v : nice_ticks(y0, y1)) {
    if (v < y0 || v > y1) continue;
    s += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#ddd\"/>"
                     "<text x=\"{3}\" y=\"{4:.1f}\" font-size=\"11\" text-anchor=\"end\">{5}</text>\n",
                     L, L + pw, py(v), L - 6, py(v) + 4, tick_label(v));
  }
  std::vector<double> xt;
  if (log_x) {
    for (double e = std::ceil(x0); e <= x1; e += 1) xt.push_back(e);
  } else {
    xt = nice_ticks(x0, x1);
  }
  for (double v : xt) {
    if (v < x0 || v > x1) continue;
    s += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#ddd\"/>"
                     "<text x=\"{0:.1f}\" y=\"{3}\" font-size=\"11\" text-anchor=\"middle\">{4}</text>\n",
                     pxr(v), T, T + ph, T + ph + 16, tick_label(log_x ? unfx(v) : v));
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n", L + pw / 2, H - 12,
                   xml_escape(c.x_label + (c.log2_x ? " (log2 scale)" : c.log10_x ? " (log10 scale)" : "")));
  s += fmt::format("<text transform=\"translate(16,{}) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n",
                   T + ph / 2, xml_escape(c.y_label));
  if (c.lines)
    for (const auto& name : order) {
      std::vector<std::pair<double, double>> xy;
      for (const auto& p : pts)
        if (p.series == name) xy.push_back({px(p.x), py(p.y)});
      std::sort(xy.begin(), xy.end());
      std::string path;
      for (const auto& [X, Y] : xy) path += fmt::format("{:.1f},{:.1f} ", X, Y);
      s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", path, colour[name]);
    }
  const double radius = c.lines ? 2 : 5;
  std::string labels;
  // Every point's marker is an obstacle for labels; placed labels become obstacles too.
  std::vector<Box> taken;
  for (const auto& p : pts) taken.push_back({px(p.x) - 5, py(p.y) - 5, px(p.x) + 5, py(p.y) + 5});
  for (const auto& p : pts) {
    const std::string& col = colour[p.series];
    double X = px(p.x), Y = py(p.y);
    if (p.y_lo && p.y_hi && std::isfinite(*p.y_lo) && std::isfinite(*p.y_hi))
      s += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\" stroke-width=\"1.5\"/>"
                       "<line x1=\"{4:.1f}\" x2=\"{5:.1f}\" y1=\"{1:.1f}\" y2=\"{1:.1f}\" stroke=\"{3}\"/>"
                       "<line x1=\"{4:.1f}\" x2=\"{5:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\"/>\n",
                       X, py(*p.y_lo), py(*p.y_hi), col, X - 4, X + 4);
    s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\" fill-opacity=\"0.85\"><title>{}: {} "
                     "(x={}, y={})</title></circle>\n",
                     X, Y, radius, col, xml_escape(p.series), xml_escape(p.label), tick_label(p.x), tick_label(p.y));
    if (p.label.empty()) continue;
    // 10-px text: about 5.6 px a character, 10 px high (baseline at the box's bottom).
    const double w = 5.6 * static_cast<double>(p.label.size()), h = 10;
    const std::vector<std::pair<double, double>> spots = {{X + 7, Y - 2},      {X - 7 - w, Y - 2}, {X - w / 2, Y - 8},
                                                          {X - w / 2, Y + 16}, {X + 7, Y - 10},    {X + 7, Y + 8},
                                                          {X - 7 - w, Y - 10}, {X - 7 - w, Y + 8}};
    for (const auto& [lx, ly] : spots) {
      Box box{lx, ly - h, lx + w, ly};
      if (box.x0 < L || box.x1 > L + pw || box.y0 < T || box.y1 > T + ph) continue;
      if (std::any_of(taken.begin(), taken.end(), [&](const Box& t) { return t.overlaps(box); })) continue;
      taken.push_back(box);
      labels += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\" fill=\"#333\">{}</text>\n", lx, ly,
                            xml_escape(p.label));
      break;
    }
  }
  s += labels;
  for (size_t i = 0; i < order.size(); ++i) {
    double ly = T + 8 + 18.0 * static_cast<double>(i);
    s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"{}\"/><text x=\"{:.1f}\" y=\"{:.1f}\" "
                     "font-size=\"11\">{}</text>\n",
                     L + pw + 16, ly, colour[order[i]], L + pw + 26, ly + 4, xml_escape(order[i]));
  }
  s += "</svg>";
  return s;
}

}  // namespace g4u::reports
