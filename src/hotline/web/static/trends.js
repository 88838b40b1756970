// Trends: counts per day or week by topic, district or keyword (an SVG line per key), the CSV,
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
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

  function query() {
    const p = new URLSearchParams(new FormData($("trend-form")));
    if (!p.get("words")) p.delete("words");
    return p.toString();
  }
  function chart(rows) {
    const svg = $("chart");
    svg.innerHTML = "";
    const buckets = [...new Set(rows.map((r) => r.bucket))].sort();
    const totals = {};
    for (const r of rows) totals[r.key] = (totals[r.key] || 0) + r.cases;
    const keys = Object.keys(totals).sort((a, b) => totals[b] - totals[a]).slice(0, 8);
    const max = Math.max(1, ...rows.map((r) => r.cases));
    const ns = "http://www.w3.org/2000/svg";
    const x = (i) => 40 + (buckets.length > 1 ? i * 740 / (buckets.length - 1) : 370);
    const y = (v) => 200 - v * 180 / max;
    keys.forEach((k, n) => {
      const pts = buckets.map((b, i) => { const r = rows.find((q) => q.bucket === b && q.key === k); return x(i) + "," + y(r ? r.cases : 0); });
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", pts.join(" "));
      line.setAttribute("fill", "none");
      line.setAttribute("stroke", COLORS[n]);
      line.setAttribute("stroke-width", "2");
      line.setAttribute("data-key", k);
      svg.append(line);
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", 45 + n * 95); label.setAttribute("y", 14); label.setAttribute("fill", COLORS[n]); label.setAttribute("font-size", "11");
      label.textContent = k;
      svg.append(label);
    });
    const axis = document.createElementNS(ns, "text");
    axis.setAttribute("x", 2); axis.setAttribute("y", 24); axis.setAttribute("font-size", "10");
    axis.textContent = max;
    svg.append(axis);
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
  }
  async function hotspots() {
    const r = await api("GET", "/api/hotspots?day=" + $("h-day").value);
    const hb = document.querySelector("#hotspots tbody"), bb = document.querySelector("#bundles tbody");
    hb.innerHTML = ""; bb.innerHTML = "";
    if (!r.ok) return;
    for (const h of r.data.hotspots) hb.append(el("tr", { class: "hotspot" }, el("td", {}, h.kind), el("td", {}, h.label), el("td", {}, h.today), el("td", {}, h.baseline_per_day), el("td", {}, h.ratio == null ? "new" : "×" + h.ratio)));
    if (!r.data.hotspots.length) hb.append(el("tr", {}, el("td", { colspan: 5 }, "no hotspot")));
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
