// The history page's charts (issue 18): per half hour, the calls offered, answered and abandoned,
// and the service level (answered within the target, of offered and of answered), from the
// rows the server rendered into the page (#history-data, the same rows as the table below).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const C = window.hlCharts;
  const d = C.island("history-data");
  if (!d || !d.half_hours.length) return;
  const rows = d.half_hours;
  const x = rows.map((r) => C.epoch(r.bucket));
  const col = (k) => rows.map((r) => r[k]);
  C.draw("chart-history-calls", { title: "Calls per half hour", x, step: 1800, yLabel: "calls", series: [
    { label: "offered", values: col("offered") },
    { label: "answered", values: col("answered") },
    { label: "abandoned", values: col("abandoned") }] });
  C.draw("chart-history-sl", { title: "Answered within " + d.target + " s, per half hour", x, step: 1800,
    y2Label: "service level", series: [
      { label: "of offered", values: col("sl_over_offered"), scale: "%" },
      { label: "of answered", values: col("sl_over_answered"), scale: "%", dash: [4, 3] }] });
});
