// The hotline's worklist: cases to dispatch, extensions to decide, overdue cases; the rates.
"use strict";
(function () {
  const { api, el, left } = window.hl;
  async function load() {
    const r = await api("GET", "/api/worklist");
    if (!r.ok) return;
    for (const id of ["to_dispatch", "extensions", "overdue"]) {
      const body = document.querySelector("#" + id + " tbody");
      body.innerHTML = "";
      for (const c of r.data[id]) body.append(el("tr", { class: c.standing || "" }, el("td", {}, el("a", { href: "/cases/" + encodeURIComponent(c.uniqueid) }, c.id)),
        el("td", {}, c.status), el("td", {}, c.department_name || c.department || c.returned_by || ""), el("td", { class: "due" }, left(c.due_at, r.data.now)),
        el("td", {}, c.category || c.topic), el("td", {}, c.district), el("td", {}, c.description)));
      if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: 7 }, "none")));
    }
    const rates = document.querySelector("#rates tbody");
    if (rates) {
      const to = new Date(), from = new Date(to.getTime() - 29 * 86400000);
      const q = await api("GET", "/api/reports/rates?from=" + window.hl.day(from) + "&to=" + window.hl.day(to));
      if (!q.ok) return;
      rates.innerHTML = "";
      const pct = (v) => v == null ? "–" : v + "%";
      for (const d of [...q.data.departments, Object.assign({ department: "all" }, q.data.overall)]) rates.append(el("tr", {}, el("td", {}, d.department),
        el("td", {}, d.dispatched), el("td", {}, pct(d.on_time_rate)), el("td", {}, pct(d.resolution_rate)), el("td", {}, pct(d.satisfaction_rate)), el("td", {}, d.reopened)));
    }
  }
  load();
  setInterval(load, 30000);
})();
