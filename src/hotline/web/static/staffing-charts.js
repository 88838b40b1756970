// The staffing page's chart (issue 18): per half hour of the day, the calls forecast (left axis)
// and the operators needed, scheduled and logged in (right axis), from the plan the server
// rendered into the page (#staffing-data, the same plan as the table below).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const C = window.hlCharts;
  const d = C.island("staffing-data");
  if (!d) return;
  const x = d.slots.map((s) => C.epoch(d.day + " " + s.start));
  const col = (k) => d.slots.map((s) => s[k]);
  C.draw("chart-staffing", { title: "Forecast, operators needed and scheduled, per half hour", x, step: 1800,
    yLabel: "calls · operators", series: [
      { label: "calls forecast", values: col("forecast") },
      { label: "operators needed", values: col("needed") },
      { label: "operators scheduled", values: col("scheduled") },
      { label: "logged in (now)", values: col("logged_in") }] });
});
