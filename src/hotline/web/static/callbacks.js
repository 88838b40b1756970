// Operators' call back tasks: call from the desktop phone, record what the citizen said.
"use strict";
(function () {
  const { api, el } = window.hl;
  const OUTCOMES = [["resolved-satisfied", "Resolved, satisfied"], ["resolved-unsatisfied", "Resolved, not satisfied"], ["unresolved", "Not resolved (reopen)"], ["unreachable", "Unreachable (close)"]];
  async function post(path, body) {
    const r = await api("POST", path, body);
    document.getElementById("task-status").textContent = r.ok ? "done" : (r.data.message || "failed (" + r.status + ")");
    await load();
  }
  async function load() {
    const r = await api("GET", "/api/callbacks/tasks");
    const body = document.querySelector("#tasks tbody");
    body.innerHTML = "";
    if (!r.ok) return;
    for (const t of r.data.tasks) {
      const buttons = t.restricted ? el("td", {}, "another operator's confidential case") : el("td", {}, el("button", { class: "call", onclick: () => post("/api/callbacks/" + t.id + "/call", {}) }, "Call"),
        ...OUTCOMES.map(([v, label]) => el("button", { class: "outcome " + v, onclick: () => post("/api/callbacks/" + t.id + "/result", { outcome: v }) }, label)));
      body.append(el("tr", { "data-id": t.id, class: "task " + t.status }, el("td", {}, el("a", { href: "/cases/" + encodeURIComponent(t.case_uniqueid) }, t.case_id)),
        el("td", {}, t.caller_number), el("td", {}, t.language), el("td", {}, t.reply_summary), el("td", {}, t.detail + (t.status === "operator-calling" ? " (calling…)" : "")), buttons));
    }
    if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: 6 }, "no call backs to make")));
  }
  load();
  setInterval(load, 15000);
})();
