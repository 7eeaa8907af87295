// Unit tests of the status page's pure functions (src/api/page/view.js), run with
// `node --test tests/page` (the integration test `page::view_functions` runs them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAP, project, heatColour, inkOn, regionState, burnUp, formatDuration, formatUsd, failbackLine, recoveryLine } from "../../src/api/page/view.js";

test("the projection puts the corners and known places where they belong", () => {
  assert.deepEqual(project(MAP.north, -180), { x: 0, y: 0 });
  assert.deepEqual(project(MAP.south, 180), { x: MAP.width, y: Math.round(MAP.height * 10) / 10 });
  // The equator and the prime meridian cross in the middle of the width.
  assert.deepEqual(project(0, 0), { x: 500, y: Math.round(((MAP.north * MAP.width) / 360) * 10) / 10 });
  // N. Virginia is west of and south of Ireland; Sydney is in the southern half.
  const virginia = project(39.04, -77.49);
  const ireland = project(53.35, -6.26);
  const sydney = project(-33.87, 151.21);
  assert.ok(virginia.x < ireland.x && virginia.y > ireland.y);
  assert.ok(sydney.y > project(0, 0).y && sydney.x > 900);
  assert.deepEqual(virginia, { x: 284.8, y: 124.9 });
});

test("the projection wraps longitude and clamps latitude to the band", () => {
  assert.deepEqual(project(10, 181), project(10, -179));
  assert.deepEqual(project(10, -540), project(10, 180 - 360));
  assert.equal(project(89.9, 0).y, 0);
  assert.equal(project(-89.9, 0).y, project(MAP.south, 0).y);
});

test("the heat scale runs from white through yellow and orange to dark red", () => {
  assert.equal(heatColour(0, 10), "rgb(255, 255, 255)");
  assert.equal(heatColour(5, 0), "rgb(255, 255, 255)", "no scale when nothing was spent");
  assert.equal(heatColour(Number.NaN, 10), "rgb(255, 255, 255)");
  assert.equal(heatColour(-1, 10), "rgb(255, 255, 255)");
  assert.equal(heatColour(1e-9, 10), "rgb(255, 255, 204)");
  assert.equal(heatColour(5, 10), "rgb(253, 141, 60)");
  assert.equal(heatColour(10, 10), "rgb(128, 0, 38)");
  assert.equal(heatColour(20, 10), "rgb(128, 0, 38)", "clamped above the top");
  // Darker (lower sum of channels) as the value grows: lightness carries the value.
  const sum = (c) => c.match(/\d+/g).map(Number).reduce((a, b) => a + b, 0);
  let last = Infinity;
  for (let v = 0.5; v <= 10; v += 0.5) {
    const s = sum(heatColour(v, 10));
    assert.ok(s < last, `not darker at ${v}`);
    last = s;
  }
  assert.equal(inkOn(10, 10), "#fff");
  assert.equal(inkOn(1, 10), "#111");
});

test("a region's state: drained by hand, out, suspect, in service", () => {
  const r = (in_service, cause, verdict, route53_healthy = true, decided) => ({
    switch: { in_service, cause }, verdict, route53_healthy, decided,
  });
  assert.equal(regionState(r(false, "manual", "up")), "drained");
  assert.equal(regionState(r(false, "automatic", "down")), "out");
  assert.equal(regionState(r(false, null, "up")), "out");
  assert.equal(regionState(r(true, null, "up", false)), "out", "Route 53 sees it unhealthy");
  assert.equal(regionState(r(true, null, "down")), "out");
  assert.equal(regionState(r(true, null, "suspect")), "suspect");
  assert.equal(regionState(r(true, null, "recovering")), "suspect");
  assert.equal(regionState(r(true, null, "up")), "in-service");
  // With several instances the quorum's verdict counts, not this vantage's.
  assert.equal(regionState(r(true, null, "down", true, "up")), "in-service");
});

test("the burn-up chart scales spend, forecast and thresholds alike", () => {
  const b = {
    budget_usd: 100, spend_usd: 40, forecast_usd: 80, alert_at: [0.5, 0.8, 1.0],
    elapsed_days: 15, days: 30, complete: false,
  };
  const g = burnUp(b, 300, 110);
  assert.equal(Math.round(g.top * 1e9) / 1e9, 110);
  assert.deepEqual(g.spend, { x1: 0, y1: 110, x2: 150, y2: 70 });
  assert.deepEqual(g.forecast, { x1: 150, y1: 70, x2: 300, y2: 30 });
  assert.deepEqual(g.thresholds.map((t) => [t.fraction, t.usd, t.y]), [[0.5, 50, 60], [0.8, 80, 30], [1, 100, 10]]);
  // The budget line is drawn even when no threshold is at 100%, and a forecast above
  // the budget raises the top so it stays on the chart.
  const over = burnUp({ ...b, alert_at: [0.5], forecast_usd: 200 }, 300, 110);
  assert.deepEqual(over.thresholds.map((t) => t.fraction), [0.5, 1]);
  assert.equal(over.forecast.y2, 10);
});

test("durations and dollars read naturally", () => {
  assert.equal(formatDuration(850), "850 ms");
  assert.equal(formatDuration(1620), "1.62 s");
  assert.equal(formatDuration(185000), "3 min 5 s");
  assert.equal(formatUsd(1234.5), "$1,234.50");
  assert.equal(formatUsd(0.0042), "$0.0042");
  assert.equal(formatUsd(0), "$0.00");
});

test("the failback gate's line says why it holds, with each table's lag", () => {
  assert.equal(failbackLine({ failback: undefined }), "");
  assert.equal(
    failbackLine({ failback: { open: false, why: "lagging", message: "replication of shop-carts into eu-west-1 lagged 12.0 s within the last 120 s (limit 5 s)",
      tables: [{ table: "shop-carts", lag_seconds: 12, age_seconds: 40.4 }, { table: "shop-orders", lag_seconds: null, age_seconds: null }] } }),
    "failback held: replication of shop-carts into eu-west-1 lagged 12.0 s within the last 120 s (limit 5 s); lag shop-carts 12.0 s (40 s old), shop-orders: no data",
  );
  assert.equal(failbackLine({ failback: { open: true, tables: [] } }), "failback gate open");
});

test("the recovery line gives the last flip's figures", () => {
  assert.equal(recoveryLine({}), "");
  assert.equal(
    recoveryLine({ recovery: { kind: "failover", recovery_time_seconds: 1.25, dns_seconds: 1.9, recovery_point: [{ table: "shop-carts", lag_seconds: 0.8, age_seconds: 21 }] } }),
    "last failover: recovery time 1.25 s, DNS 1.90 s, recovery point shop-carts 0.8 s (21 s old)",
  );
  assert.equal(
    recoveryLine({ recovery: { kind: "failback", out_for_seconds: 95, held_for_seconds: 30.5 } }),
    "last failback: out 1 min 35 s, held by the gate 30.50 s",
  );
});
