// The status page: polls the JSON API (no token needed to read), draws the map, the
// region table, the event timeline and the cost views, and sends drain/restore with a
// token the operator types in (kept in a variable of this page, never stored).
// Everything from the server is written with textContent, never parsed as HTML.
import { MAP, project, heatColour, inkOn, regionState, burnUp, formatDuration, formatUsd, failbackLine, recoveryLine } from "./view.js";

const STATUS_EVERY_MS = 1000;
const EVENTS_EVERY_MS = 1000;
const COST_EVERY_MS = 30000;
/** Past this silence the page says its data is stale. */
const STALE_AFTER_MS = 5000;

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
let token = null;
let lastHeard = 0;
let lastStatus = null;
let eventsCursor = null;
const events = [];

function el(tag, attrs = {}, ...children) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.setAttribute("class", v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

async function getJson(path) {
  const r = await fetch(path, { cache: "no-store" });
  const body = await r.json().catch(() => null);
  return { ok: r.ok, status: r.status, body };
}

// ---- status: header, map, routing, region table -------------------------------------

function renderStatus(s) {
  document.title = `${s.deployment} · geoplan`;
  $("deployment").textContent = s.deployment;
  const switches = { arc: " · switches: ARC routing controls", both: " · switches: Route 53 and ARC" };
  $("pattern").textContent =
    `${s.pattern} · automatic failover ${s.auto_failover ? "on" : "off"}${switches[s.switch] || ""}`;
  const states = s.regions.map(regionState);
  const serving = states.filter((x) => x === "in-service" || x === "suspect").length;
  $("summary").textContent = `${serving} of ${s.regions.length} regions in service`;
  const c = s.control;
  $("control").textContent = c
    ? `This page: ${c.instance}. Acting: ${c.actor ? `${c.actor.instance} (epoch ${c.actor.epoch})` : "nobody"}. ` +
      `Instances alive: ${c.instances.filter((i) => i.fresh).length} of ${c.instances.length}.`
    : "Single instance.";
  renderMap(s, states);
  renderRouting(s);
  renderRegions(s, states);
}

// Markers and rows are made once per region and updated in place, so a poll never
// replaces what the operator is pointing at or about to click.
function renderMap(s, states) {
  const map = $("map");
  map.setAttribute("viewBox", `0 0 ${MAP.width} ${MAP.height.toFixed(1)}`);
  const g = $("markers");
  s.regions.forEach((r, i) => {
    if (!r.location) return;
    let m = g.querySelector(`[data-region="${CSS.escape(r.name)}"]`);
    if (!m) {
      const { x, y } = project(r.location.lat, r.location.lon);
      m = el("svg:g", { class: "marker", "data-region": r.name },
        el("svg:title"),
        el("svg:circle", { cx: x, cy: y, r: 9 }),
        el("svg:text", { x: x + 12, y: y + 4 }, r.name));
      g.append(m);
    }
    m.dataset.state = states[i];
    m.querySelector("circle").setAttribute("class", states[i]);
    m.querySelector("title").textContent = `${r.name} (${r.location.place}): ${states[i]}`;
  });
}

function renderRouting(s) {
  const box = $("routing");
  box.replaceChildren(
    ...s.routing.map((rr) =>
      el("p", { "data-record": rr.name },
        el("strong", {}, rr.name), ` (${rr.policy}) → `,
        rr.regions.length ? rr.regions.join(", ") : "nobody",
        rr.fail_open
          ? el("span", { class: "failopen" }, " — fail-open: every candidate is unhealthy, Route 53 answers with all of them")
          : null,
        rr.dns
          ? el("span", { class: rr.dns.differs ? "dns differs" : "dns" },
              ` · DNS answers ${rr.dns.regions.length ? rr.dns.regions.join(", ") : (rr.dns.values.join(", ") || "nothing")}`,
              rr.dns.differs ? " — differs from geoplan's view" : "")
          : null),
    ),
  );
}

function renderRegions(s, states) {
  const body = $("regions").tBodies[0];
  s.regions.forEach((r, i) => {
    let row = body.querySelector(`tr[data-region="${CSS.escape(r.name)}"]`);
    if (!row) {
      const button = el("button", { onclick: () => act(r.name, button.dataset.action) });
      row = el("tr", { "data-region": r.name },
        el("td", {}, r.name, el("br"), el("small", {}, r.location ? r.location.place : "")),
        ...[1, 2, 3, 4, 5, 6].map(() => el("td")),
        el("td", {}, button));
      row.cells[5].className = "num";
      row.cells[1].append(el("span"));
      body.append(row);
    }
    const probe = r.last_probe;
    const cells = row.cells;
    const state = cells[1].firstChild;
    state.className = `state ${states[i]}`;
    state.textContent = states[i];
    cells[2].textContent = r.decided ? `${r.decided} (quorum); here ${r.verdict}` : r.verdict;
    cells[3].textContent = r.route53_healthy === null || r.route53_healthy === undefined
      ? "not read" : r.route53_healthy ? "healthy" : "unhealthy";
    const gate = failbackLine(r);
    const recovery = recoveryLine(r);
    cells[4].replaceChildren(
      r.switch.in_service
        ? "in service"
        : `out (${r.switch.cause || "cause unknown"}${r.switch.reason ? `: ${r.switch.reason}` : ""})`,
      ...(gate ? [el("br"), el("small", { class: r.failback.open ? "gate open" : "gate held" }, gate)] : []),
      ...(recovery ? [el("br"), el("small", { class: "recovery" }, recovery)] : []),
    );
    cells[5].textContent = probe ? `${probe.ok ? "" : "failed, "}${formatDuration(probe.latency_ms)}` : "—";
    cells[6].textContent = r.vantages && r.vantages.length
      ? r.vantages.map((v) => `${v.instance}: ${v.verdict}`).join(", ") : "—";
    const button = cells[7].firstChild;
    button.dataset.action = r.switch.in_service ? "drain" : "restore";
    button.textContent = r.switch.in_service ? "Drain" : "Restore";
  });
}

// ---- events --------------------------------------------------------------------------

function renderEvents() {
  $("timeline").replaceChildren(
    ...events.slice().reverse().map((e) =>
      el("li", { "data-kind": e.kind, "data-region": e.region || "" },
        el("time", { datetime: e.at }, new Date(e.at).toLocaleString()),
        el("span", { class: `kind ${e.kind}` }, e.kind),
        e.message,
        e.took_ms !== undefined && e.took_ms !== null
          ? el("span", { class: "took", title: "first evidence → Route 53 confirmed" }, formatDuration(e.took_ms))
          : null),
    ),
  );
}

async function pollEvents() {
  const path = eventsCursor === null ? "/v1/events?tail=true&limit=200" : `/v1/events?since=${eventsCursor}&limit=1000`;
  const r = await getJson(path);
  if (!r.ok) return;
  eventsCursor = r.body.next;
  if (r.body.events.length) {
    events.push(...r.body.events);
    events.splice(0, Math.max(0, events.length - 500));
    renderEvents();
  }
}

// ---- cost ----------------------------------------------------------------------------

/** A `Month` as the API sends it ({year, month}) to "2026-11". */
const monthName = (m) => `${m.year}-${String(m.month).padStart(2, "0")}`;

function renderCost(report) {
  const m = report.matrix;
  $("cost-state").textContent =
    `${monthName(report.month)}, from ${report.source === "cur" ? "the Cost and Usage Report" : "Cost Explorer"}: ` +
    `transfer ${formatUsd(m.transfer_usd)}, replication ${formatUsd(m.replication_usd)}. ` +
    `Scope: ${report.scope}${report.scope_note ? ` (${report.scope_note})` : ""}.`;
  const usd = new Map(m.pairs.map((p) => [`${p.from}→${p.to}`, p]));
  const max = Math.max(0, ...m.pairs.map((p) => p.usd));
  const table = $("heatmap");
  table.replaceChildren(
    el("caption", {}, "From (rows) → to (columns), this month"),
    el("tr", {}, el("th", {}, ""), ...m.regions.map((r) => el("th", {}, r))),
    ...m.regions.map((from) =>
      el("tr", {}, el("th", {}, from),
        ...m.regions.map((to) => {
          const p = usd.get(`${from}→${to}`);
          const v = p ? p.usd : 0;
          const td = el("td", { class: "cell", "data-from": from, "data-to": to, "data-usd": v,
            title: p ? `${from} → ${to}: ${p.gb.toFixed(2)} GB, ${formatUsd(v)}` : `${from} → ${to}: nothing` },
          from === to ? "—" : formatUsd(v));
          td.style.background = heatColour(v, max);
          td.style.color = inkOn(v, max);
          return td;
        })),
    ),
  );
  renderBurnUp(report.budget);
}

function renderBurnUp(b) {
  const svg = $("burnup");
  svg.replaceChildren();
  if (!b) {
    svg.setAttribute("hidden", "");
    return;
  }
  svg.removeAttribute("hidden");
  const [w, h, left, bottom] = [520, 200, 70, 24];
  svg.setAttribute("viewBox", `0 0 ${w + left + 10} ${h + bottom + 10}`);
  const g = burnUp(b, w, h);
  const at = (x, y) => ({ x: x + left, y: y + 5 });
  const line = (cls, x1, y1, x2, y2) => {
    const a = at(x1, y1);
    const z = at(x2, y2);
    return el("svg:line", { class: cls, x1: a.x, y1: a.y, x2: z.x, y2: z.y });
  };
  svg.append(
    line("axis", 0, h, w, h),
    line("axis", 0, 0, 0, h),
    ...g.thresholds.flatMap((t) => [
      line(t.fraction === 1 ? "budget" : "threshold", 0, t.y, w, t.y),
      el("svg:text", { x: 2, y: at(0, t.y).y + 4 }, `${Math.round(t.fraction * 100)}% ${formatUsd(t.usd)}`),
    ]),
    line("spend", g.spend.x1, g.spend.y1, g.spend.x2, g.spend.y2),
    b.complete ? null : line("forecast", g.forecast.x1, g.forecast.y1, g.forecast.x2, g.forecast.y2),
    el("svg:text", { x: left, y: h + bottom + 8 }, `day 0`),
    el("svg:text", { x: left + w - 40, y: h + bottom + 8 }, `day ${b.days}`),
    el("svg:text", { x: left + 60, y: h + bottom + 8, class: "caption" },
      `spent ${formatUsd(b.spend_usd)} by day ${b.elapsed_days.toFixed(1)} (solid) · ` +
      `forecast ${formatUsd(b.forecast_usd)} (dashed, linear)`),
    el("svg:title", {}, `Spent ${formatUsd(b.spend_usd)} of ${formatUsd(b.budget_usd)} in ${b.elapsed_days.toFixed(1)} days; ` +
      `forecast ${formatUsd(b.forecast_usd)} (linear)`),
  );
  svg.setAttribute("aria-label", `Budget burn-up: spent ${formatUsd(b.spend_usd)} of ${formatUsd(b.budget_usd)}, ` +
    `forecast ${formatUsd(b.forecast_usd)} by day ${b.days}`);
}

async function pollCost() {
  const r = await getJson("/v1/cost");
  if (r.ok) {
    $("cost-panel").hidden = false;
    renderCost(r.body);
  } else if (r.body && r.body.error && r.body.error.code === "cost_not_configured") {
    $("cost-panel").hidden = true;
  } else {
    $("cost-state").textContent = r.body && r.body.error ? r.body.error.message : `HTTP ${r.status}`;
  }
}

// ---- actions -------------------------------------------------------------------------

function act(region, action) {
  const dialog = $("ask");
  $("ask-title").textContent = `${action === "drain" ? "Drain" : "Restore"} ${region}`;
  $("ask-reason-label").hidden = action !== "drain";
  $("ask-reason").value = "";
  $("ask-token").value = token || "";
  dialog.onclose = async () => {
    if (dialog.returnValue !== "ok") return;
    token = $("ask-token").value || null;
    const reason = $("ask-reason").value;
    const out = $("action-result");
    out.hidden = false;
    out.className = "";
    out.textContent = `${action} ${region}: waiting for Route 53…`;
    try {
      const r = await fetch(`/v1/regions/${encodeURIComponent(region)}/${action}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token || ""}`, "Content-Type": "application/json" },
        body: action === "drain" ? JSON.stringify({ reason }) : undefined,
      });
      const body = await r.json().catch(() => ({}));
      const error = body.error || {};
      if (r.status === 401) token = null;
      out.className = r.ok ? "" : "refused";
      out.textContent = r.ok
        ? `${action} ${region}: done, Route 53 confirmed (HTTP ${r.status}).`
        : `${action} ${region} refused (HTTP ${r.status}, ${error.code || "error"}): ${error.message || ""}`;
    } catch (e) {
      out.className = "refused";
      out.textContent = `${action} ${region}: no answer from geoplan (${e.message}).`;
    }
    refresh();
  };
  dialog.showModal();
}

// ---- polling and staleness -----------------------------------------------------------

async function refresh() {
  try {
    const r = await getJson("/v1/status");
    if (r.ok) {
      lastHeard = Date.now();
      lastStatus = r.body;
      renderStatus(r.body);
    }
  } catch {
    // Unreachable: the stale banner says so.
  }
}

function checkStale() {
  const banner = $("stale");
  const silent = Date.now() - lastHeard;
  if (lastHeard && silent > STALE_AFTER_MS) {
    banner.hidden = false;
    banner.textContent = `Not heard from geoplan for ${Math.round(silent / 1000)} s: ` +
      `what you see is from ${new Date(lastHeard).toLocaleTimeString()} and may be out of date.`;
  } else if (!lastHeard && lastStatus === null && performance.now() > STALE_AFTER_MS) {
    banner.hidden = false;
    banner.textContent = "Cannot reach geoplan's API.";
  } else {
    banner.hidden = true;
  }
}

function every(ms, f) {
  const run = () => Promise.resolve(f()).catch(() => {}).finally(() => setTimeout(run, ms));
  run();
}

every(STATUS_EVERY_MS, refresh);
every(EVENTS_EVERY_MS, pollEvents);
every(COST_EVERY_MS, pollCost);
setInterval(checkStale, 500);
