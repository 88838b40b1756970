// Crisis words (floor/crisis.py): the alert on the operator's desk, and on the wallboard the
// alert's buttons (listen, barge, dismiss as a false alarm) and today's counts. desktop.js hands
// over its 'crisis_alert' messages (desk) and asks for the list after a snapshot (deskLoad);
// wallboard.js hands over each crisis alert it draws (decorate) and the 'crisis' section (counts).
"use strict";
window.hlCrisis = (function () {
  const { api, el } = window.hl;
  const alerts = {};  // the desk's, by id
  const reasons = {};  // the wallboard's reasons being typed, by alert id (kept over a redraw)
  let region = null;
  let drawn = "";  // what the region shows (redrawn only when that changes: a live region is read out)

  function currentCall() {
    const s = window.hotline && window.hotline.state;
    return s && s.call ? s.call.uniqueid : null;
  }
  function marked(line, hits) {  // the caller's line with the words found in <mark>
    const out = [];
    let at = 0;
    for (const h of [...hits].sort((a, b) => a.start - b.start)) {
      if (h.start < at) continue;
      out.push(line.slice(at, h.start), el("mark", null, line.slice(h.start, h.end)));
      at = h.end;
    }
    out.push(line.slice(at));
    return out;
  }
  function renderDesk() {
    if (!region) return;
    const uid = currentCall();
    const shown = Object.values(alerts).filter((a) => a.uniqueid === uid);
    const key = JSON.stringify(shown.map((a) => [a.id, a.dismissed_at]));
    if (key === drawn) return;
    drawn = key;
    region.hidden = !shown.length;
    region.replaceChildren(...shown.map((a) => {
      const state = a.dismissed_at
        ? "dismissed as a false alarm by " + a.dismissed_by + (a.reason ? ": " + a.reason : "")
        : "your supervisor has been alerted";
      const li = el("div", { class: "crisis-alert" + (a.dismissed_at ? " dismissed" : ""), "data-id": a.id,
                             "data-category": a.category },
        el("strong", null, "Crisis words (" + a.category_name + "): " + a.words.join(", ")),
        el("q", { class: "crisis-line" }, ...marked(a.line, a.hits || [])),
        el("span", { class: "crisis-state" }, state));
      return li;
    }));
  }
  function desk(m) {
    alerts[m.id] = m;
    renderDesk();
  }
  async function deskLoad() {
    const r = await api("GET", "/api/crisis/alerts");
    if (!r.ok) return;
    for (const a of r.data.alerts) alerts[a.id] = a;
    renderDesk();
  }

  // -- the wallboard ---------------------------------------------------------------------------
  function button(text, cls, fn) {
    const b = el("button", { type: "button", class: cls }, text);
    b.addEventListener("click", fn);
    return b;
  }
  async function act(method, path, body) {
    const r = await api(method, path, body);
    const err = document.getElementById("action-error");
    if (err) err.textContent = r.ok ? "" : (r.data.message || "failed (" + r.status + ")");
    return r;
  }
  function decorate(li, a) {
    li.dataset.alertId = a.alert_id;
    li.setAttribute("role", "alert");
    const box = el("span", { class: "crisis-actions" });
    if (a.live) {
      for (const mode of ["listen", "barge"]) {
        box.append(button(mode === "listen" ? "Listen" : "Barge in", "crisis-" + mode,
          () => act("POST", "/api/supervision/" + a.operator + "/" + mode)));
      }
    }
    const reason = el("input", { type: "text", class: "crisis-reason", maxlength: "300", "aria-label": "why it is a false alarm",
                                 placeholder: "why a false alarm" });
    reason.value = reasons[a.alert_id] || "";
    reason.addEventListener("input", () => { reasons[a.alert_id] = reason.value; });
    box.append(reason, button("False alarm", "crisis-dismiss", async () => {
      const r = await act("POST", "/api/crisis/alerts/" + encodeURIComponent(a.alert_id) + "/dismiss",
                          { reason: reason.value });
      if (r.ok) { delete reasons[a.alert_id]; counts(r.data); }
    }));
    li.append(" ", box);
  }
  function counts(c) {
    const out = document.getElementById("crisis-counts");
    if (!out) return;
    out.textContent = "crisis alerts today: " + c.raised_today + " · false alarms: " + c.dismissed_today;
    out.dataset.raised = c.raised_today;
    out.dataset.dismissed = c.dismissed_today;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const css = el("link", { rel: "stylesheet", href: "/static/crisis.css" });
    document.head.append(css);
    const desktop = document.querySelector("main.desk");
    if (desktop) {  // an empty live region first: what is put in it later is read out
      region = el("section", { id: "crisis-alert", class: "crisis panel", role: "alert", "aria-live": "assertive",
                               hidden: true });
      desktop.prepend(region);
      setInterval(renderDesk, 1000);  // another call on the desk: its alerts only
    }
    const list = document.getElementById("alerts");
    if (list && list.parentElement) {
      list.parentElement.append(el("p", { id: "crisis-counts", class: "crisis-counts", "aria-live": "polite" }));
    }
  });
  return { desk, deskLoad, decorate, counts };
})();
