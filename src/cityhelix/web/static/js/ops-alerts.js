// The alerts panel: the list is drawn again by the server whenever the operations centre's
// stream says an alert changed, without a reload; a comment being typed survives the redraw.
"use strict";
window.cityhelixAlerts = { refreshed: 0, ids: () => [] };

document.addEventListener("DOMContentLoaded", () => {
  const list = document.getElementById("alert-list");
  if (!list) return;
  const idsIn = (root) => [...root.querySelectorAll("[data-alert]")].map((e) => Number(e.dataset.alert));
  window.cityhelixAlerts.ids = () => idsIn(list);
  let pending = null;
  const redraw = async () => {
    pending = null;
    const response = await fetch(list.dataset.fragmentUrl, { credentials: "same-origin" });
    if (response.status === 401 || response.redirected) {
      window.location.assign("/login?next=/console/alerts");
      return;
    }
    if (!response.ok) return;
    const html = await response.text();
    const before = new Set(idsIn(list));
    const typed = new Map();
    for (const area of list.querySelectorAll("textarea")) if (area.value) typed.set(area.id, area.value);
    const focused = document.activeElement && list.contains(document.activeElement) ? document.activeElement.id : null;
    list.innerHTML = html;
    for (const [id, value] of typed) {
      const area = document.getElementById(id);
      if (area) area.value = value;
    }
    if (focused) document.getElementById(focused)?.focus();
    for (const item of list.querySelectorAll("[data-alert]")) {
      if (!before.has(Number(item.dataset.alert))) item.classList.add("fresh");
    }
    window.cityhelixLocaliseTimes(list);
    window.cityhelixAlerts.refreshed += 1;
  };
  const status = document.getElementById("alerts-live");
  const source = new EventSource(list.dataset.eventsUrl);
  source.addEventListener("open", () => {
    status.textContent = status.dataset.live;
    status.classList.add("on");
  });
  source.addEventListener("error", () => {
    status.textContent = status.dataset.offline;
    status.classList.remove("on");
  });
  source.addEventListener("alert", () => {
    // a burst of changes is one redraw
    if (pending === null) pending = setTimeout(redraw, 150);
  });
});
