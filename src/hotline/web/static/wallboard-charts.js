// The wallboard's charts (issue 18): the service level through the day (per 15 minutes) and in the
// last 30 minutes (per 5 minutes), answered within the target of offered, on the queue-entry
// clock and, when the case rows carry the first ring, on the first-ring clock too; the callers
// waiting through the day. From GET /api/wallboard/series (read again every minute) and, between
// two reads, the live socket's waiting callers (window.hotline.state, kept by wallboard.js).
"use strict";
(function () {
  const { api } = window.hl;
  const C = window.hlCharts;
  const live = { bucket: null, max: 0 };  // the most callers waiting at once in the current bucket, seen live
  let day = null;

  function slSeries(d) {
    // one colour per clock: solid per bucket, dotted the day so far; the first ring (the citizen's
    // whole wait, the headline figure) first when the rows carry it
    const clock = (sl, name, color) => [
      { label: "of offered, from " + name, values: sl.over_offered, scale: "%", color },
      { label: "today so far, from " + name, values: sl.day_over_offered, scale: "%", color, dash: [2, 3] }];
    return [...(d.first_ring_sl ? clock(d.first_ring_sl, "the first ring", C.COLORS[1]) : []),
            ...clock(d.sl, "queue entry", C.COLORS[0])];
  }
  function waitingNow() {
    const s = window.hotline && window.hotline.state;
    return s && Array.isArray(s.waiting) ? s.waiting.length : null;
  }
  function drawWaiting() {
    if (!day) return;
    const values = day.waiting_max.slice();
    const last = values.length - 1;
    if (live.bucket === day.at[last]) values[last] = Math.max(values[last], live.max);
    C.draw("chart-waiting", { title: "Callers waiting (most at once, per 5 min)", x: day.at, step: day.step,
                              series: [{ label: "waiting", values }], yLabel: "callers" });
  }
  async function refresh() {
    const [d15, d5, d30] = await Promise.all([api("GET", "/api/wallboard/series?step=900"),
      api("GET", "/api/wallboard/series?step=300"), api("GET", "/api/wallboard/series?step=300&minutes=30")]);
    if (d15.ok) {
      const d = d15.data;
      C.draw("chart-sl-day", { title: "Answered within " + d.target_seconds + " s, per 15 min today", x: d.at,
                               step: d.step, series: slSeries(d), goal: d.goal_percent, y2Label: "service level" });
    }
    if (d30.ok) {
      const d = d30.data;
      C.draw("chart-sl-30", { title: "Answered within " + d.target_seconds + " s, last 30 min (per 5 min)", x: d.at,
                              step: d.step, series: slSeries(d), goal: d.goal_percent, y2Label: "service level" });
    }
    if (d5.ok) { day = d5.data; drawWaiting(); }
    window.hotlineCharts = { refreshed: Date.now() };
  }
  function sample() {  // every 5 s: the socket's waiting callers into the current bucket
    const n = waitingNow();
    if (n == null || !day) return;
    const now = Date.now() / 1000;
    const bucket = day.start + Math.floor((now - day.start) / day.step) * day.step;
    if (bucket !== live.bucket) { live.bucket = bucket; live.max = 0; }
    live.max = Math.max(live.max, n);
    if (bucket > day.at[day.at.length - 1]) {  // a new bucket began since the last read
      day.at.push(bucket); day.waiting_max.push(n);
    }
    drawWaiting();
  }
  document.addEventListener("DOMContentLoaded", () => {
    refresh();
    setInterval(refresh, 60000);
    setInterval(sample, 5000);
  });
})();
