// The department portal: only this department's cases (the server decides), the deadline countdown.
"use strict";
(function () {
  const { api, el, left } = window.hl;
  const OPEN = ["dispatched", "accepted", "extension_requested", "reopened"];
  let data = null;
  function render() {
    const body = document.querySelector("#cases tbody");
    body.innerHTML = "";
    const all = document.getElementById("filter").value === "all";
    const now = Date.now() / 1000;
    for (const c of data.cases) {
      if (!all && !OPEN.includes(c.status)) continue;
      const link = el("a", { href: "/cases/" + encodeURIComponent(c.uniqueid), class: "case-link" }, c.id);
      body.append(el("tr", { class: "case " + (c.standing || ""), "data-uid": c.uniqueid, "data-id": c.id },
        el("td", {}, link), el("td", { class: "status" }, c.status), el("td", { class: "due" }, OPEN.includes(c.status) ? left(c.due_at, now) : ""),
        el("td", {}, c.category || c.topic), el("td", {}, c.district), el("td", {}, c.address),
        el("td", { class: "description" }, c.description), el("td", { class: "caller" }, c.caller_number || ""),
        el("td", {}, c.bundle_id ? "bundle " + c.bundle_id : "")));
    }
    if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: 9 }, "no cases")));
  }
  async function load() {
    const r = await api("GET", "/api/department/cases");
    if (!r.ok) { document.querySelector("main").prepend(el("p", { class: "error" }, r.data.message || "cannot load")); return; }
    data = r.data;
    document.getElementById("dept-name").textContent = data.department.name || data.department.code;
    render();
    window.hotlineLoaded = true;
  }
  document.getElementById("filter").addEventListener("change", render);
  load();
  setInterval(load, 30000);
})();
