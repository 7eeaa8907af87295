// Writes world.svg, the map's land, from Natural Earth's 1:110m land polygons
// (public domain) as packaged in the npm package world-atlas (ISC licence), projected
// with the page's own `project`. Run once when the projection changes:
//
//   npm install --prefix /tmp/wa world-atlas@2 topojson-client@3
//   NODE_PATH=/tmp/wa/node_modules node src/api/page/make-world.mjs /tmp/wa > src/api/page/world.svg
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { MAP, project } from "./view.js";

const base = process.argv[2];
const require = createRequire(`${base}/node_modules/`);
const { feature } = require("topojson-client");
const topo = JSON.parse(readFileSync(`${base}/node_modules/world-atlas/land-110m.json`, "utf8"));
const land = feature(topo, topo.objects.land);

const rings = [];
for (const f of land.features) {
  const polys = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
  for (const poly of polys) for (const ring of poly) rings.push(ring);
}
// x of a longitude that may lie past ±180° (a ring unwrapped across the antimeridian);
// for -180..180 this is exactly `project`'s x.
const xOf = (lon) => Math.round(((lon + 180) * MAP.width) / 360 * 10) / 10;
let d = "";
for (const ring of rings) {
  // Antarctica lies south of the map's band: leave it out rather than draw a strip.
  if (ring.every(([, lat]) => lat < MAP.south)) continue;
  // Unwrap: a ring that crosses the antimeridian continues past ±180° instead of
  // jumping back across the map; it is then drawn again a world-width over, so the
  // part past the edge appears on the other side (the viewBox clips the rest).
  const unwrapped = [];
  for (const [lon, lat] of ring) {
    let l = lon;
    if (unwrapped.length) {
      const prev = unwrapped[unwrapped.length - 1][0];
      while (l - prev > 180) l -= 360;
      while (prev - l > 180) l += 360;
    }
    unwrapped.push([l, lat]);
  }
  const lons = unwrapped.map(([l]) => l);
  const shifts = [0];
  if (Math.min(...lons) < -180) shifts.push(360);
  if (Math.max(...lons) > 180) shifts.push(-360);
  for (const shift of shifts) {
    unwrapped.forEach(([lon, lat], i) => {
      d += `${i ? "L" : "M"}${xOf(lon + shift)} ${project(lat, 0).y}`;
    });
    d += "Z";
  }
}
const h = Math.round(MAP.height * 10) / 10;
process.stdout.write(
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${MAP.width} ${h}">` +
    `<path id="land" d="${d}"/></svg>\n`,
);
