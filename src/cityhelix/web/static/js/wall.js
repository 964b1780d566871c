// The wall screen: its figures come again from the server every 30 s (htmx), and sooner
// when the live feed (SSE) says readings arrived, at most once every 10 s.
"use strict";
const WALL_REFRESH_MS = 10_000;
let lastRefresh = Date.now();

document.addEventListener("DOMContentLoaded", () => {
  paintSwatches(document);
  document.body.addEventListener("htmx:afterSwap", (event) => {
    lastRefresh = Date.now();
    paintSwatches(event.target);
  });
  const figures = document.getElementById("wall-figures");
  const status = document.getElementById("wall-live");
  const source = new EventSource(figures.dataset.eventsUrl);
  source.addEventListener("open", () => {
    status.textContent = status.dataset.live;
    status.classList.add("on");
  });
  source.addEventListener("error", () => {
    status.textContent = status.dataset.offline;
    status.classList.remove("on");
  });
  source.addEventListener("readings", () => {
    if (Date.now() - lastRefresh < WALL_REFRESH_MS) return;
    lastRefresh = Date.now();
    document.body.dispatchEvent(new Event("kpi-refresh"));
  });
});

// band colours come as data (CSP allows no inline style attribute)
function paintSwatches(root) {
  for (const swatch of root.querySelectorAll(".aqi-swatch[data-colour]")) {
    swatch.style.backgroundColor = swatch.dataset.colour;
  }
}
