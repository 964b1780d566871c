// The public air-quality page: colour the legend's and the table's swatches, and draw each
// station on the map as a circle in its index's colour (Decision 1459/QĐ-TCMT, Table 1).
"use strict";

window.cityhelixAir = { ready: false, stations: [], renderedColours: () => [] };

function offlineStyle() {
  return {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#eef2f5" } }],
  };
}

function colourSwatches() {
  for (const swatch of document.querySelectorAll(".swatch[data-colour]")) {
    swatch.style.backgroundColor = swatch.dataset.colour;
  }
}

async function drawMap() {
  const element = document.getElementById("air-map");
  if (!element || !window.maplibregl) return;
  const data = element.dataset;
  element.style.height = "28rem"; // the shared stylesheet sizes only the console's map
  maplibregl.setWorkerUrl(data.workerUrl);
  const map = new maplibregl.Map({
    container: "air-map",
    style: data.styleUrl || offlineStyle(),
    center: [106.7, 11.0],
    zoom: 9,
    attributionControl: false,
    maxPitch: 0,
    fadeDuration: 0,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  const [stations, boundaries] = await Promise.all([
    fetch(data.stationsUrl, { credentials: "same-origin" }).then((r) => r.json()),
    fetch(data.boundariesUrl).then((r) => r.json()),
    new Promise((resolve) => map.once("load", resolve)),
  ]);
  const placed = stations.stations.filter((s) => s.lon !== null && s.lat !== null);
  map.addSource("districts", { type: "geojson", data: boundaries });
  map.addLayer({
    id: "district-lines",
    type: "line",
    source: "districts",
    paint: { "line-color": "#5b6670", "line-width": 1 },
  });
  map.addSource("stations", {
    type: "geojson",
    data: {
      type: "FeatureCollection",
      features: placed.map((s) => ({
        type: "Feature",
        geometry: { type: "Point", coordinates: [s.lon, s.lat] },
        properties: {
          id: s.thing_id,
          name: s.name,
          aqi: s.aqi === null ? "–" : String(s.aqi),
          colour: s.colour || "#9aa3ab",
        },
      })),
    },
  });
  map.addLayer({
    id: "stations",
    type: "circle",
    source: "stations",
    paint: {
      "circle-radius": 9,
      "circle-color": ["get", "colour"],
      "circle-stroke-color": "#1f2328",
      "circle-stroke-width": 1.5,
    },
  });
  if (placed.length) {
    const bounds = new maplibregl.LngLatBounds();
    for (const s of placed) bounds.extend([s.lon, s.lat]);
    map.fitBounds(bounds, { padding: 40, maxZoom: 12, duration: 0 });
  }
  map.on("click", "stations", (event) => {
    const feature = event.features[0];
    const row = document.querySelector(`tr[data-thing-id="${feature.properties.id}"]`);
    if (row) row.scrollIntoView({ block: "center" });
  });
  map.once("idle", () => {
    window.cityhelixAir.stations = placed;
    window.cityhelixAir.renderedColours = () =>
      map.queryRenderedFeatures({ layers: ["stations"] }).map((f) => ({
        id: f.properties.id,
        colour: f.properties.colour,
      }));
    window.cityhelixAir.ready = true;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  colourSwatches();
  drawMap();
});
