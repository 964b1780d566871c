// The city map: every Thing as a marker (shape by kind, colour by state), filters, the side
// panel with a 24-hour chart, and live readings from the server's event stream (SSE).
// Markers change through MapLibre feature state, so a live reading never re-tiles the map.
"use strict";

const SHAPES = {
  streetlight: "circle",
  air_quality: "square",
  traffic: "triangle",
  water_level: "diamond",
  camera: "square",
  park_tenant: "diamond",
};

// up to this many devices the kind shapes show at every zoom (10,000 icons cost the first
// render about a second on a CPU renderer: BENCHMARKS.md section 6)
const SHAPES_EVERYWHERE = 2000;

const consoleState = {
  map: null,
  things: new Map(), // id -> {id, name, kind, district, state, lon, lat, last, datastreams}
  byDatastream: new Map(), // Datastream id -> Thing id
  staleMs: 0,
  offMs: 0,
  panelThing: null,
  chart: null,
  firstRender: null,
};
window.cityhelixConsole = {
  stateOf: (id) => consoleState.things.get(id)?.state ?? null,
  shownCount: () => filteredIds().length,
  map: () => consoleState.map,
  thingOf: (datastream) => consoleState.byDatastream.get(datastream) ?? null,
  position: (id) => {
    const thing = consoleState.things.get(id);
    return thing ? [thing.lon, thing.lat] : null;
  },
  show: (id) => showThing(id),
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

async function start() {
  const data = dataset();
  const started = performance.now();
  maplibregl.setWorkerUrl(data.workerUrl);
  maplibregl.prewarm(); // the worker starts while the style and the data load
  const boundaries = fetch(data.boundariesUrl).then((r) => r.json());
  const map = new maplibregl.Map({
    container: "map",
    style: data.styleUrl || offlineStyle(),
    center: [106.7, 11.0],
    zoom: 10,
    attributionControl: false,
    maxPitch: 0,
    fadeDuration: 0,
  });
  consoleState.map = map;
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  const [response] = await Promise.all([
    fetch(data.thingsUrl, { credentials: "same-origin" }),
    new Promise((resolve) =>
      map.once("load", () => {
        window.cityhelixConsole.timings.style = performance.now() - started;
        resolve();
      }),
    ),
  ]);
  if (response.status === 401) {
    window.location.assign("/login?next=/console");
    return;
  }
  const body = await response.json();
  window.cityhelixConsole.timings.data = performance.now() - started;
  consoleState.staleMs = body.stale_seconds * 1000;
  consoleState.offMs = body.off_seconds * 1000;
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
  const outline = await boundaries;
  await addLayers(map, data, features, outline);
  buildFilters(body);
  fitToCity(outline);
  window.cityhelixConsole.timings.layers = performance.now() - started;
  map.once("render", () => {
    window.cityhelixConsole.timings.render = performance.now() - started;
  });
  const markersLoaded = (event) => {
    if (event.sourceId === "things" && map.isSourceLoaded("things")) {
      map.off("sourcedata", markersLoaded);
      window.cityhelixConsole.timings.markers = performance.now() - started;
    }
  };
  map.on("sourcedata", markersLoaded);
  map.once("idle", () => {
    window.cityhelixConsole.timings.interactive = performance.now() - started;
    window.cityhelixConsole.ready = true;
    document.getElementById("map").dataset.ready = "true";
  });
  listen(data.eventsUrl);
  setInterval(refreshStates, 30_000);
  wirePanel();
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

async function addLayers(map, data, features, boundaries) {
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
  map.addSource("things", { type: "geojson", data: { type: "FeatureCollection", features } });
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
    // a few thousand shapes are cheap; past that they wait for zoom 12 (see SHAPES_EVERYWHERE)
    minzoom: features.length > SHAPES_EVERYWHERE ? 12 : 0,
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

// the province's outline and every device in view
function fitToCity(outline) {
  const bounds = new maplibregl.LngLatBounds();
  for (const feature of outline.features || []) {
    for (const ring of feature.geometry.type === "Polygon" ? feature.geometry.coordinates : []) {
      for (const point of ring) bounds.extend(point);
    }
  }
  for (const thing of consoleState.things.values()) bounds.extend([thing.lon, thing.lat]);
  if (bounds.isEmpty()) return;
  consoleState.map.fitBounds(bounds, { padding: 40, animate: false, maxZoom: 14 });
}

function buildFilters(body) {
  const kinds = document.getElementById("kind-filters");
  kindCount = body.kinds.length;
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
  const names = document.getElementById("device-names");
  for (const thing of consoleState.things.values()) {
    const option = document.createElement("option");
    option.value = thing.name;
    names.append(option);
  }
  const form = document.getElementById("filters");
  form.addEventListener("change", applyFilters);
  form.addEventListener("submit", (event) => event.preventDefault());
  document.getElementById("find-button").addEventListener("click", findDevice);
  document.getElementById("find-device").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      findDevice();
    }
  });
  applyFilters();
}

function chosen() {
  const form = document.getElementById("filters");
  const values = (name) =>
    [...form.querySelectorAll(`input[name=${name}]:checked`)].map((input) => input.value);
  return {
    kinds: new Set(values("kind")),
    states: new Set(values("state")),
    district: document.getElementById("district-filter").value,
  };
}

function filteredIds() {
  const { kinds, states, district } = chosen();
  const ids = [];
  for (const thing of consoleState.things.values()) {
    if (!kinds.has(thing.kind) || !states.has(thing.state)) continue;
    if (district && thing.district !== district) continue;
    ids.push(thing.id);
  }
  return ids;
}

let currentFilter = "null";
let kindCount = 0;
let statesChanged = false;
let refilter = null;

// Kind and district are fixed properties: plain expressions. A state changes live through
// feature state, which filters cannot read: a partial state filter re-sends the source's
// data (its `state` properties) first, at most once a second while states change.
function applyFilters() {
  const map = consoleState.map;
  const { kinds, states, district } = chosen();
  const parts = ["all"];
  if (kinds.size < kindCount) parts.push(["in", ["get", "kind"], ["literal", [...kinds]]]);
  if (district) parts.push(["==", ["get", "district"], district]);
  const allStates = document.querySelectorAll("#filters input[name=state]").length;
  if (states.size < allStates) {
    if (statesChanged) {
      statesChanged = false;
      const features = [...consoleState.things.values()].map(featureOf);
      map.getSource("things").setData({ type: "FeatureCollection", features });
    }
    parts.push(["in", ["get", "state"], ["literal", [...states]]]);
  }
  const filter = parts.length > 1 ? parts : null;
  if (JSON.stringify(filter) !== currentFilter) {
    currentFilter = JSON.stringify(filter);
    map.setFilter("things", filter);
    map.setFilter("thing-shapes", filter);
  }
  const summary = document.getElementById("map-summary");
  summary.textContent = summary.dataset.template
    .replace("%(shown)s", filteredIds().length.toLocaleString(dataset().lang))
    .replace("%(total)s", consoleState.things.size.toLocaleString(dataset().lang));
}

function setState(thing, state) {
  if (thing.state === state) return;
  thing.state = state;
  statesChanged = true;
  consoleState.map.setFeatureState({ source: "things", id: thing.id }, { state });
  if (refilter === null) {
    refilter = setTimeout(() => {
      refilter = null;
      applyFilters();
    }, 1000);
  }
}

function refreshStates() {
  const now = Date.now();
  for (const thing of consoleState.things.values()) setState(thing, stateAt(thing.last, now));
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
      if (!thing) continue;
      const when = time ? Date.parse(time) : now;
      if (thing.last === null || when > thing.last) thing.last = when;
      setState(thing, stateAt(thing.last, now));
      if (consoleState.panelThing === thing.id) updatePanelRow(datastream, time, result);
    }
  });
}

// centre the map on one device and open its panel (the alerts panel links here)
function showThing(id) {
  const thing = consoleState.things.get(id);
  if (!thing) return;
  consoleState.map.jumpTo({ center: [thing.lon, thing.lat], zoom: 14 });
  openPanel(thing.id);
}

function findDevice() {
  const wanted = document.getElementById("find-device").value.trim().toLowerCase();
  if (!wanted) return;
  for (const thing of consoleState.things.values()) {
    if (thing.name.toLowerCase().includes(wanted)) {
      consoleState.map.jumpTo({ center: [thing.lon, thing.lat], zoom: 14 });
      openPanel(thing.id);
      return;
    }
  }
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
