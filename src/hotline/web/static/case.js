// The case page: facts, what this user may do now, the history of every change, the call backs,
// the recording (each playback is audited by the server) with the transcript alongside.
"use strict";
(function () {
  const { api, el, when, left } = window.hl;
  const uid = document.querySelector('meta[name="case-uid"]').content;
  const $ = (id) => document.getElementById(id);
  const AT_DEPT = ["dispatched", "accepted", "extension_requested", "reopened"];

  async function act(path, body) {
    const r = await api("POST", "/api/cases/" + encodeURIComponent(uid) + path, body);
    $("action-status").textContent = r.ok ? "" : (r.data.message || "failed (" + r.status + ")");
    if (r.ok) await load();
  }
  function formWith(id, label, fields, onsubmit) {
    const f = el("form", { id }, el("strong", {}, label), ...fields, el("button", { type: "submit", id: id + "-submit" }, label));
    f.addEventListener("submit", (ev) => { ev.preventDefault(); onsubmit(new FormData(f)); });
    return f;
  }
  function actions(d) {
    const box = $("actions");
    box.innerHTML = "";
    const c = d.case, role = d.me.role, st = c.status;
    if (role === "department" || role === "admin") {
      if (["dispatched", "reopened"].includes(st)) box.append(el("div", {}, el("button", { id: "btn-accept", onclick: () => act("/accept", {}) }, "Accept")));
      if (AT_DEPT.includes(st)) {
        box.append(formWith("reply-form", "Reply", [
          el("label", {}, "Reply (what was done)", el("textarea", { name: "text", id: "reply-text", rows: 3 })),
          el("label", {}, "Summary the citizen hears on the call back (optional)", el("input", { type: "text", name: "summary", id: "reply-summary", maxlength: 500 })),
          c.bundle_id ? el("label", { class: "check" }, el("input", { type: "checkbox", name: "bundle", id: "reply-bundle" }), " the same reply to every case of this bundle") : ""],
          (fd) => act("/reply", { text: fd.get("text"), summary: fd.get("summary"), bundle: fd.get("bundle") === "on" })));
      }
      if (["dispatched", "accepted", "reopened"].includes(st)) {
        box.append(formWith("return-form", "Return to the hotline", [
          el("label", {}, "Reason", el("input", { type: "text", name: "reason", id: "return-reason" }))],
          (fd) => act("/return", { reason: fd.get("reason") })));
        box.append(formWith("extension-form", "Ask for more time", [
          el("label", {}, "Days", el("input", { type: "number", name: "days", id: "extension-days", min: 1, max: 60, value: 7 })),
          el("label", {}, "Reason", el("input", { type: "text", name: "reason", id: "extension-reason" }))],
          (fd) => act("/extension", { days: Number(fd.get("days")), reason: fd.get("reason") })));
      }
    }
    if (role !== "department" && ["new", "returned"].includes(st)) {
      const sel = el("select", { name: "department", id: "dispatch-department" });
      for (const dep of d.departments) sel.add(new Option(dep.name + (dep.code === d.suggested_department ? " (suggested)" : ""), dep.code, false, dep.code === d.suggested_department));
      box.append(formWith("dispatch-form", "Dispatch", [el("label", {}, "Department", sel),
        el("label", {}, "Note", el("input", { type: "text", name: "note" }))],
        (fd) => act("/dispatch", { department: fd.get("department"), note: fd.get("note") })));
    }
    if ((role === "supervisor" || role === "admin") && st === "extension_requested") {
      box.append(el("div", {}, el("button", { id: "btn-approve", onclick: () => act("/extension/decide", { approve: true }) }, "Approve extension (" + (c.extension_days || "") + " days)"),
        " ", el("button", { id: "btn-refuse", onclick: () => act("/extension/decide", { approve: false }) }, "Refuse")));
    }
  }
  function render(d) {
    const c = d.case;
    $("case-no").textContent = c.id;
    $("case-status").textContent = c.status || "call";
    $("case-standing").textContent = c.standing ? c.standing + " · " + left(c.due_at, Date.now() / 1000) : "";
    $("case-standing").className = "standing " + (c.standing || "");
    const facts = $("facts");
    facts.innerHTML = "";
    const rows = [["Caller", c.caller_number], ["Citizen", c.citizen_name], ["Language", c.language], ["Topic", c.category || c.topic],
      ["District", c.district], ["Address", c.address], ["Description", c.description], ["Urgency", c.urgency],
      ["Department", c.department_name || c.department], ["Dispatched", when(c.dispatched_at)], ["Due", when(c.due_at)],
      ["Reply", c.reply], ["Resolved", c.resolved == null ? "–" : (c.resolved ? "yes" : "no")],
      ["Satisfied", c.satisfied == null ? "–" : (c.satisfied ? "yes" : "no")], ["Bundle", c.bundle_id || "–"]];
    for (const [k, v] of rows) facts.append(el("dt", {}, k), el("dd", { id: "fact-" + k.toLowerCase() }, v == null || v === "" ? "–" : v));
    const hist = $("history");
    hist.innerHTML = "";
    for (const e of d.events) {
      const detail = Object.entries(e.detail || {}).filter(([, v]) => v !== "" && v != null).map(([k, v]) => k + ": " + v).join(", ");
      hist.append(el("li", { class: "event " + e.action }, when(e.at) + " · " + e.actor + " (" + e.role + ") · " + e.action.replace(/_/g, " ")
        + (e.from_status !== e.to_status ? " · " + (e.from_status || "–") + " → " + e.to_status : "") + (detail ? " · " + detail : "")));
    }
    const cbs = $("callbacks");
    cbs.innerHTML = "";
    for (const b of d.callbacks) cbs.append(el("li", {}, "attempt " + b.attempt + " (" + b.kind + "): " + b.status + " · " + when(b.started_at || b.due_at)
      + (b.resolved != null ? " · resolved " + (b.resolved ? "yes" : "no") : "") + (b.satisfied != null ? " · satisfied " + (b.satisfied ? "yes" : "no") : "") + (b.detail ? " · " + b.detail : "")));
    const rec = $("recording");
    rec.innerHTML = "";
    if (d.recording && d.recording.url) {
      rec.append(el("audio", { controls: true, preload: "none", src: d.recording.url, id: "recording-audio" }), el("div", {}, d.recording.seconds + " s, stereo: left the caller, right the operator side"));
    } else rec.textContent = d.recording ? "recording " + d.recording.status : "no recording";
    const tr = $("transcript");
    tr.innerHTML = "";
    for (const t of d.transcript) tr.append(el("li", { class: t.speaker }, el("span", { class: "who" }, t.speaker), el("span", { class: "at" }, Math.round(t.start) + " s"), t.text));
    actions(d);
  }
  async function load() {
    const r = await api("GET", "/api/cases/" + encodeURIComponent(uid) + "/detail");
    if (!r.ok) { $("action-status").textContent = r.data.message || "cannot load the case (" + r.status + ")"; return; }
    render(r.data);
    window.hotlineCase = r.data;
  }
  load();
})();
