// The parks map of the investment pages (staff and portal): park outlines on the province's
// own GeoJSON (no tiles, no other origin), shaded by free land; a click opens the park.
// On the portal, the parks the filters leave out are drawn faint (data-shown).
"use strict";

window.cityhelixInvestMap = { ready: false, parks: 0 };

document.addEventListener("DOMContentLoaded", () => {
  const element = document.getElementById("invest-map");
  if (element) start(element).catch((error) => console.warn("map not drawn:", error));
});

async function start(element) {
  const data = element.dataset;
  maplibregl.setWorkerUrl(data.workerUrl);
  const [outline, parks] = await Promise.all([
    fetch(data.boundariesUrl).then((r) => r.json()),
    fetch(data.parksUrl).then((r) => r.json()),
  ]);
  const shown = data.shown ? new Set(JSON.parse(data.shown)) : null;
  for (const feature of parks.features) {
    feature.properties.shown = shown === null || shown.has(feature.properties.id);
  }
  const parkCount = parks.features.filter((f) => f.properties.kind === "park").length;
  const map = new maplibregl.Map({
    container: element,
    style: {
      version: 8,
      sources: {},
      layers: [{ id: "background", type: "background", paint: { "background-color": "#eef2f5" } }],
    },
    center: [106.7, 11.1],
    zoom: 9,
    attributionControl: false,
    maxPitch: 0,
    fadeDuration: 0,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  await new Promise((resolve) => map.once("load", resolve));
  map.addSource("districts", { type: "geojson", data: outline });
  map.addLayer({ id: "district-fill", type: "fill", source: "districts", paint: { "fill-color": "#d8e3ec", "fill-opacity": 0.6 } });
  map.addLayer({ id: "district-line", type: "line", source: "districts", paint: { "line-color": "#4a6278", "line-width": 1 } });
  map.addSource("parks", { type: "geojson", data: parks });
  map.addLayer({
    id: "park-fill",
    type: "fill",
    source: "parks",
    filter: ["==", ["get", "kind"], "park"],
    paint: {
      "fill-color": ["interpolate", ["linear"], ["get", "free_land_ha"], 0, "#9ecae1", 30, "#3182bd", 100, "#08306b"],
      "fill-opacity": ["case", ["get", "shown"], 0.85, 0.15],
    },
  });
  map.addLayer({ id: "park-line", type: "line", source: "parks", paint: { "line-color": "#12355b", "line-width": 1.5 } });
  map.addLayer({
    id: "plot-fill",
    type: "fill",
    source: "parks",
    filter: ["==", ["get", "kind"], "plot"],
    paint: { "fill-color": "#b26a00", "fill-opacity": 0.9 },
  });
  // the canvas follows its box: the page's layout may settle after the map was made
  new ResizeObserver(() => map.resize()).observe(element);
  map.resize();
  fit(map, [...outline.features, ...parks.features]);
  map.on("click", "park-fill", (event) => {
    const id = event.features[0].properties.id;
    window.location.assign(`${data.link}${id}`);
  });
  map.on("mouseenter", "park-fill", () => (map.getCanvas().style.cursor = "pointer"));
  map.on("mouseleave", "park-fill", () => (map.getCanvas().style.cursor = ""));
  map.once("idle", () => {
    window.cityhelixInvestMap.ready = true;
    window.cityhelixInvestMap.parks = parkCount;
    element.dataset.ready = "true";
  });
}

function fit(map, features) {
  const bounds = new maplibregl.LngLatBounds();
  const add = (coordinates) => {
    if (typeof coordinates[0] === "number") bounds.extend(coordinates);
    else for (const inner of coordinates) add(inner);
  };
  for (const feature of features) if (feature.geometry) add(feature.geometry.coordinates);
  if (!bounds.isEmpty()) map.fitBounds(bounds, { padding: 20, animate: false });
}
