// The city map: the devices of the view as markers (shape by kind, colour by state), or, when
// they are many, the server's clusters (a button each: a click zooms in); filters, the side
// panel with a 24-hour chart, and live readings from the server's event stream (SSE).
// The server sends only what the view needs (`/console/things.json?bbox=..&zoom=..`): a
// move, a zoom or a filter asks for the view again. A live reading changes its marker
// through MapLibre feature state, so it never re-tiles the map.
"use strict";

const SHAPES = {
  streetlight: "circle",
  air_quality: "square",
  traffic: "triangle",
  water_level: "diamond",
  camera: "square",
  park_tenant: "diamond",
};
// a state that outranks the others in a cluster's colour
const STATE_RANK = ["alert", "off", "stale", "normal"];
// a view asked for again at most this often while readings change clusters
const REVIEW_MS = 500;
// up to this many devices in the city the kind shapes show at every zoom; past it, from
// zoom 12 on (the symbol layer's first draw costs about half a second on a CPU renderer,
// and at the city's zoom a large city is clusters: BENCHMARKS.md section 6)
const SHAPES_EVERYWHERE = 2000;

const consoleState = {
  map: null,
  things: new Map(), // the devices in view: id -> {id, name, kind, ..., datastreams}
  byDatastream: new Map(), // Datastream id -> Thing id (devices in view)
  watched: new Set(), // Datastreams of not-normal devices inside clusters
  clusters: [], // MapLibre markers of the clusters in view
  matched: 0,
  total: 0,
  staleMs: 0,
  offMs: 0,
  panelThing: null,
  chart: null,
  filtersBuilt: false,
  viewRequest: 0,
  lastBody: null,
};
window.cityhelixConsole = {
  stateOf: (id) => consoleState.things.get(id)?.state ?? null,
  shownCount: () => consoleState.matched,
  pointCount: () => consoleState.things.size,
  clusterCount: () => consoleState.clusters.length,
  clusteredCount: () => consoleState.clusters.reduce((sum, c) => sum + c.count, 0),
  // devices in view by state, in points and clusters alike
  stateCounts: () => {
    const counts = {};
    for (const thing of consoleState.things.values()) {
      counts[thing.state] = (counts[thing.state] || 0) + 1;
    }
    for (const marker of consoleState.clusters) {
      for (const [state, n] of Object.entries(marker.states)) counts[state] = (counts[state] || 0) + n;
    }
    return counts;
  },
  map: () => consoleState.map,
  thingOf: (datastream) => consoleState.byDatastream.get(datastream) ?? null,
  viewLoaded: 0, // how many views arrived (tests wait for the next one)
  // for the operations centre's overlay (ops-map.js): a device's place when it is drawn as
  // a point, and a way to centre on any device and open its panel
  position: (id) => {
    const thing = consoleState.things.get(id);
    return thing ? [thing.lon, thing.lat] : null;
  },
  show: (id, lon, lat) => showThing(id, lon, lat),
  ready: false,
  timings: {},
};

document.addEventListener("DOMContentLoaded", start);

function dataset() {
  return document.getElementById("map").dataset;
}

function stateAt(lastMs, now) {
  if (lastMs === null || now - lastMs > consoleState.offMs) return "off";
  if (now - lastMs > consoleState.staleMs) return "stale";
  return "normal";
}

function markerImage(shape) {
  const size = 20;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const g = canvas.getContext("2d");
  g.fillStyle = "#ffffff";
  g.strokeStyle = "#1a1a1a";
  g.lineWidth = 1.5;
  g.beginPath();
  const c = size / 2;
  const r = 5;
  if (shape === "square") g.rect(c - r, c - r, 2 * r, 2 * r);
  else if (shape === "triangle") {
    g.moveTo(c, c - r - 1);
    g.lineTo(c + r + 1, c + r);
    g.lineTo(c - r - 1, c + r);
    g.closePath();
  } else if (shape === "diamond") {
    g.moveTo(c, c - r - 1);
    g.lineTo(c + r + 1, c);
    g.lineTo(c, c + r + 1);
    g.lineTo(c - r - 1, c);
    g.closePath();
  } else g.arc(c, c, r - 1, 0, 2 * Math.PI);
  g.fill();
  g.stroke();
  return g.getImageData(0, 0, size, size);
}

function offlineStyle() {
  return {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#eef2f5" } }],
  };
}

function outlineBounds(outline) {
  const bounds = new maplibregl.LngLatBounds();
  for (const feature of outline.features || []) {
    for (const ring of feature.geometry.type === "Polygon" ? feature.geometry.coordinates : []) {
      for (const point of ring) bounds.extend(point);
    }
  }
  return bounds;
}

async function start() {
  const data = dataset();
  const started = performance.now();
  const timings = window.cityhelixConsole.timings;
  maplibregl.setWorkerUrl(data.workerUrl);
  maplibregl.prewarm(); // the worker starts while the outline and the style load
  const outline = await (await fetch(data.boundariesUrl)).json();
  const bounds = outlineBounds(outline);
  const map = new maplibregl.Map({
    container: "map",
    style: data.styleUrl || offlineStyle(),
    center: [106.7, 11.0],
    zoom: 10,
    bounds: bounds.isEmpty() ? undefined : bounds,
    fitBoundsOptions: { padding: 40 },
    attributionControl: false,
    maxPitch: 0,
    fadeDuration: 0,
  });
  consoleState.map = map;
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  // the view's data and the style load side by side: the camera is known already
  const [body] = await Promise.all([
    fetchView(),
    new Promise((resolve) =>
      map.once("load", () => {
        timings.style = performance.now() - started;
        resolve();
      }),
    ),
  ]);
  if (body === null) return;
  timings.data = performance.now() - started;
  consoleState.staleMs = body.stale_seconds * 1000;
  consoleState.offMs = body.off_seconds * 1000;
  addLayers(map, data, outline, body.total > SHAPES_EVERYWHERE ? 12 : 0);
  buildFilters(body);
  showView(body);
  // devices outside the province's outline: fit them in too (the move asks again)
  if (body.extent) {
    const [west, south, east, north] = body.extent;
    const view = map.getBounds();
    if (!view.contains([west, south]) || !view.contains([east, north])) {
      const all = new maplibregl.LngLatBounds([west, south], [east, north]);
      if (!bounds.isEmpty()) all.extend(bounds);
      map.fitBounds(all, { padding: 40, animate: false, maxZoom: 14 });
      askForView(0);
    }
  }
  timings.layers = performance.now() - started;
  map.once("render", () => {
    timings.render = performance.now() - started;
  });
  map.once("idle", () => {
    timings.interactive = performance.now() - started;
    window.cityhelixConsole.ready = true;
    document.getElementById("map").dataset.ready = "true";
    map.on("moveend", () => askForView(150));
  });
  listen(data.eventsUrl);
  setInterval(() => askForView(0), 30_000); // stale and off come with time alone
  wirePanel();
}

// --- the view: asked of the server for the camera and the filters --------------------------

function viewUrl() {
  const map = consoleState.map;
  const b = map.getBounds();
  const params = new URLSearchParams({
    bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(","),
    zoom: map.getZoom().toFixed(2),
  });
  if (dataset().points) params.set("points", dataset().points);
  if (consoleState.filtersBuilt) {
    const { kinds, states, district, allKinds, allStates } = chosen();
    if (!allKinds) for (const kind of kinds) params.append("kind", kind);
    if (!allStates) for (const state of states) params.append("state", state);
    if (district) params.set("district", district);
  }
  return `${dataset().thingsUrl}?${params}`;
}

async function fetchView() {
  const request = ++consoleState.viewRequest;
  if (consoleState.filtersBuilt) {
    const { kinds, states } = chosen();
    if (kinds.size === 0 || states.size === 0) {
      // nothing can match: no need to ask
      return { ...consoleState.lastBody, matched: 0, things: [], clusters: [], watched: [] };
    }
  }
  const response = await fetch(viewUrl(), { credentials: "same-origin" });
  if (response.status === 401) {
    window.location.assign("/login?next=/console");
    return null;
  }
  const body = await response.json();
  consoleState.lastBody = body;
  return request === consoleState.viewRequest ? body : null; // a newer view was asked for
}

let viewTimer = null;
let lastView = 0;
function askForView(delay) {
  if (viewTimer !== null) return;
  const wait = Math.max(delay, REVIEW_MS - (performance.now() - lastView), 0);
  viewTimer = setTimeout(async () => {
    viewTimer = null;
    lastView = performance.now();
    const body = await fetchView();
    if (body !== null) showView(body);
  }, wait);
}

function showView(body) {
  consoleState.matched = body.matched;
  consoleState.total = body.total;
  consoleState.things = new Map();
  consoleState.byDatastream = new Map();
  const features = [];
  for (const row of body.things) {
    const [id, name, kindIndex, districtIndex, state, lon, lat, last, datastreams] = row;
    const thing = {
      id,
      name,
      kind: body.kinds[kindIndex],
      district: districtIndex >= 0 ? body.districts[districtIndex] : "",
      state,
      lon,
      lat,
      last: last === null ? null : last * 1000,
      datastreams,
    };
    consoleState.things.set(id, thing);
    for (const ds of datastreams) consoleState.byDatastream.set(ds, id);
    features.push(featureOf(thing));
  }
  consoleState.watched = new Set(body.watched);
  const source = consoleState.map.getSource("things");
  source.setData({ type: "FeatureCollection", features });
  for (const thing of consoleState.things.values()) {
    consoleState.map.setFeatureState({ source: "things", id: thing.id }, { state: thing.state });
  }
  showClusters(body.clusters);
  summarise();
  listNames();
  window.cityhelixConsole.viewLoaded += 1;
}

function showClusters(clusters) {
  for (const marker of consoleState.clusters) marker.remove();
  consoleState.clusters = [];
  const labels = JSON.parse(dataset().stateLabels);
  const template = dataset().clusterLabel;
  const lang = dataset().lang;
  for (const [lon, lat, count, bounds, states] of clusters) {
    const worst = STATE_RANK.find((state) => states[state]) || "normal";
    const button = document.createElement("button");
    button.type = "button";
    button.className = `cluster cluster-${worst}`;
    button.textContent = count.toLocaleString(lang);
    const parts = STATE_RANK.filter((s) => states[s]).map(
      (s) => `${labels[s] || s} ${states[s].toLocaleString(lang)}`,
    );
    button.setAttribute(
      "aria-label",
      `${template.replace("%(count)s", count.toLocaleString(lang))} (${parts.join(", ")})`,
    );
    const size = Math.round(28 + 10 * Math.log10(count));
    button.dataset.size = String(size);
    button.classList.add(`cluster-size-${Math.min(5, Math.floor(Math.log10(count) * 2))}`);
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      zoomInto(bounds);
    });
    const marker = new maplibregl.Marker({ element: button }).setLngLat([lon, lat]);
    marker.count = count;
    marker.states = states;
    marker.addTo(consoleState.map);
    consoleState.clusters.push(marker);
  }
}

// a cluster's devices fill the view (at least one zoom level closer)
function zoomInto([west, south, east, north]) {
  const map = consoleState.map;
  const camera = map.cameraForBounds(
    [
      [west, south],
      [east, north],
    ],
    { padding: 60, maxZoom: 18 },
  );
  const zoom = Math.max(camera?.zoom ?? 0, map.getZoom() + 1);
  map.jumpTo({ center: camera?.center ?? [(west + east) / 2, (south + north) / 2], zoom });
}

function summarise() {
  const summary = document.getElementById("map-summary");
  summary.textContent = summary.dataset.template
    .replace("%(shown)s", consoleState.matched.toLocaleString(dataset().lang))
    .replace("%(total)s", consoleState.total.toLocaleString(dataset().lang));
}

function listNames() {
  const names = document.getElementById("device-names");
  names.replaceChildren(
    ...[...consoleState.things.values()].slice(0, 500).map((thing) => {
      const option = document.createElement("option");
      option.value = thing.name;
      return option;
    }),
  );
}

function featureOf(thing) {
  return {
    type: "Feature",
    id: thing.id,
    geometry: { type: "Point", coordinates: [thing.lon, thing.lat] },
    properties: {
      id: thing.id,
      kind: thing.kind,
      shape: SHAPES[thing.kind] || "circle",
      district: thing.district,
      state: thing.state,
    },
  };
}

function addLayers(map, data, boundaries, shapesFromZoom) {
  const colours = JSON.parse(data.stateColours);
  map.addSource("districts", { type: "geojson", data: boundaries });
  map.addLayer({
    id: "district-fill",
    type: "fill",
    source: "districts",
    paint: { "fill-color": "#d8e3ec", "fill-opacity": 0.6 },
  });
  map.addLayer({
    id: "district-line",
    type: "line",
    source: "districts",
    paint: { "line-color": "#4a6278", "line-width": 1.2 },
  });
  for (const shape of ["circle", "square", "triangle", "diamond"]) {
    map.addImage(`shape-${shape}`, markerImage(shape));
  }
  map.addSource("things", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
  const colourOf = (key) => [
    "match",
    key,
    "alert", colours.alert,
    "normal", colours.normal,
    "stale", colours.stale,
    colours.off,
  ];
  map.addLayer({
    id: "things",
    type: "circle",
    source: "things",
    paint: {
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 8, 6, 14, 10],
      "circle-color": colourOf(["coalesce", ["feature-state", "state"], ["get", "state"]]),
      "circle-stroke-color": "#ffffff",
      "circle-stroke-width": 1.5,
    },
  });
  map.addLayer({
    id: "thing-shapes",
    type: "symbol",
    source: "things",
    minzoom: shapesFromZoom,
    layout: {
      "icon-image": ["concat", "shape-", ["get", "shape"]],
      "icon-size": ["interpolate", ["linear"], ["zoom"], 9, 0.5, 14, 0.8],
      "icon-allow-overlap": true,
      "icon-ignore-placement": true,
    },
  });
  // the shapes sit inside the circles: one layer answers clicks, so one panel opens
  map.on("click", "things", (event) => openPanel(event.features[0].properties.id));
  map.on("mouseenter", "things", () => (map.getCanvas().style.cursor = "pointer"));
  map.on("mouseleave", "things", () => (map.getCanvas().style.cursor = ""));
}

function buildFilters(body) {
  const kinds = document.getElementById("kind-filters");
  const labels = JSON.parse(dataset().kindLabels);
  kinds.replaceChildren();
  if (body.kinds.length === 0) kinds.textContent = kinds.dataset.empty;
  for (const kind of body.kinds) {
    const label = document.createElement("label");
    label.className = "check";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.name = "kind";
    input.value = kind;
    input.checked = true;
    const shape = document.createElement("span");
    shape.className = `shape shape-${SHAPES[kind] || "circle"}`;
    shape.setAttribute("aria-hidden", "true");
    label.append(input, shape, labels[kind] || kind);
    kinds.append(label);
  }
  const district = document.getElementById("district-filter");
  for (const name of body.districts) {
    const option = document.createElement("option");
    option.value = option.textContent = name;
    district.append(option);
  }
  const form = document.getElementById("filters");
  form.addEventListener("change", () => askForView(0));
  form.addEventListener("submit", (event) => event.preventDefault());
  document.getElementById("find-button").addEventListener("click", findDevice);
  document.getElementById("find-device").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      findDevice();
    }
  });
  consoleState.filtersBuilt = true;
}

function chosen() {
  const form = document.getElementById("filters");
  const values = (name) =>
    [...form.querySelectorAll(`input[name=${name}]:checked`)].map((input) => input.value);
  const kinds = new Set(values("kind"));
  const states = new Set(values("state"));
  return {
    kinds,
    states,
    district: document.getElementById("district-filter").value,
    allKinds: kinds.size === form.querySelectorAll("input[name=kind]").length,
    allStates: states.size === form.querySelectorAll("input[name=state]").length,
  };
}

function setState(thing, state) {
  if (thing.state === state) return;
  thing.state = state;
  consoleState.map.setFeatureState({ source: "things", id: thing.id }, { state });
  if (!chosen().allStates) askForView(0); // it may leave or join the filtered view
}

function listen(url) {
  const status = document.getElementById("live-status");
  const source = new EventSource(url);
  source.addEventListener("open", () => {
    status.textContent = status.dataset.live;
    status.classList.add("on");
  });
  source.addEventListener("error", () => {
    status.textContent = status.dataset.offline;
    status.classList.remove("on");
  });
  source.addEventListener("readings", (event) => {
    const now = Date.now();
    const { readings } = JSON.parse(event.data);
    for (const [datastream, time, result] of readings) {
      const thing = consoleState.things.get(consoleState.byDatastream.get(datastream));
      if (!thing) {
        // a device inside a cluster that may change the cluster's states
        if (consoleState.watched.has(datastream)) askForView(0);
        continue;
      }
      const when = time ? Date.parse(time) : now;
      if (thing.last === null || when > thing.last) thing.last = when;
      setState(thing, stateAt(thing.last, now));
      if (consoleState.panelThing === thing.id) updatePanelRow(datastream, time, result);
    }
  });
}

// centre the map on one device and open its panel (the alerts panel links here)
function showThing(id, lon, lat) {
  const thing = consoleState.things.get(id);
  const center = thing ? [thing.lon, thing.lat] : [lon, lat];
  if (center[0] === undefined || center[0] === null) return;
  consoleState.map.jumpTo({ center, zoom: Math.max(consoleState.map.getZoom(), 16) });
  openPanel(id);
}

async function findDevice() {
  const wanted = document.getElementById("find-device").value.trim();
  if (!wanted) return;
  const response = await fetch(`/console/find.json?name=${encodeURIComponent(wanted)}`, {
    credentials: "same-origin",
  });
  if (!response.ok) return;
  const { found } = await response.json();
  if (found.length === 0) return;
  const [id, , lon, lat] = found[0];
  consoleState.map.jumpTo({ center: [lon, lat], zoom: Math.max(consoleState.map.getZoom(), 16) });
  openPanel(id);
}

// --- the side panel ----------------------------------------------------------------------

function wirePanel() {
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && consoleState.panelThing !== null) closePanel();
  });
}

let panelRequest = 0;
async function openPanel(id) {
  const panel = document.getElementById("panel");
  const request = ++panelRequest;
  await htmx.ajax("GET", `/console/things/${id}`, { target: "#panel", swap: "innerHTML" });
  if (request !== panelRequest) return; // another device was chosen meanwhile
  consoleState.panelThing = id;
  panel.hidden = false;
  panel.dataset.thing = String(id);
  window.cityhelixLocaliseTimes(panel);
  panel.querySelector("#panel-close").addEventListener("click", closePanel);
  const select = panel.querySelector("#chart-stream");
  if (select) {
    select.addEventListener("change", () => drawChart(Number(select.value)));
    if (select.value) drawChart(Number(select.value));
  }
  panel.focus();
}

function closePanel() {
  const panel = document.getElementById("panel");
  panel.hidden = true;
  consoleState.panelThing = null;
  if (consoleState.chart) {
    consoleState.chart.dispose();
    consoleState.chart = null;
  }
  document.getElementById("map").querySelector("canvas")?.focus();
}

function updatePanelRow(datastream, time, result) {
  const row = document.querySelector(`#panel tr[data-datastream="${datastream}"]`);
  if (!row) return;
  const lang = dataset().lang;
  row.querySelector(".number").textContent =
    typeof result === "number" ? result.toLocaleString(lang) : String(result);
  const stamp = row.querySelector("time");
  stamp.setAttribute("datetime", time || "");
  window.cityhelixLocaliseTimes(row);
}

async function drawChart(datastream) {
  const response = await fetch(`/console/datastreams/${datastream}/day`, {
    credentials: "same-origin",
  });
  if (!response.ok) return;
  const { points } = await response.json();
  const element = document.getElementById("chart");
  if (!element) return;
  if (consoleState.chart) consoleState.chart.dispose();
  if (points.length === 0) {
    consoleState.chart = null;
    element.textContent = element.dataset.empty;
    return;
  }
  element.textContent = "";
  const lang = dataset().lang;
  const chart = echarts.init(element, null, { renderer: "canvas" });
  const time = new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit" });
  chart.setOption({
    animation: false,
    grid: { left: 48, right: 12, top: 16, bottom: 28 },
    tooltip: { trigger: "axis", valueFormatter: (v) => Number(v).toLocaleString(lang) },
    xAxis: {
      type: "time",
      splitNumber: 4,
      axisLabel: { hideOverlap: true, formatter: (v) => time.format(new Date(v)) },
    },
    yAxis: { type: "value", scale: true, axisLabel: { formatter: (v) => v.toLocaleString(lang) } },
    series: [
      {
        type: "line",
        showSymbol: false,
        lineStyle: { color: "#1f5f99", width: 1.5 },
        data: points.map(([start, mean]) => [start, mean]),
      },
    ],
  });
  consoleState.chart = chart;
  element.dataset.points = String(points.length);
}
