// The KPI page: the readings-per-minute chart, drawn again when htmx refreshes the figures.
"use strict";
let rateChart = null;

function drawRate() {
  const element = document.getElementById("rate-chart");
  if (!element) return;
  const lang = element.dataset.lang || "en";
  const points = JSON.parse(element.dataset.points);
  if (rateChart) rateChart.dispose();
  rateChart = echarts.init(element, null, { renderer: "canvas" });
  const time = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" });
  rateChart.setOption({
    animation: false,
    grid: { left: 56, right: 12, top: 16, bottom: 28 },
    tooltip: { trigger: "axis", valueFormatter: (v) => Number(v).toLocaleString(lang) },
    xAxis: {
      type: "time",
      splitNumber: 6,
      axisLabel: { hideOverlap: true, formatter: (v) => time.format(new Date(v)) },
    },
    yAxis: { type: "value", minInterval: 1, axisLabel: { formatter: (v) => v.toLocaleString(lang) } },
    series: [{ type: "bar", itemStyle: { color: "#1f5f99" }, data: points }],
  });
}

document.addEventListener("DOMContentLoaded", () => {
  drawRate();
  document.body.addEventListener("htmx:afterSwap", drawRate);
});
