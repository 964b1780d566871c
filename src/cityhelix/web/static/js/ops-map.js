// The operations centre on the city map: a red ring around every device with an open alert,
// kept live by the operations centre's stream; `/console?thing=ID` opens that device.
"use strict";
window.cityhelixOpsMap = { alerted: () => false, ready: false };

document.addEventListener("DOMContentLoaded", () => {
  const started = () => window.cityhelixConsole && window.cityhelixConsole.ready;
  const wait = setInterval(() => {
    if (!started()) return;
    clearInterval(wait);
    startAlerts();
  }, 100);
});

async function startAlerts() {
  const map = window.cityhelixConsole.map();
  const open = new Map(); // Thing id -> Set of open alert ids
  const places = new Map(); // Thing id -> [lon, lat] from its alerts
  const features = () => {
    const list = [];
    for (const thingId of open.keys()) {
      const position = places.get(thingId) || window.cityhelixConsole.position(thingId);
      if (position) {
        const geometry = { type: "Point", coordinates: position };
        list.push({ type: "Feature", id: thingId, geometry, properties: { id: thingId } });
      }
    }
    return { type: "FeatureCollection", features: list };
  };
  const draw = () => map.getSource("ops-alerts").setData(features());
  const response = await fetch("/console/alerts.json", { credentials: "same-origin" });
  if (!response.ok) return;
  const { alerts } = await response.json();
  for (const [alertId, thingId, , , place] of alerts) {
    if (place) places.set(thingId, place);
    if (!open.has(thingId)) open.set(thingId, new Set());
    open.get(thingId).add(alertId);
  }
  map.addSource("ops-alerts", { type: "geojson", data: features() });
  map.addLayer({
    id: "ops-alerts",
    type: "circle",
    source: "ops-alerts",
    paint: {
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 8, 9, 14, 14],
      "circle-color": "#c62828",
      "circle-opacity": 0.85,
      "circle-stroke-color": "#ffffff",
      "circle-stroke-width": 2,
    },
  }, "thing-shapes");
  window.cityhelixOpsMap.alerted = (thingId) => open.has(thingId);
  window.cityhelixOpsMap.ready = true;
  const source = new EventSource("/console/ops/events?kind=alert");
  source.addEventListener("alert", (event) => {
    const alert = JSON.parse(event.data);
    if (!alert.thing_id) return;
    if (alert.location) places.set(alert.thing_id, alert.location);
    const ids = open.get(alert.thing_id) || new Set();
    if (alert.state === "active" || alert.state === "acknowledged") ids.add(alert.id);
    else ids.delete(alert.id);
    if (ids.size) open.set(alert.thing_id, ids);
    else open.delete(alert.thing_id);
    draw();
  });
  const wanted = Number(new URLSearchParams(window.location.search).get("thing"));
  if (wanted) {
    const [lon, lat] = places.get(wanted) || [null, null];
    window.cityhelixConsole.show(wanted, lon, lat);
  }
}
