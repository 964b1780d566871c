// The rule editor: only the fields of the chosen kind show; the server's check (htmx, as the
// operator types) marks the field it names; the preview draws the last 24 hours of readings
// with the times the rule would have fired, before anything is saved.
"use strict";
window.cityhelixRulePreview = { done: 0, alerts: null, failed: null };

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("rule-form");
  if (!form) return;
  const kind = document.getElementById("rule-kind");
  const showKind = () => {
    for (const part of form.querySelectorAll(".kind-part")) {
      part.hidden = !part.dataset.kinds.split(" ").includes(kind.value);
    }
  };
  kind.addEventListener("change", showKind);
  showKind();
  markField();
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.target.id === "rule-check") markField();
  });
  document.getElementById("preview-button").addEventListener("click", () => preview(form));
});

// the field the check names: aria-invalid and described by the message
function markField() {
  const message = document.querySelector("#rule-check [data-field]");
  const field = message ? message.dataset.field : "";
  for (const input of document.querySelectorAll("#rule-form input, #rule-form select")) {
    const wrong = field !== "" && input.name === field;
    input.toggleAttribute("aria-invalid", wrong);
    if (wrong) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", "rule-check");
    } else if (input.getAttribute("aria-describedby") === "rule-check") {
      input.removeAttribute("aria-describedby");
    }
  }
}

let previewChart = null;

async function preview(form) {
  const summary = document.getElementById("preview-summary");
  const element = document.getElementById("preview-chart");
  const lang = element.dataset.lang || "en";
  const response = await fetch("/console/rules/preview", {
    method: "POST",
    credentials: "same-origin",
    body: new URLSearchParams(new FormData(form)),
  });
  const answer = await response.json();
  if (!response.ok) {
    summary.textContent = `${summary.dataset.failed} ${answer.detail}`;
    window.cityhelixRulePreview.failed = answer.detail;
    window.cityhelixRulePreview.done += 1;
    return;
  }
  const number = (v) => Number(v).toLocaleString(lang);
  summary.textContent = summary.dataset.template
    .replace("%(alerts)s", number(answer.alerts.length))
    .replace("%(readings)s", number(answer.readings));
  const list = document.getElementById("preview-alerts");
  const severities = JSON.parse(list.dataset.severities);
  const time = new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "short" });
  list.replaceChildren(
    ...answer.alerts.map((alert) => {
      const item = document.createElement("li");
      const until = alert.cleared_at ? ` – ${time.format(new Date(alert.cleared_at))}` : " –";
      const severity = severities[alert.severity] || alert.severity;
      item.textContent = `${time.format(new Date(alert.fired_at))}${until} · ${severity} · ${number(alert.value)} (#${alert.datastream_id})`;
      return item;
    }),
  );
  draw(element, answer, lang);
  window.cityhelixRulePreview.alerts = answer.alerts.length;
  window.cityhelixRulePreview.failed = null;
  window.cityhelixRulePreview.done += 1;
}

function draw(element, answer, lang) {
  if (previewChart) previewChart.dispose();
  previewChart = echarts.init(element, null, { renderer: "canvas" });
  const colours = ["#1f5f99", "#14602c", "#6a3d9a", "#8a4b00", "#3c4043"];
  const areas = answer.alerts.map((alert) => [
    { xAxis: alert.fired_at, name: element.dataset.fired },
    { xAxis: alert.cleared_at || answer.to },
  ]);
  const lines = [];
  if (answer.levels.value !== undefined) lines.push({ yAxis: answer.levels.value, name: element.dataset.level });
  if (answer.levels.clear_value !== undefined) lines.push({ yAxis: answer.levels.clear_value, name: element.dataset.clear });
  for (const name of ["low", "high"]) {
    if (answer.levels[name] !== undefined) lines.push({ yAxis: answer.levels[name], name: element.dataset.level });
  }
  const ids = Object.keys(answer.series);
  const series = ids.map((id, index) => ({
    name: `#${id}`,
    type: "line",
    showSymbol: false,
    lineStyle: { color: colours[index % colours.length], width: 1.5 },
    itemStyle: { color: colours[index % colours.length] },
    data: answer.series[id],
  }));
  if (series.length === 0) series.push({ type: "line", data: [] });
  series[0].markArea = { silent: true, itemStyle: { color: "rgba(198, 40, 40, 0.18)" }, data: areas };
  series[0].markLine = {
    silent: true,
    symbol: "none",
    lineStyle: { color: "#a61b1b", type: "dashed" },
    label: { formatter: "{b}", color: "#1a1a1a", position: "insideEndTop" },
    data: lines,
  };
  const time = new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit" });
  previewChart.setOption({
    animation: false,
    grid: { left: 56, right: 16, top: 28, bottom: 28 },
    legend: { top: 0 },
    tooltip: { trigger: "axis", valueFormatter: (v) => Number(v).toLocaleString(lang) },
    xAxis: {
      type: "time",
      min: answer.from,
      max: answer.to,
      axisLabel: { hideOverlap: true, formatter: (v) => time.format(new Date(v)) },
    },
    yAxis: { type: "value", scale: true, axisLabel: { formatter: (v) => v.toLocaleString(lang) } },
    series,
  });
  element.dataset.alerts = String(answer.alerts.length);
}
