// The console's traffic page: each level of service's swatch in its colour from the data
// (level_of_service.json); the page needs nothing else from script.
"use strict";

window.cityhelixTraffic = { ready: false };

document.addEventListener("DOMContentLoaded", () => {
  for (const swatch of document.querySelectorAll(".swatch[data-colour]")) {
    swatch.style.backgroundColor = swatch.dataset.colour;
  }
  window.cityhelixTraffic.ready = true;
});
