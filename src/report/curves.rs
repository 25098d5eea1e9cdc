//! Line charts drawn by our own code: every method's ROC curve and faithfulness curve side by side.

/// One method's curve: its name and its points `(x, y)`, in drawing order.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// The legend entry.
    pub name: String,
    /// The points, joined in order.
    pub points: Vec<(f64, f64)>,
}

/// One chart: title, axis labels, axis ranges, curves, and an optional dashed reference line.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Shown above the plot.
    pub title: String,
    /// Below the x axis.
    pub x_label: String,
    /// Beside the y axis.
    pub y_label: String,
    /// `(min, max)` of the x axis.
    pub x_range: (f64, f64),
    /// `(min, max)` of the y axis; points outside are clamped to the frame so nothing is drawn outside it.
    pub y_range: (f64, f64),
    /// The curves.
    pub curves: Vec<Curve>,
    /// A dashed guide from `(x0, y0)` to `(x1, y1)` (the chance diagonal, or f = 1).
    pub guide: Option<((f64, f64), (f64, f64))>,
}

/// Colour-blind-safe palette (Okabe–Ito), one colour per method in order.
const PALETTE: [&str; 8] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#999999",
];
/// Dash patterns, so curves that lie on top of each other stay distinguishable.
const DASHES: [&str; 4] = ["", "6 3", "2 3", "8 3 2 3"];

const PLOT: f64 = 300.0;
const LEFT: f64 = 64.0;
const TOP: f64 = 56.0;
const GAP: f64 = 90.0;
const LEGEND_ROW: f64 = 20.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A tick label with as few digits as the axis needs.
fn tick_label(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// Draws `charts` side by side with one shared legend (the curves' names, in the first chart's order)
/// under a `title`.
pub fn charts_svg(title: &str, charts: &[Chart]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for chart in charts {
        for curve in &chart.curves {
            if !names.contains(&curve.name.as_str()) {
                names.push(&curve.name);
            }
        }
    }
    let panels = charts.len().max(1) as f64;
    let width = (LEFT + panels * PLOT + (panels - 1.0) * GAP + 40.0)
        .max(40.0 + 8.5 * title.chars().count() as f64);
    let legend_columns = 3usize;
    let legend_rows = names.len().div_ceil(legend_columns);
    let height = TOP + PLOT + 56.0 + legend_rows as f64 * LEGEND_ROW + 16.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{:.1}\" y=\"24\" font-size=\"15\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n",
        width / 2.0,
        escape(title)
    );
    for (index, chart) in charts.iter().enumerate() {
        let left = LEFT + index as f64 * (PLOT + GAP);
        svg.push_str(&panel(chart, left, &names));
    }
    let legend_top = TOP + PLOT + 52.0;
    let column_width = (width - 2.0 * LEFT) / legend_columns as f64;
    for (i, name) in names.iter().enumerate() {
        let x = LEFT + (i % legend_columns) as f64 * column_width;
        let y = legend_top + (i / legend_columns) as f64 * LEGEND_ROW;
        svg.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{}\" stroke-width=\"2.5\" stroke-dasharray=\"{}\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{}</text>\n",
            x + 28.0,
            PALETTE[i % PALETTE.len()],
            DASHES[i % DASHES.len()],
            x + 34.0,
            y + 4.0,
            escape(name)
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// One framed plot with ticks, labels, the guide and the curves.
fn panel(chart: &Chart, left: f64, names: &[&str]) -> String {
    let (x0, x1) = chart.x_range;
    let (y0, y1) = chart.y_range;
    let x_span = if x1 > x0 { x1 - x0 } else { 1.0 };
    let y_span = if y1 > y0 { y1 - y0 } else { 1.0 };
    let px = |x: f64| left + ((x - x0) / x_span).clamp(0.0, 1.0) * PLOT;
    let py = |y: f64| TOP + PLOT - ((y - y0) / y_span).clamp(0.0, 1.0) * PLOT;
    let mut svg = format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\">{}</text>\n\
         <rect x=\"{left:.1}\" y=\"{TOP:.1}\" width=\"{PLOT}\" height=\"{PLOT}\" fill=\"none\" stroke=\"#444\"/>\n",
        left + PLOT / 2.0,
        TOP - 10.0,
        escape(&chart.title)
    );
    for i in 0..=4 {
        let t = i as f64 / 4.0;
        let (x, y) = (x0 + t * x_span, y0 + t * y_span);
        svg.push_str(&format!(
            "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{0:.1}\" y=\"{3:.1}\" font-size=\"11\" text-anchor=\"middle\">{4}</text>\n\
             <line x1=\"{5:.1}\" y1=\"{6:.1}\" x2=\"{7:.1}\" y2=\"{6:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{8:.1}\" y=\"{9:.1}\" font-size=\"11\" text-anchor=\"end\">{10}</text>\n",
            px(x),
            TOP,
            TOP + PLOT,
            TOP + PLOT + 15.0,
            tick_label(x),
            left,
            py(y),
            left + PLOT,
            left - 6.0,
            py(y) + 4.0,
            tick_label(y),
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 {:.1} {:.1})\">{}</text>\n",
        left + PLOT / 2.0,
        TOP + PLOT + 34.0,
        escape(&chart.x_label),
        left - 40.0,
        TOP + PLOT / 2.0,
        left - 40.0,
        TOP + PLOT / 2.0,
        escape(&chart.y_label),
    ));
    if let Some(((gx0, gy0), (gx1, gy1))) = chart.guide {
        svg.push_str(&format!(
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#888\" stroke-dasharray=\"4 4\"/>\n",
            px(gx0),
            py(gy0),
            px(gx1),
            py(gy1)
        ));
    }
    for curve in &chart.curves {
        let index = names.iter().position(|n| *n == curve.name).unwrap_or(0);
        let finite: Vec<String> = curve
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        if finite.is_empty() {
            continue;
        }
        svg.push_str(&format!(
            "<polyline class=\"curve\" data-method=\"{}\" points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-dasharray=\"{}\"/>\n",
            escape(&curve.name),
            finite.join(" "),
            PALETTE[index % PALETTE.len()],
            DASHES[index % DASHES.len()],
        ));
    }
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_polyline_per_curve_inside_the_frame() {
        let chart = Chart {
            title: "ROC".into(),
            x_label: "false positive rate".into(),
            y_label: "true positive rate".into(),
            x_range: (0.0, 1.0),
            y_range: (0.0, 1.0),
            curves: vec![
                Curve {
                    name: "a<b".into(),
                    points: vec![(0.0, 0.0), (0.5, 2.0), (1.0, 1.0)],
                },
                Curve {
                    name: "c".into(),
                    points: vec![(0.0, 0.0), (1.0, 1.0)],
                },
            ],
            guide: Some(((0.0, 0.0), (1.0, 1.0))),
        };
        let svg = charts_svg("t", &[chart]);
        assert_eq!(svg.matches("class=\"curve\"").count(), 2, "{svg}");
        assert!(svg.contains("a&lt;b"), "names are escaped: {svg}");
        // y = 2 lies above the range and is clamped to the top of the frame (y = TOP).
        assert!(
            svg.contains(&format!("{:.1},{:.1}", LEFT + PLOT / 2.0, TOP)),
            "{svg}"
        );
    }
}
