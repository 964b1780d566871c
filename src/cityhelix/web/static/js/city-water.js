// The console's water-level page: each gauge's bar against its alert levels I, II, III, and
// its last 24 hours on a chart (ECharts) with the three levels drawn as lines.
"use strict";

window.cityhelixWater = { ready: false, points: {} };

// the alert levels' lines; the bar's own colours come from the stylesheet
const LEVEL_LINES = { I: "#8a6d00", II: "#b35900", III: "#b3261e" };

function drawBars() {
  for (const bar of document.querySelectorAll(".water-bar")) {
    const floor = Number(bar.dataset.floor);
    const top = Number(bar.dataset.top);
    if (!(top > floor)) continue;
    const share = (value) =>
      `${Math.max(0, Math.min(100, (100 * (value - floor)) / (top - floor)))}%`;
    if (bar.dataset.level !== "") {
      bar.querySelector(".water-fill").style.width = share(Number(bar.dataset.level));
    }
    for (const mark of bar.querySelectorAll(".water-mark")) {
      mark.style.left = share(Number(mark.dataset.at));
    }
  }
}

async function drawChart(element) {
  const response = await fetch(element.dataset.url, { credentials: "same-origin" });
  if (!response.ok) return;
  const body = await response.json();
  window.cityhelixWater.points[body.thing_id] = body.points;
  if (body.points.length === 0) {
    element.textContent = element.dataset.empty;
    return;
  }
  const lang = document.documentElement.lang || "en";
  const time = new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit" });
  const chart = echarts.init(element, null, { renderer: "canvas" });
  chart.setOption({
    animation: false,
    grid: { left: 52, right: 36, top: 32, bottom: 28 },
    tooltip: { trigger: "axis", valueFormatter: (v) => `${Number(v).toLocaleString(lang)} m` },
    xAxis: {
      type: "time",
      splitNumber: 4,
      axisLabel: { hideOverlap: true, formatter: (v) => time.format(new Date(v)) },
    },
    yAxis: {
      type: "value",
      name: element.dataset.levelLabel,
      scale: true,
      max: (extent) => Math.max(extent.max, body.alert_levels_m.III),
      axisLabel: { formatter: (v) => v.toLocaleString(lang) },
    },
    series: [
      {
        type: "line",
        showSymbol: false,
        lineStyle: { color: "#1f5f99", width: 1.5 },
        data: body.points,
        markLine: {
          symbol: "none",
          silent: true,
          data: Object.entries(body.alert_levels_m).map(([name, value]) => ({
            yAxis: value,
            name,
            label: { formatter: name, position: "end" },
            lineStyle: { color: LEVEL_LINES[name], type: "dashed" },
          })),
        },
      },
    ],
  });
}

document.addEventListener("DOMContentLoaded", async () => {
  drawBars();
  if (window.echarts) {
    await Promise.all([...document.querySelectorAll(".city-chart[data-url]")].map(drawChart));
  }
  window.cityhelixWater.ready = true;
});
