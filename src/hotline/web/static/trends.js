// Trends: counts per day or week by topic, district or keyword (a uPlot chart, a line per key), the CSV,
// today's hotspots and their bundles, and full-text search with filters.
"use strict";
(function () {
  const { api, el, when, day } = window.hl;
  const $ = (id) => document.getElementById(id);
  const iso = day;
  const today = new Date();
  $("t-to").value = iso(today);
  $("t-from").value = iso(new Date(today.getTime() - 27 * 86400000));
  $("h-day").value = iso(today);

  function query() {
    const p = new URLSearchParams(new FormData($("trend-form")));
    if (!p.get("words")) p.delete("words");
    return p.toString();
  }
  // the chart (static/charts.js over uPlot): a line per key (the 8 largest), every day or week of the
  // chosen range on the x axis (0 where a key had no case), so one day of data still shows its points
  function periods() {
    const week = $("t-period").value === "week";
    const from = $("t-from").value, to = $("t-to").value;
    if (!from || !to) return [];
    const d = new Date(...from.split("-").map((v, i) => Number(v) - (i === 1 ? 1 : 0)));
    if (week) d.setDate(d.getDate() - ((d.getDay() + 6) % 7));  // the Monday, as the server buckets weeks
    const out = [];
    while (iso(d) <= to && out.length < 400) { out.push(iso(d)); d.setDate(d.getDate() + (week ? 7 : 1)); }
    return out;
  }
  function chart(rows) {
    const C = window.hlCharts;
    let buckets = periods();
    for (const r of rows) if (!buckets.includes(r.bucket)) buckets.push(r.bucket);
    buckets = buckets.sort();
    const totals = {};
    for (const r of rows) totals[r.key] = (totals[r.key] || 0) + r.cases;
    const keys = Object.keys(totals).sort((a, b) => totals[b] - totals[a]).slice(0, 8);
    const count = {};
    for (const r of rows) count[r.bucket + "\u0000" + r.key] = r.cases;
    const series = keys.map((k) => ({ label: k, values: buckets.map((b) => count[b + "\u0000" + k] || 0) }));
    if (!series.length) series.push({ label: "no cases", values: buckets.map(() => 0) });
    const week = $("t-period").value === "week";
    C.draw("chart", { title: "Cases per " + (week ? "week (from Monday)" : "day") + " by " + $("t-by").value,
                      x: buckets.map(C.epoch), series, dates: true, step: week ? 7 * 86400 : 86400, yLabel: "cases" });
  }
  async function trends(ev) {
    if (ev) ev.preventDefault();
    const q = query();
    $("csv-link").href = "/api/trends.csv?" + q;
    const r = await api("GET", "/api/trends?" + q);
    const body = document.querySelector("#trend-table tbody");
    body.innerHTML = "";
    if (!r.ok) { body.append(el("tr", {}, el("td", { colspan: 3, class: "error" }, r.data.message))); return; }
    for (const row of r.data.rows) body.append(el("tr", {}, el("td", {}, row.bucket), el("td", {}, row.key), el("td", {}, row.cases)));
    chart(r.data.rows);
    window.hotlineTrends = r.data;
  }
  function announce(h) {  // a surge message for the hotspot: the wallboard's form prefilled, the manager confirms
    const scope = h.kind === "address" ? "topic" : h.kind;
    const target = h.kind === "address" ? String(h.key).split("|").pop() : h.key;
    if (scope !== "topic" && scope !== "district") return "";
    const q = new URLSearchParams({ surge_scope: scope, surge_target: target });
    return el("a", { href: "/wallboard?" + q.toString() + "#surge-panel", class: "announce" }, "Announce…");
  }
  async function hotspots() {
    const r = await api("GET", "/api/hotspots?day=" + $("h-day").value);
    const hb = document.querySelector("#hotspots tbody"), bb = document.querySelector("#bundles tbody");
    hb.innerHTML = ""; bb.innerHTML = "";
    if (!r.ok) return;
    for (const h of r.data.hotspots) hb.append(el("tr", { class: "hotspot" }, el("td", {}, h.kind), el("td", {}, h.label), el("td", {}, h.today), el("td", {}, h.baseline_per_day), el("td", {}, h.ratio == null ? "new" : "×" + h.ratio), el("td", {}, announce(h))));
    if (!r.data.hotspots.length) hb.append(el("tr", {}, el("td", { colspan: 6 }, "no hotspot")));
    for (const b of r.data.bundles) bb.append(el("tr", { class: "bundle" }, el("td", {}, b.id), el("td", {}, b.address), el("td", {}, b.topic), el("td", {}, b.cases),
      el("td", {}, when(b.first_at) + " – " + when(b.last_at)), el("td", {}, ...b.case_list.map((c) => el("a", { href: "/cases/" + encodeURIComponent(c.uniqueid) }, c.id + " ")))));
    window.hotlineHotspots = r.data;
  }
  async function search(ev) {
    if (ev) ev.preventDefault();
    const p = new URLSearchParams(new FormData($("search-form")));
    p.set("from", $("t-from").value); p.set("to", $("t-to").value);
    const r = await api("GET", "/api/search?" + p.toString());
    const body = document.querySelector("#results tbody");
    body.innerHTML = "";
    if (!r.ok) { $("s-total").textContent = r.data.message || "failed"; return; }
    $("s-total").textContent = r.data.total + (r.data.more ? " or more" : "") + " case(s)";
    for (const c of r.data.cases) body.append(el("tr", {}, el("td", {}, el("a", { href: "/cases/" + encodeURIComponent(c.uniqueid) }, c.id)), el("td", {}, when(c.queued_at)),
      el("td", {}, c.status || ""), el("td", {}, c.category || c.topic), el("td", {}, c.district), el("td", {}, c.address), el("td", {}, c.description)));
  }
  $("trend-form").addEventListener("submit", trends);
  $("search-form").addEventListener("submit", search);
  $("h-day").addEventListener("change", hotspots);
  trends();
  hotspots();
})();
