// The Triple Helix page: the actors' co-participation network (ECharts force graph, nodes
// coloured by kind) and synergy by year (a line chart). Data comes in data-* attributes.
"use strict";

function drawNetwork() {
  const element = document.getElementById("helix-network");
  if (!element) return;
  const graph = JSON.parse(element.dataset.graph);
  const kindNames = JSON.parse(element.dataset.kindNames);
  const categories = graph.kinds.map((k) => ({ name: kindNames[k.kind], itemStyle: { color: k.colour } }));
  const index = Object.fromEntries(graph.kinds.map((k, i) => [k.kind, i]));
  const chart = echarts.init(element, null, { renderer: "canvas" });
  chart.setOption({
    animation: false,
    tooltip: { formatter: (p) => (p.dataType === "node" ? `${p.data.name}: ${p.data.value}` : "") },
    series: [
      {
        type: "graph",
        layout: "force",
        roam: true,
        draggable: true,
        categories,
        // computed before the first frame (no animation), so every load draws the same picture
        force: { repulsion: 900, edgeLength: [80, 240], gravity: 0.04, layoutAnimation: false },
        label: { show: true, position: "right", fontSize: 10, color: "#1a1a1a" },
        labelLayout: { hideOverlap: true },
        lineStyle: { color: "#8a949e", opacity: 0.7 },
        emphasis: { focus: "adjacency" },
        data: graph.nodes.map((n) => ({
          id: n.id,
          name: n.name,
          value: n.value,
          category: index[n.kind],
          symbolSize: 8 + 3 * Math.sqrt(n.value),
        })),
        links: graph.links.map((l) => ({
          source: l.source,
          target: l.target,
          value: l.value,
          lineStyle: { width: Math.min(6, 0.6 + l.value * 0.6) },
        })),
      },
    ],
  });
  window.addEventListener("resize", () => chart.resize());
}

function drawSynergy() {
  const element = document.getElementById("synergy-chart");
  if (!element) return;
  const lang = element.dataset.lang || "en";
  const synergy = JSON.parse(element.dataset.synergy);
  const chart = echarts.init(element, null, { renderer: "canvas" });
  const colours = { T_uig: "#12355b", T_ui: "#1b7f3b", T_ug: "#b3261e", T_ig: "#7a4fa0" };
  const names = { T_uig: "T(U,I,G)", T_ui: "T(U,I)", T_ug: "T(U,G)", T_ig: "T(I,G)" };
  chart.setOption({
    animation: false,
    grid: { left: 56, right: 12, top: 28, bottom: 28 },
    legend: { top: 0 },
    tooltip: { trigger: "axis", valueFormatter: (v) => (v === null ? "—" : Number(v).toLocaleString(lang, { maximumFractionDigits: 4 })) },
    xAxis: { type: "category", data: synergy.years },
    yAxis: { type: "value", name: "bits", axisLabel: { formatter: (v) => v.toLocaleString(lang) } },
    series: Object.keys(names).map((key) => ({
      name: names[key],
      type: "line",
      data: synergy.series[key],
      itemStyle: { color: colours[key] },
      lineStyle: { width: key === "T_uig" ? 3 : 1.5 },
    })),
  });
  window.addEventListener("resize", () => chart.resize());
}

document.addEventListener("DOMContentLoaded", () => {
  drawNetwork();
  drawSynergy();
});
