// The citizen's report page: the chosen category's questions, a pin on the map (a tap, a
// drag, the map's centre or the phone's location) written into the form's lat/long, and
// a photo too large refused before it is sent (the server checks it again, by content).
"use strict";

const report = { map: null, marker: null };
window.cityhelixReport = { ready: false, pin: () => report.marker?.getLngLat() ?? null };

document.addEventListener("DOMContentLoaded", () => {
  wireCategory();
  wirePhoto();
  startMap();
});

function wireCategory() {
  const select = document.getElementById("service_code");
  const show = () => {
    for (const fieldset of document.querySelectorAll("fieldset.attributes")) {
      const chosen = fieldset.dataset.category === select.value;
      fieldset.hidden = !chosen;
      fieldset.disabled = !chosen; // a hidden category's answers are not sent
      for (const control of fieldset.querySelectorAll("[data-required='true']")) {
        control.required = chosen;
      }
    }
  };
  select.addEventListener("change", show);
  show();
}

function wirePhoto() {
  const input = document.getElementById("media");
  input.addEventListener("change", () => {
    const file = input.files[0];
    const tooLarge = file && file.size > Number(input.dataset.maxBytes);
    input.setCustomValidity(tooLarge ? input.labels[0].textContent : "");
    if (tooLarge) input.reportValidity();
  });
}

function outlineStyle() {
  return {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#eef2f5" } }],
  };
}

function startMap() {
  const element = document.getElementById("report-map");
  const data = element.dataset;
  maplibregl.setWorkerUrl(data.workerUrl);
  const map = new maplibregl.Map({
    container: element,
    style: outlineStyle(),
    center: [106.7, 11.0],
    zoom: 9,
    attributionControl: false,
    maxPitch: 0,
    fadeDuration: 0,
  });
  report.map = map;
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.on("load", async () => {
    const outline = await (await fetch(data.boundariesUrl)).json();
    map.addSource("districts", { type: "geojson", data: outline });
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
    const lat = Number.parseFloat(document.getElementById("lat").value);
    const lon = Number.parseFloat(document.getElementById("long").value);
    if (Number.isFinite(lat) && Number.isFinite(lon)) placePin([lon, lat], true);
    else fitOutline(map, outline);
    map.once("idle", () => {
      window.cityhelixReport.ready = true;
      element.dataset.ready = "true";
    });
  });
  map.on("click", (event) => placePin([event.lngLat.lng, event.lngLat.lat], false));
  document.getElementById("pin-centre").addEventListener("click", () => {
    const centre = map.getCenter();
    placePin([centre.lng, centre.lat], false);
  });
  document.getElementById("use-location").addEventListener("click", locate);
}

// the whole province in view, until a pin says where to look
function fitOutline(map, outline) {
  const bounds = new maplibregl.LngLatBounds();
  for (const feature of outline.features || []) {
    for (const ring of feature.geometry.type === "Polygon" ? feature.geometry.coordinates : []) {
      for (const point of ring) bounds.extend(point);
    }
  }
  if (!bounds.isEmpty()) map.fitBounds(bounds, { padding: 8, animate: false });
}

function placePin(lonLat, fly) {
  if (report.marker === null) {
    const pin = document.createElement("div");
    pin.className = "pin";
    report.marker = new maplibregl.Marker({ element: pin, draggable: true, anchor: "bottom" });
    report.marker.on("dragend", () => {
      const where = report.marker.getLngLat();
      writePin([where.lng, where.lat]);
    });
  }
  report.marker.setLngLat(lonLat).addTo(report.map);
  if (fly) report.map.jumpTo({ center: lonLat, zoom: Math.max(report.map.getZoom(), 15) });
  writePin(lonLat);
}

function writePin([lon, lat]) {
  document.getElementById("lat").value = lat.toFixed(6);
  document.getElementById("long").value = lon.toFixed(6);
  const status = document.getElementById("pin-status");
  status.textContent = status.dataset.placed
    .replace("%(lat)s", lat.toFixed(5))
    .replace("%(lon)s", lon.toFixed(5));
}

function locate() {
  const status = document.getElementById("pin-status");
  if (!("geolocation" in navigator)) {
    status.textContent = status.dataset.denied;
    return;
  }
  status.textContent = status.dataset.locating;
  navigator.geolocation.getCurrentPosition(
    (position) => placePin([position.coords.longitude, position.coords.latitude], true),
    () => {
      status.textContent = status.dataset.denied;
    },
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
  );
}
