// A small SVG line chart (baseline vs phase), attached to findings as evidence. Written by
// hand: a few dozen lines beat a charting dependency for two series of a few hundred points.

export interface Series {
  name: string;
  /** [x, y] points; x in seconds from the start of the window. */
  points: [number, number][];
  color?: string;
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  yLabel: string;
  xLabel?: string;
  width?: number;
  height?: number;
  /** Horizontal reference lines (e.g. the threshold). */
  marks?: { y: number; label: string }[];
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Round step (1, 2, 5 x 10^n) for about `n` ticks over `span`. */
export function niceStep(span: number, n = 5): number {
  if (!(span > 0)) return 1;
  const raw = span / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

const fmt = (v: number) => (Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(Math.abs(v) >= 10 ? 1 : 2));

/** Pure: the SVG document of a line chart. */
export function svgLineChart(series: Series[], o: ChartOptions): string {
  const W = o.width ?? 640;
  const H = o.height ?? 320;
  const m = { l: 60, r: 20, t: 36, b: 56 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const ys = [...all.map((p) => p[1]), ...(o.marks ?? []).map((k) => k.y)];
  const xMax = Math.max(1, ...all.map((p) => p[0]));
  let yMin = Math.min(0, ...ys);
  let yMax = Math.max(...ys, yMin + 1);
  const ystep = niceStep(yMax - yMin);
  yMin = Math.floor(yMin / ystep) * ystep;
  yMax = Math.ceil(yMax / ystep) * ystep;
  const xstep = niceStep(xMax);
  const X = (x: number) => m.l + (x / xMax) * pw;
  const Y = (y: number) => m.t + ph - ((y - yMin) / (yMax - yMin || 1)) * ph;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(o.title)}</text>`,
  ];
  for (let y = yMin; y <= yMax + ystep / 2; y += ystep) {
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${Y(y).toFixed(1)}" y2="${Y(y).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.l - 6}" y="${(Y(y) + 4).toFixed(1)}" text-anchor="end">${fmt(y)}</text>`);
  }
  for (let x = 0; x <= xMax + xstep / 2; x += xstep) {
    parts.push(`<line x1="${X(x).toFixed(1)}" x2="${X(x).toFixed(1)}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#333"/>`);
    parts.push(`<text x="${X(x).toFixed(1)}" y="${m.t + ph + 16}" text-anchor="middle">${fmt(x)}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 22}" text-anchor="middle">${esc(o.xLabel ?? "seconds into the window")}</text>`);
  parts.push(`<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  for (const k of o.marks ?? []) {
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${Y(k.y).toFixed(1)}" y2="${Y(k.y).toFixed(1)}" stroke="#ff7f0e" stroke-dasharray="2 3"/>`);
    parts.push(`<text x="${m.l + pw - 4}" y="${(Y(k.y) - 4).toFixed(1)}" text-anchor="end" fill="#ff7f0e">${esc(k.label)}</text>`);
  }
  series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length]!;
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (pts.length > 1) {
      const d = pts.map(([x, y], j) => `${j ? "L" : "M"}${X(x).toFixed(1)} ${Y(y).toFixed(1)}`).join(" ");
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    }
    for (const [x, y] of pts) parts.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="2.5" fill="${color}"/>`);
    const lx = m.l + i * 160;
    parts.push(`<line x1="${lx}" x2="${lx + 20}" y1="${H - 8}" y2="${H - 8}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    parts.push(`<text x="${lx + 24}" y="${H - 4}">${esc(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
