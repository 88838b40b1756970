// Charts for every page (issue 18): small helpers over the vendored uPlot (static/vendor/uplot/,
// see its README): a time chart with axes, local dates and times, a tooltip at the cursor, points
// so that one day of data still shows, and a goal line. uPlot draws on a canvas and sets element
// styles through the DOM (el.style), which the CSP's style-src 'self' allows; no inline script or
// style. Every chart is kept in window.hlCharts.all by its container's id (the tests read it).
"use strict";
window.hlCharts = (function () {
  const COLORS = ["#1f5fa8", "#c0392b", "#1e8449", "#b9770e", "#7d3c98", "#6e4b3a", "#c2185b", "#117a8b"];
  const all = {};
  const pad2 = (n) => String(n).padStart(2, "0");
  // local dates and times (the server counts days in local time; never toISOString)
  const dayOf = (t) => window.hl.day(new Date(t * 1000));
  const timeOf = (t) => { const d = new Date(t * 1000); return pad2(d.getHours()) + ":" + pad2(d.getMinutes()); };
  // "2026-12-02" or "2026-12-02 08:30" (local) -> epoch seconds
  function epoch(text) {
    const [date, clock] = String(text).split(" ");
    const [y, m, d] = date.split("-").map(Number);
    const [h, mi] = (clock || "00:00").split(":").map(Number);
    return new Date(y, m - 1, d, h, mi).getTime() / 1000;
  }
  const fmt = (v, unit) => (v == null ? "–" : (Number.isInteger(v) ? v : v.toFixed(1)) + (unit || ""));

  // a tooltip at the cursor: the bucket's date or time and every shown series' value
  function tooltip(dates, units) {
    let tip = null;
    return {
      hooks: {
        init: (u) => {
          tip = document.createElement("div");
          tip.className = "chart-tip";
          tip.hidden = true;
          u.over.appendChild(tip);
          u.over.addEventListener("mouseleave", () => { tip.hidden = true; });
        },
        setCursor: (u) => {
          const i = u.cursor.idx;
          if (i == null || u.cursor.left < 0) { tip.hidden = true; return; }
          const x = u.data[0][i];
          const lines = [dates ? dayOf(x) : dayOf(x) + " " + timeOf(x)];
          u.series.forEach((s, k) => {
            if (k === 0 || !s.show || s.label === undefined) return;
            lines.push(s.label + ": " + fmt(u.data[k][i], units[k]));
          });
          tip.replaceChildren(...lines.map((t) => { const d = document.createElement("div"); d.textContent = t; return d; }));
          tip.hidden = false;
          const left = Math.min(u.cursor.left + 12, Math.max(0, u.over.clientWidth - tip.offsetWidth));
          tip.style.left = left + "px";
          tip.style.top = Math.max(0, u.cursor.top - tip.offsetHeight - 8) + "px";
        },
      },
    };
  }

  // half a bucket of room either side, so the first and last points (and a single one: one day of
  // data) draw inside the plot, not on its edge (uPlot's own x range ends on the first and last x)
  function pad(u, x) {
    if (x.length) u.setScale("x", { min: x[0] - u.hlHalf, max: x[x.length - 1] + u.hlHalf });
  }

  // draw (or redraw) a chart into the element with id ``id``:
  //   x: epoch seconds; series: [{label, values, scale ("n" or "%"), dash, color, unit}];
  //   dates: the x are days (axis and tooltip show dates only); goal: a dashed line on "%";
  //   yLabel / y2Label: the axes' names; step: the x spacing, to pad a single point
  // an empty chart says so (a blank box reads as broken)
  function emptyNote(box, x) {
    let note = box.querySelector(".chart-empty");
    if (!x.length && !note) {
      note = document.createElement("p");
      note.className = "chart-empty hint";
      note.textContent = "No calls in this period yet.";
      box.append(note);
    } else if (x.length && note) note.remove();
  }
  function draw(id, { title, x, series, dates = false, goal = null, yLabel = "", y2Label = "", step = 0, height = 220 }) {
    const box = document.getElementById(id);
    if (!box) return null;
    const key = JSON.stringify([title, series.map((s) => s.label), goal, dates, step]);
    if (all[id] && all[id].hlKey === key) {  // the same chart, new data: no redraw from scratch
      const u = all[id];
      const data = [x, ...series.map((s) => s.values)];
      if (goal != null && series.some((s) => s.scale === "%")) data.push(x.map(() => goal));
      u.setData(data);
      pad(u, x);
      emptyNote(box, x);
      return u;
    }
    if (all[id]) { all[id].destroy(); delete all[id]; }
    box.replaceChildren();
    const scales = { x: { time: true } };
    const usesPct = series.some((s) => s.scale === "%");
    const usesN = series.some((s) => (s.scale || "n") === "n");
    if (usesN) scales.n = { range: (u, min, max) => [0, Math.max(1, Math.ceil((max || 0) * 1.15))] };
    if (usesPct) scales["%"] = { range: [0, 100] };
    const midnight = (t) => { const d = new Date(t * 1000); return d.getHours() === 0 && d.getMinutes() === 0; };
    const axes = [{
      // times; a midnight tick names its day when the chart spans more than one
      values: dates ? (u, ticks) => ticks.map(dayOf) : (u, ticks) => ticks.map((t) =>
        (midnight(t) && u.scales.x.max - u.scales.x.min > 86400 ? dayOf(t) : timeOf(t))),
      stroke: "#333", grid: { stroke: "#e6e6e6" },
    }];
    if (dates) {  // ticks on the days (or weeks) themselves, one label per ~90 px at most
      axes[0].splits = (u) => {
        const xs = u.data[0];
        const every = Math.max(1, Math.ceil(xs.length / Math.max(1, Math.floor(u.bbox.width / devicePixelRatio / 90))));
        return xs.filter((_, i) => i % every === 0);
      };
    }
    if (usesN) axes.push({ scale: "n", label: yLabel, stroke: "#333", grid: { stroke: "#e6e6e6" } });
    if (usesPct) axes.push({ scale: "%", label: y2Label || "%", side: usesN ? 1 : 3, stroke: "#333",
                             grid: { show: !usesN }, values: (u, ticks) => ticks.map((t) => t + "%") });
    const uSeries = [{}];
    const data = [x];
    const units = [""];
    series.forEach((s, k) => {
      uSeries.push({ label: s.label, scale: s.scale || "n", stroke: s.color || COLORS[k % COLORS.length], width: 2,
                     dash: s.dash, spanGaps: true, points: { show: true, size: x.length <= 3 ? 10 : 5 } });
      data.push(s.values);
      units.push(s.unit || (s.scale === "%" ? "%" : ""));
    });
    if (goal != null && usesPct) {
      uSeries.push({ label: "goal", scale: "%", stroke: "#888", width: 1, dash: [6, 4], points: { show: false } });
      data.push(x.map(() => goal));
      units.push("%");
    }
    const opts = {
      title, width: Math.max(300, box.clientWidth || 600), height, scales, axes, series: uSeries,
      legend: { show: true, live: false }, cursor: { points: { size: 7 } }, plugins: [tooltip(dates, units)],
    };
    const u = new window.uPlot(opts, data, box);
    u.hlKey = key;
    u.hlHalf = (step || (dates ? 86400 : 1800)) / 2;
    pad(u, x);
    emptyNote(box, x);
    all[id] = u;
    return u;
  }
  window.addEventListener("resize", () => {
    for (const [id, u] of Object.entries(all)) {
      const box = document.getElementById(id);
      if (box && box.clientWidth) u.setSize({ width: Math.max(300, box.clientWidth), height: u.height });
    }
  });
  // a JSON data island the server rendered (<script type="application/json" id=...>: data, never run)
  const island = (id) => { const e = document.getElementById(id); return e ? JSON.parse(e.textContent) : null; };
  return { draw, all, epoch, dayOf, timeOf, island, COLORS };
})();
