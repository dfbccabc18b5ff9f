// Small robust statistics for the watchers' comparisons.

export function median(xs: number[]): number | undefined {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Least-squares line through (x, y): slope per unit of x, and r² (how well a line explains the points). */
export function linearFit(points: [number, number][]): { slope: number; r2: number } {
  const n = points.length;
  if (n < 3) return { slope: 0, r2: 0 };
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const [x, y] of points) {
    sxx += (x - mx) ** 2;
    sxy += (x - mx) * (y - my);
    syy += (y - my) ** 2;
  }
  if (sxx === 0) return { slope: 0, r2: 0 };
  const slope = sxy / sxx;
  const r2 = syy === 0 ? 0 : (sxy * sxy) / (sxx * syy);
  return { slope, r2 };
}

/**
 * Steady growth over a window: the fitted line's rise across the window, when a line explains
 * the points well (r² >= minR2); 0 otherwise (noise is not a trend).
 */
export function steadyGrowth(points: [number, number][], minR2 = 0.8): number {
  if (points.length < 3) return 0;
  const { slope, r2 } = linearFit(points);
  if (r2 < minR2 || slope <= 0) return 0;
  const span = points[points.length - 1]![0] - points[0]![0];
  return slope * span;
}
