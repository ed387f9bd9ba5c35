// SVG charts for Reports/, written by hand (no packages): grouped bar charts (one group per
// category, one bar per series) and line charts (named series of (x, y) points, optional log
// scales), with titles, axis labels, "nice" ticks and a legend. Output is a self-contained SVG
// string with stable formatting, so regenerated reports diff cleanly.

import Foundation

@inline(__always) func pow10(_ x: Double) -> Double { pow(10, x) }

/// Colours of series, in order (colour-blind-safe palette of Okabe and Ito).
let chartPalette = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

/// A grouped bar chart: `categories` along x; for each category one bar per series.
public struct BarChart {
    public struct Series {
        public var name: String
        public var values: [Double] // one per category
        public init(name: String, values: [Double]) { self.name = name; self.values = values }
    }

    public var title: String
    public var yLabel: String
    public var categories: [String]
    public var series: [Series]
    public var width = 720
    public var height = 400
    /// Decimal places of the value printed above each bar (nil: no labels).
    public var valueDecimals: Int? = 1

    public init(title: String, yLabel: String, categories: [String], series: [Series]) {
        self.title = title; self.yLabel = yLabel; self.categories = categories; self.series = series
    }

    public func svg() -> String {
        var canvas = SVGCanvas(width: width, height: height, title: title)
        let plot = canvas.plotArea(legendEntries: series.count > 1 ? series.count : 0)
        let top = series.flatMap(\.values).filter(\.isFinite).max() ?? 1
        let axis = Axis(low: 0, high: max(top, 1e-9) * 1.08, log: false)
        canvas.yAxis(axis, plot: plot, label: yLabel)
        canvas.line(x1: plot.x, y1: plot.bottom, x2: plot.right, y2: plot.bottom, stroke: "#333")
        let groupWidth = plot.width / Double(max(categories.count, 1))
        let barWidth = groupWidth * 0.8 / Double(max(series.count, 1))
        for (c, category) in categories.enumerated() {
            let groupX = plot.x + Double(c) * groupWidth
            canvas.text(category, x: groupX + groupWidth / 2, y: plot.bottom + 18, anchor: "middle")
            for (s, serie) in series.enumerated() where c < serie.values.count {
                let value = serie.values[c]
                guard value.isFinite else { continue }
                let x = groupX + groupWidth * 0.1 + Double(s) * barWidth
                let y = plot.bottom - axis.fraction(value) * plot.height
                canvas.rect(x: x, y: y, width: barWidth * 0.92, height: plot.bottom - y,
                            fill: chartPalette[s % chartPalette.count], tooltip: "\(serie.name) \(category): \(value)")
                if let d = valueDecimals {
                    canvas.text(formatNumber(value, decimals: d), x: x + barWidth * 0.46, y: y - 4, anchor: "middle", size: 10)
                }
            }
        }
        if series.count > 1 { canvas.legend(series.map(\.name), plot: plot, lines: false) }
        return canvas.finish()
    }
}

/// A line chart: named series of (x, y) points, joined in the order given.
public struct LineChart {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) { self.name = name; self.points = points }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var logX = false
    public var logY = false
    public var width = 720
    public var height = 400
    /// Draw a dot on each point (useful for few points).
    public var markers = true

    public init(title: String, xLabel: String, yLabel: String, series: [Series]) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
    }

    public func svg() -> String {
        var canvas = SVGCanvas(width: width, height: height, title: title)
        let plot = canvas.plotArea(legendEntries: series.count)
        let points = series.flatMap(\.points).filter {
            $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) && (!logY || $0.y > 0)
        }
        let xs = points.map(\.x), ys = points.map(\.y)
        let xAxis = Axis(low: xs.min() ?? 0, high: xs.max() ?? 1, log: logX)
        let yAxis = Axis(low: ys.min() ?? 0, high: ys.max() ?? 1, log: logY).padded()
        canvas.yAxis(yAxis, plot: plot, label: yLabel)
        canvas.xAxis(xAxis, plot: plot, label: xLabel)
        for (s, serie) in series.enumerated() {
            let colour = chartPalette[s % chartPalette.count]
            let visible = serie.points.filter {
                $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) && (!logY || $0.y > 0)
            }
            let coordinates = visible.map { p in
                (plot.x + xAxis.fraction(p.x) * plot.width, plot.bottom - yAxis.fraction(p.y) * plot.height)
            }
            canvas.polyline(coordinates, stroke: colour)
            if markers {
                for (p, c) in zip(visible, coordinates) {
                    canvas.circle(x: c.0, y: c.1, r: 2.5, fill: colour, tooltip: "\(serie.name): (\(p.x), \(p.y))")
                }
            }
        }
        if !series.isEmpty { canvas.legend(series.map(\.name), plot: plot, lines: true) }
        return canvas.finish()
    }
}

// MARK: - Axes and ticks

/// A linear or logarithmic axis from `low` to `high`.
struct Axis {
    var low: Double
    var high: Double
    var log: Bool

    init(low: Double, high: Double, log: Bool) {
        var lo = low, hi = high
        if log { lo = Swift.max(lo, 1e-300); hi = Swift.max(hi, lo) }
        if hi <= lo { let pad = lo == 0 ? 1 : Swift.abs(lo) * 0.1; lo -= log ? 0 : pad; hi += pad }
        self.low = lo; self.high = hi; self.log = log
    }

    /// 5 % room above and below (linear axes).
    func padded() -> Axis {
        if log { return Axis(low: low / 1.1, high: high * 1.1, log: true) }
        let pad = (high - low) * 0.05
        return Axis(low: low - pad, high: high + pad, log: false)
    }

    /// Position of `v` on the axis, 0 at `low`, 1 at `high`.
    func fraction(_ v: Double) -> Double {
        if log { return (log10(v) - log10(low)) / (log10(high) - log10(low)) }
        return (v - low) / (high - low)
    }

    /// Tick values: 1-2-5 steps for linear axes, powers of ten for log axes.
    func ticks(target: Int = 6) -> [Double] {
        if log {
            var result: [Double] = []
            var p = pow10(floor(log10(low)))
            while p <= high * 1.0001 {
                if p >= low * 0.9999 { result.append(p) }
                p *= 10
            }
            return result.isEmpty ? [low, high] : result
        }
        let raw = (high - low) / Double(target)
        let magnitude = pow10(floor(log10(raw)))
        let step = [1.0, 2.0, 5.0, 10.0].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var v = ceil(low / step) * step
        var result: [Double] = []
        while v <= high + step * 1e-9 {
            result.append(Swift.abs(v) < step * 1e-9 ? 0 : v)
            v += step
        }
        return result
    }
}

/// Short decimal text of `v` with at most `decimals` decimal places (trailing zeros dropped);
/// scientific notation for very large or small magnitudes.
public func formatNumber(_ v: Double, decimals: Int) -> String {
    guard v.isFinite else { return "\(v)" }
    if Swift.abs(v) >= 1e7 || (Swift.abs(v) < 1e-3 && v != 0) { return String(format: "%.2e", v) }
    var s = String(format: "%.\(Swift.max(0, decimals))f", v)
    if s.contains(".") {
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
    }
    return s == "-0" ? "0" : s
}

// MARK: - Canvas

/// The drawing surface: collects SVG elements as text.
struct SVGCanvas {
    struct Plot {
        var x: Double, y: Double, width: Double, height: Double
        var right: Double { x + width }
        var bottom: Double { y + height }
    }

    let width: Int
    let height: Int
    var body: [String] = []

    init(width: Int, height: Int, title: String) {
        self.width = width
        self.height = height
        body.append("<rect width=\"\(width)\" height=\"\(height)\" fill=\"white\"/>")
        text(title, x: Double(width) / 2, y: 22, anchor: "middle", size: 15, weight: "bold")
    }

    /// Plot rectangle inside margins for axis labels, the title and a legend on the right.
    func plotArea(legendEntries: Int) -> Plot {
        let legendWidth = legendEntries > 0 ? 170.0 : 0
        return Plot(x: 70, y: 40, width: Double(width) - 70 - 20 - legendWidth, height: Double(height) - 40 - 55)
    }

    mutating func yAxis(_ axis: Axis, plot: Plot, label: String) {
        line(x1: plot.x, y1: plot.y, x2: plot.x, y2: plot.bottom, stroke: "#333")
        for t in axis.ticks() {
            let y = plot.bottom - axis.fraction(t) * plot.height
            line(x1: plot.x, y1: y, x2: plot.right, y2: y, stroke: "#e5e5e5")
            line(x1: plot.x - 4, y1: y, x2: plot.x, y2: y, stroke: "#333")
            text(formatNumber(t, decimals: 3), x: plot.x - 7, y: y + 4, anchor: "end", size: 11)
        }
        body.append("<text x=\"16\" y=\"\(fmt(plot.y + plot.height / 2))\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(fmt(plot.y + plot.height / 2)))\">\(escapeXML(label))</text>")
    }

    mutating func xAxis(_ axis: Axis, plot: Plot, label: String) {
        line(x1: plot.x, y1: plot.bottom, x2: plot.right, y2: plot.bottom, stroke: "#333")
        for t in axis.ticks() {
            let x = plot.x + axis.fraction(t) * plot.width
            line(x1: x, y1: plot.y, x2: x, y2: plot.bottom, stroke: "#f0f0f0")
            line(x1: x, y1: plot.bottom, x2: x, y2: plot.bottom + 4, stroke: "#333")
            text(formatNumber(t, decimals: 3), x: x, y: plot.bottom + 17, anchor: "middle", size: 11)
        }
        text(label, x: plot.x + plot.width / 2, y: plot.bottom + 38, anchor: "middle", size: 12)
    }

    mutating func legend(_ names: [String], plot: Plot, lines: Bool) {
        let x = plot.right + 15
        for (i, name) in names.enumerated() {
            let y = plot.y + 10 + Double(i) * 20
            let colour = chartPalette[i % chartPalette.count]
            if lines { line(x1: x, y1: y - 4, x2: x + 18, y2: y - 4, stroke: colour, width: 2.5) }
            else { rect(x: x, y: y - 10, width: 14, height: 12, fill: colour, tooltip: nil) }
            text(name, x: x + 24, y: y, anchor: "start", size: 12)
        }
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1) {
        body.append("<line x1=\"\(fmt(x1))\" y1=\"\(fmt(y1))\" x2=\"\(fmt(x2))\" y2=\"\(fmt(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(fmt(width))\"/>")
    }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, tooltip: String?) {
        let tip = tooltip.map { "<title>\(escapeXML($0))</title>" } ?? ""
        body.append("<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(width))\" height=\"\(fmt(Swift.max(height, 0)))\" fill=\"\(fill)\">\(tip)</rect>")
    }

    mutating func circle(x: Double, y: Double, r: Double, fill: String, tooltip: String?) {
        let tip = tooltip.map { "<title>\(escapeXML($0))</title>" } ?? ""
        body.append("<circle cx=\"\(fmt(x))\" cy=\"\(fmt(y))\" r=\"\(fmt(r))\" fill=\"\(fill)\">\(tip)</circle>")
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String) {
        guard points.count > 1 else { return }
        let list = points.map { "\(fmt($0.0)),\(fmt($0.1))" }.joined(separator: " ")
        body.append("<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"2\"/>")
    }

    mutating func text(_ s: String, x: Double, y: Double, anchor: String, size: Int = 12, weight: String = "normal") {
        body.append("<text x=\"\(fmt(x))\" y=\"\(fmt(y))\" font-size=\"\(size)\" font-weight=\"\(weight)\" text-anchor=\"\(anchor)\">\(escapeXML(s))</text>")
    }

    func finish() -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" font-family=\"Helvetica, Arial, sans-serif\">\n"
            + body.joined(separator: "\n") + "\n</svg>\n"
    }

    /// Coordinates with one decimal.
    func fmt(_ v: Double) -> String { formatNumber(v, decimals: 1) }
}

func escapeXML(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(c)
        }
    }
    return out
}
