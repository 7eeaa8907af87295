// Pure functions of the status page: the map projection, the heat-map colour scale,
// a region's state, the burn-up chart's geometry and number formats. No DOM here, so
// `node --test tests/page` checks them (tests/page/view.test.mjs), and make-world.mjs
// draws the land with the same projection the page places regions with.

// Equirectangular ("plate carrée"), cropped to the latitudes with land and regions:
// straight parallels make a region's position easy to read and to test.
export const MAP = { width: 1000, north: 84, south: -58 };
MAP.height = ((MAP.north - MAP.south) / 360) * MAP.width;

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

/** Latitude and longitude in degrees to SVG user units in the MAP's viewBox. */
export function project(lat, lon) {
  const k = MAP.width / 360;
  // Longitude wraps (181° is -179°); latitude is cut to the map's band.
  const wrapped = lon >= -180 && lon <= 180 ? lon : ((((lon + 180) % 360) + 360) % 360) - 180;
  const x = (wrapped + 180) * k;
  const y = (MAP.north - clamp(lat, MAP.south, MAP.north)) * k;
  return { x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10 };
}

// A sequential scale from pale yellow to dark red (ColorBrewer YlOrRd end points and
// middle), readable on white and by people with red-green colour blindness, since
// lightness carries the value.
const STOPS = [
  [255, 255, 204],
  [253, 141, 60],
  [128, 0, 38],
];

/** The heat-map colour of `value` on a scale whose top is `max`; zero is white. */
export function heatColour(value, max) {
  if (!(value > 0) || !(max > 0)) return "rgb(255, 255, 255)";
  const t = clamp(value / max, 0, 1);
  const seg = t <= 0.5 ? 0 : 1;
  const f = seg === 0 ? t / 0.5 : (t - 0.5) / 0.5;
  const [a, b] = [STOPS[seg], STOPS[seg + 1]];
  const c = a.map((v, i) => Math.round(v + (b[i] - v) * f));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** Text colour that stays readable on a heat-map cell. */
export function inkOn(value, max) {
  return value > 0 && max > 0 && value / max > 0.55 ? "#fff" : "#111";
}

/**
 * One word for a region, as the map colours it:
 * drained (switched out by hand), out (switched out automatically, or Route 53 sees
 * the endpoint unhealthy), suspect (in service, probes failing or recovering), in-service.
 */
export function regionState(r) {
  if (!r.switch.in_service) return r.switch.cause === "manual" ? "drained" : "out";
  if (r.route53_healthy === false) return "out";
  const verdict = r.decided || r.verdict;
  if (verdict === "down") return "out";
  if (verdict === "suspect" || verdict === "recovering") return "suspect";
  return "in-service";
}

/**
 * The burn-up chart in a `w`×`h` box: spend to date as a line from the month's start,
 * the linear forecast as its continuation to the month's end, and one horizontal line
 * per alert threshold (and the budget). Every y is in the same dollars-to-pixels scale.
 */
export function burnUp(b, w, h) {
  const top = Math.max(b.budget_usd, b.forecast_usd, b.spend_usd) * 1.1 || 1;
  const x = (day) => Math.round((clamp(day / b.days, 0, 1) * w) * 10) / 10;
  const y = (usd) => Math.round((h - clamp(usd / top, 0, 1) * h) * 10) / 10;
  return {
    spend: { x1: 0, y1: y(0), x2: x(b.elapsed_days), y2: y(b.spend_usd) },
    forecast: { x1: x(b.elapsed_days), y1: y(b.spend_usd), x2: x(b.days), y2: y(b.forecast_usd) },
    thresholds: [...new Set([...b.alert_at, 1])]
      .sort((p, q) => p - q)
      .map((f) => ({ fraction: f, usd: f * b.budget_usd, y: y(f * b.budget_usd) })),
    top,
  };
}

/** "1.62 s", "850 ms", "3 min 5 s". */
export function formatDuration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** Dollars with cents, or to the thousandth below a cent. */
export function formatUsd(v) {
  if (v !== 0 && Math.abs(v) < 0.01) return `$${v.toFixed(4)}`;
  return `$${v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** Each table's lag as "carts 1.2 s (40 s old)", or "carts: no data". */
function lagText(tables) {
  return (tables || [])
    .map((t) => (t.lag_seconds === null || t.lag_seconds === undefined
      ? `${t.table}: no data`
      : `${t.table} ${t.lag_seconds.toFixed(1)} s${t.age_seconds === null || t.age_seconds === undefined ? "" : ` (${Math.round(t.age_seconds)} s old)`}`))
    .join(", ");
}

/**
 * What the failback gate says of a region out of service ("" when it has no gate):
 * held, and why, with each table's lag into it; or open.
 */
export function failbackLine(r) {
  const f = r.failback;
  if (!f) return "";
  const lags = lagText(f.tables);
  const head = f.open ? "failback gate open" : `failback held: ${f.message}`;
  return lags ? `${head}; lag ${lags}` : head;
}

/** The last flip's recovery figures ("" when none). */
export function recoveryLine(r) {
  const x = r.recovery;
  if (!x) return "";
  const parts = [];
  if (x.recovery_time_seconds !== undefined) parts.push(`recovery time ${formatDuration(x.recovery_time_seconds * 1000)}`);
  if (x.dns_seconds !== undefined) parts.push(`DNS ${formatDuration(x.dns_seconds * 1000)}`);
  if (x.recovery_point && x.recovery_point.length) parts.push(`recovery point ${lagText(x.recovery_point)}`);
  if (x.out_for_seconds !== undefined) parts.push(`out ${formatDuration(x.out_for_seconds * 1000)}`);
  if (x.held_for_seconds !== undefined) parts.push(`held by the gate ${formatDuration(x.held_for_seconds * 1000)}`);
  return parts.length ? `last ${x.kind}: ${parts.join(", ")}` : "";
}
