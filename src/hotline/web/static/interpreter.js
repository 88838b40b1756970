// The interpreter's page: one WebSocket (/ws/interpreter, see messages.json "interpreter"): the
// case summary of the call they are in and its live transcript (every leg, with speakers).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = { assignment: null, socket: null };
  const hotline = (window.hotline = { state, received: [] });

  const { api } = window.hl;  // JSON calls with the CSRF token (page.js)
  function showState(s) {
    $("state").textContent = s ? s.state : "not in the pool";
    $("state").dataset.state = s ? s.state : "";
    $("languages").textContent = s ? Object.entries(s.languages).map(([l, p]) => l + " " + p).join(", ") : "";
  }
  async function setState(action) {
    const r = await api("POST", "/api/interpreters/me/" + action);
    $("control-error").textContent = r.ok ? "" : (r.data.message || "failed (" + r.status + ")");
    if (r.ok) showState(r.data.interpreter);
  }
  function line(t) {
    const li = document.createElement("li");
    li.className = t.speaker + " " + t.kind;
    li.dataset.speaker = t.speaker;
    li.dataset.start = t.start;
    const who = document.createElement("span");
    who.className = "speaker";
    who.textContent = t.speaker;
    li.append(who, " " + t.text);
    return li;
  }
  function addTranscript(t) {
    if (!state.assignment || (t.uniqueid && t.uniqueid !== state.assignment.uniqueid)) return;
    const ol = $("transcript");
    const old = ol.querySelector("li.partial[data-speaker='" + t.speaker + "']");
    if (old) old.remove();
    const li = line(t);
    if (t.kind === "final") {
      const after = [...ol.querySelectorAll("li.final")].find((x) => parseFloat(x.dataset.start) > t.start);
      ol.insertBefore(li, after || ol.querySelector("li.partial") || null);
    } else {
      ol.appendChild(li);
    }
  }
  function showAssignment(a) {
    state.assignment = a;
    $("idle").hidden = !!a;
    $("assignment").hidden = !a;
    $("transcript").replaceChildren();
    if (!a) return;
    $("a-language").textContent = a.language_name;
    $("a-case").textContent = a.case_id != null ? a.case_id : "–";
    $("a-operator").textContent = a.operator_name + " (" + a.operator + ")";
    $("a-caller").textContent = a.caller;
    $("a-topic").textContent = a.topic;
    $("a-path").textContent = a.ivr_path;
    $("a-category").textContent = a.category || "–";
    $("a-description").textContent = a.description || "–";
    $("a-joined").textContent = new Date(a.joined_at * 1000).toLocaleTimeString();
    for (const t of a.transcript) addTranscript(Object.assign({ kind: "final" }, t));
  }

  const handlers = {
    interpreter_snapshot: (m) => { showState(m.state); showAssignment(m.assignment); },
    assignment: (m) => { showAssignment(m); $("state").textContent = "talking"; },
    transcript: addTranscript,
    assignment_ended: (m) => {
      if (state.assignment && state.assignment.uniqueid === m.uniqueid) showAssignment(null);
      $("state").textContent = "ready";
    },
    resync: () => state.socket && state.socket.drop(),  // the reconnect brings a fresh snapshot
    error: (m) => { $("control-error").textContent = m.message; },
  };
  function onMessage(ev) {
    const m = JSON.parse(ev.data);
    hotline.received.push(m.type);
    const h = handlers[m.type];
    if (h) h(m);
  }
  document.addEventListener("DOMContentLoaded", () => {
    $("btn-login").addEventListener("click", () => setState("login"));
    $("btn-pause").addEventListener("click", () => setState("pause"));
    $("btn-logout").addEventListener("click", () => setState("logout"));
    state.socket = window.liveSocket("/ws/interpreter", onMessage);
  });
})();
