/**
 * A small line chart as SVG text, for docs/bench-compare.svg: both axes logarithmic, one line
 * per series, a legend, axis labels and a title. No dependencies, so the benchmark that draws
 * it cannot break on a charting library's update, and the SVG diffs as text.
 */

export interface Series {
  readonly name: string;
  /** `[x, y]` points, in x order; both must be positive (the axes are logarithmic). */
  readonly points: readonly (readonly [number, number])[];
  /** A reference line rather than a contender (a bound): dashed, in grey, no colour taken. */
  readonly reference?: boolean;
}

export interface LineChart {
  readonly title: string;
  /** A second, smaller title line (the machine and date). */
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
}

const WIDTH = 900;
const HEIGHT = 540;
const PLOT = { left: 90, right: 700, top: 80, bottom: 470 };
/** Distinguishable on white and in greyscale print; the last series (wal-db) gets the first. */
const COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];
const REFERENCE_COLOUR = "#555";
const REFERENCE_DASH = ' stroke-dasharray="7 5"';

const escapeXml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** `1500` → `"1.5k"`, `2000000` → `"2M"`: tick labels short enough for the axis. */
function shortCount(value: number): string {
  if (value >= 1e6) return `${+(value / 1e6).toPrecision(3)}M`;
  if (value >= 1e3) return `${+(value / 1e3).toPrecision(3)}k`;
  return `${+value.toPrecision(3)}`;
}

/** Renders `chart` as a standalone SVG document. */
export function renderLineChart(chart: LineChart): string {
  const points = chart.series.flatMap((s) => s.points);
  const xs = [...new Set(points.map(([x]) => x))].sort((a, b) => a - b);
  const ys = points.map(([, y]) => y);
  // The y axis spans whole decades around the data, so its ticks are round numbers.
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...ys)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...ys)));
  const xMin = xs[0]!;
  const xMax = xs.at(-1)!;
  const xOf = (x: number) =>
    PLOT.left +
    ((Math.log(x) - Math.log(xMin)) / (Math.log(xMax) - Math.log(xMin) || 1)) *
      (PLOT.right - PLOT.left);
  const yOf = (y: number) =>
    PLOT.bottom -
    ((Math.log(y) - Math.log(yMin)) / (Math.log(yMax) - Math.log(yMin))) * (PLOT.bottom - PLOT.top);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="28" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(chart.title)}</text>`,
  ];
  if (chart.subtitle !== undefined) {
    parts.push(
      `<text x="${WIDTH / 2}" y="50" text-anchor="middle" font-size="12" fill="#555">${escapeXml(chart.subtitle)}</text>`,
    );
  }
  // Grid and ticks: every 1, 2 and 5 of each decade on y (labels on 1 and 5), every x value.
  for (let decade = yMin; decade < yMax * 1.0001; decade *= 10) {
    for (const step of [1, 2, 5]) {
      const y = decade * step;
      if (y > yMax * 1.0001) break;
      const at = yOf(y).toFixed(1);
      const major = step === 1;
      parts.push(
        `<line x1="${PLOT.left}" x2="${PLOT.right}" y1="${at}" y2="${at}" stroke="${major ? "#bbb" : "#e5e5e5"}"/>`,
      );
      if (step !== 2) {
        parts.push(
          `<text x="${PLOT.left - 8}" y="${at}" text-anchor="end" dominant-baseline="middle">${shortCount(y)}</text>`,
        );
      }
    }
  }
  for (const x of xs) {
    const at = xOf(x).toFixed(1);
    parts.push(
      `<line x1="${at}" x2="${at}" y1="${PLOT.top}" y2="${PLOT.bottom}" stroke="#e5e5e5"/>`,
      `<text x="${at}" y="${PLOT.bottom + 18}" text-anchor="middle">${shortCount(x)}</text>`,
    );
  }
  parts.push(
    `<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="#333"/>`,
    `<text x="${(PLOT.left + PLOT.right) / 2}" y="${PLOT.bottom + 44}" text-anchor="middle" font-size="13">${escapeXml(chart.xLabel)} (log scale)</text>`,
    `<text transform="translate(24 ${(PLOT.top + PLOT.bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="13">${escapeXml(chart.yLabel)} (log scale)</text>`,
  );
  // Series are drawn last to first, so the last named (the subject) lies on top. Colours go
  // to the contenders from the last one back; reference lines take none.
  const count = chart.series.length;
  let colours = 0;
  for (let index = count - 1; index >= 0; index--) {
    const series = chart.series[index]!;
    const reference = series.reference === true;
    const colour = reference ? REFERENCE_COLOUR : COLOURS[colours++ % COLOURS.length]!;
    const dash = reference ? REFERENCE_DASH : "";
    const width = index === count - 1 ? 3 : 1.8;
    const path = series.points
      .map(([x, y], i) => `${i === 0 ? "M" : "L"}${xOf(x).toFixed(1)},${yOf(y).toFixed(1)}`)
      .join(" ");
    parts.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="${width}"${dash}/>`);
    for (const [x, y] of series.points) {
      parts.push(
        `<circle cx="${xOf(x).toFixed(1)}" cy="${yOf(y).toFixed(1)}" r="3" fill="${colour}"/>`,
      );
    }
    const legendY = PLOT.top + 10 + index * 22;
    parts.push(
      `<line x1="${PLOT.right + 20}" x2="${PLOT.right + 48}" y1="${legendY}" y2="${legendY}" stroke="${colour}" stroke-width="${width}"${dash}/>`,
      `<text x="${PLOT.right + 56}" y="${legendY}" dominant-baseline="middle">${escapeXml(series.name)}</text>`,
    );
  }
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
