// An incident's page: the SLA countdowns tick every second (the server gave the seconds
// left when it drew the page; the deadline itself is in data-deadline).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const sla = document.querySelector(".sla");
  if (!sla) return;
  const lang = sla.dataset.lang || "en";
  const unit = (name) => new Intl.NumberFormat(lang, { style: "unit", unit: name, unitDisplay: "short" });
  const days = unit("day");
  const hours = unit("hour");
  const minutes = unit("minute");
  const seconds = unit("second");
  const span = (total) => {
    const s = Math.floor(Math.abs(total));
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d > 0) return `${days.format(d)} ${hours.format(h)}`;
    if (h > 0) return `${hours.format(h)} ${minutes.format(m)}`;
    return `${minutes.format(m)} ${seconds.format(s % 60)}`;
  };
  const tick = () => {
    for (const element of sla.querySelectorAll(".countdown[data-deadline]")) {
      const left = (Date.parse(element.dataset.deadline) - Date.now()) / 1000;
      const late = left < 0;
      element.classList.toggle("late", late);
      element.textContent = (late ? sla.dataset.late : sla.dataset.left).replace("%(time)s", span(left));
    }
  };
  tick();
  setInterval(tick, 1000);
});
