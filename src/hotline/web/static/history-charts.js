// The history page's charts (issue 18): per half hour, the calls offered, answered and abandoned
// (and hung up in the IVR), and the service level (answered within the target, of offered and of
// answered; from the first ring too when the rows carry it), from the rows the server rendered
// into the page (#history-data, the same rows as the table below).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const C = window.hlCharts;
  const d = C.island("history-data");
  if (!d || !d.half_hours.length) {  // nothing to draw: say so in the boxes (blank boxes read as broken)
    for (const id of ["chart-history-calls", "chart-history-sl"]) {
      const box = document.getElementById(id);
      if (!box) continue;
      const note = document.createElement("p");
      note.className = "chart-empty hint";
      note.textContent = "No calls in this period yet.";
      box.replaceChildren(note);
    }
    return;
  }
  const rows = d.half_hours;
  const x = rows.map((r) => C.epoch(r.bucket));
  const col = (k) => rows.map((r) => r[k]);
  const ring = "first_ring_sl_over_offered" in rows[0];  // the first-ring clock (issue 16), when the rows carry it
  const calls = [{ label: "offered", values: col("offered") }, { label: "answered", values: col("answered") },
                 { label: "abandoned", values: col("abandoned") }];
  if ("ivr_abandoned" in rows[0]) calls.push({ label: "hung up in the IVR", values: col("ivr_abandoned") });
  C.draw("chart-history-calls", { title: "Calls per half hour", x, step: 1800, yLabel: "calls", series: calls });
  const sl = [{ label: ring ? "of offered, from queue entry" : "of offered", values: col("sl_over_offered"), scale: "%",
                color: C.COLORS[0] },
              { label: ring ? "of answered, from queue entry" : "of answered", values: col("sl_over_answered"), scale: "%",
                color: C.COLORS[0], dash: [4, 3] }];
  if (ring) {
    sl.unshift({ label: "of offered, from the first ring", values: col("first_ring_sl_over_offered"), scale: "%",
                 color: C.COLORS[1] });
  }
  C.draw("chart-history-sl", { title: "Answered within " + d.target + " s, per half hour", x, step: 1800,
    y2Label: "service level", series: sl });
});
