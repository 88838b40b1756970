// The operator's desktop: one WebSocket (/ws/desktop) for live messages (see messages.json),
// JSON API calls with the CSRF token for actions. Drafts are kept in localStorage at once and
// sent to the server (debounced), so neither a reload nor a dropped socket loses typing.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const FIELDS = ["category", "district", "address", "description", "urgency", "citizen_name", "confidential", "notes", "department"];
  const state = { call: null, status: null, skew: 0, socket: null, draftTimer: null, formReady: false };
  const hotline = (window.hotline = { state, received: [] });

  function fmtSecs(s) {
    if (s == null || isNaN(s)) return "–";
    s = Math.max(0, Math.round(s));
    return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s";
  }
  const now = () => Date.now() / 1000 + state.skew;

  const { api } = window.hl;  // JSON calls with the CSRF token (page.js)

  // -- form ---------------------------------------------------------------------------------
  function setupForm(form) {
    if (state.formReady) return;
    const cat = $("f-category");
    cat.innerHTML = '<option value="">— choose —</option>';
    for (const c of form.categories) cat.add(new Option(c.name, c.code));
    const urg = $("f-urgency");
    urg.innerHTML = "";
    for (const u of form.urgencies) urg.add(new Option(u, u, u === "normal", u === "normal"));
    const dl = $("district-list");
    dl.innerHTML = "";
    for (const d of form.districts) dl.appendChild(new Option(d, d));
    const dep = $("f-department");
    dep.innerHTML = "";
    dep.add(new Option("the suggested department", "auto", true, true));
    dep.add(new Option("— do not dispatch yet —", ""));
    for (const d of form.departments || []) dep.add(new Option(d.name, d.code));
    state.formReady = true;
  }
  async function suggest() {  // the dispatch rules' suggestion for this topic and district
    const q = new URLSearchParams({ topic: $("f-category").value, district: $("f-district").value });
    const r = await api("GET", "/api/dispatch/suggest?" + q.toString());
    const auto = $("f-department").options[0];
    if (r.ok && auto) auto.text = r.data.department ? "suggested: " + r.data.name : "no suggestion (do not dispatch yet)";
  }
  function readForm() {
    const out = {};
    for (const f of FIELDS) {
      const el = $("f-" + f);
      out[f] = el.type === "checkbox" ? el.checked : el.value;
    }
    return out;
  }
  function fillForm(fields) {
    for (const f of FIELDS) {
      if (!(f in fields)) continue;
      const el = $("f-" + f);
      if (el.type === "checkbox") el.checked = !!fields[f]; else el.value = fields[f] == null ? "" : fields[f];
    }
  }
  function clearForm() {
    $("case-form").reset();
    showErrors({});
    $("form-status").textContent = "";
  }
  function showErrors(errors) {
    for (const span of document.querySelectorAll(".field-error")) {
      span.textContent = errors[span.dataset.for] || "";
    }
  }
  const draftKey = (uid) => "hotline-draft:" + uid;
  function localDraft(uid) {
    try { return JSON.parse(localStorage.getItem(draftKey(uid)) || "null"); } catch (e) { return null; }
  }
  function onInput() {
    if (!state.call) return;
    const uid = state.call.uniqueid;
    const draft = { fields: readForm(), at: Date.now() };
    localStorage.setItem(draftKey(uid), JSON.stringify(draft));
    clearTimeout(state.draftTimer);
    state.draftTimer = setTimeout(() => send({ type: "draft", uniqueid: uid, fields: draft.fields, at: draft.at }), 400);
  }
  async function save(ev) {
    ev.preventDefault();
    if (!state.call) return;
    const uid = state.call.uniqueid;
    clearTimeout(state.draftTimer);  // the save carries what the pending draft would have
    $("form-status").textContent = "saving…";
    const r = await api("POST", "/api/cases/" + encodeURIComponent(uid) + "/form", readForm());
    if (r.ok) {
      showSaved(uid, r.data);
    } else if (r.status === 422) {
      showErrors(r.data.fields || {});
      $("form-status").textContent = "please correct the marked fields";
    } else {
      $("form-status").textContent = (r.data && r.data.message) || "not saved (" + r.status + "); your text is kept";
    }
  }

  // the outcome the operator needs, wherever it lands: the form's line while the call is on screen,
  // the idle panel once the saved call has left it; an older error never stays next to it
  function showSaved(uid, data) {
    const text = "saved (case " + data.case_id + ")" + (data.department ? ", dispatched to " + data.department : "");
    localStorage.removeItem(draftKey(uid));
    $("control-error").textContent = "";
    if (state.call && state.call.uniqueid === uid) {
      showErrors({});
      $("form-status").textContent = text;
      $("case-id").textContent = data.case_id;
    }
    $("last-saved").textContent = "Last call " + text + ".";
  }

  // -- call panel -----------------------------------------------------------------------------
  function showCall(call, draftFromServer) {
    const fresh = !state.call || state.call.uniqueid !== call.uniqueid;
    state.call = Object.assign(state.call && !fresh ? state.call : {}, call);
    if (state.interpreter && state.interpreter.uniqueid !== call.uniqueid) clearInterpreter();
    $("idle").hidden = true;
    $("call").hidden = false;
    $("caller-number").textContent = call.caller_number || "unknown";
    $("caller-language").textContent = (call.language_name || call.language || "") + (call.language ? " (" + call.language + ")" : "");
    $("caller-topic").textContent = call.topic || "general";
    $("case-id").textContent = call.case_id != null ? call.case_id : "new";
    const tbody = $("history").querySelector("tbody");
    tbody.innerHTML = "";
    for (const h of call.history || []) {
      const tr = tbody.insertRow();
      for (const v of [h.id, new Date(h.queued_at * 1000).toLocaleString(), h.state, h.language || "", h.category || h.topic || "", h.description || ""]) {
        tr.insertCell().textContent = v == null ? "" : v;
      }
    }
    if (!(call.history || []).length) tbody.insertRow().insertCell().textContent = "none";
    if (fresh) {
      offerInterpreting(call.language);
      clearTimeout(state.draftTimer);
      $("control-error").textContent = "";  // an error shown for the last call is not this call's
      clearForm();
      window.hlSlots.reset(call.uniqueid);  // suggestions.js: nothing suggested for this call yet
      $("transcript").innerHTML = "";
      $("transcription-status").textContent = "";
    }
    // the newest draft wins: this browser's own, or the server's copy
    const local = localDraft(call.uniqueid);
    const server = draftFromServer ? { fields: draftFromServer.fields, at: draftFromServer.updated_at * 1000 } : null;
    const best = [local, server].filter(Boolean).sort((a, b) => b.at - a.at)[0];
    if (best && (fresh || draftFromServer)) fillForm(best.fields);
    setPhase(call.phase || "ringing");
  }
  function setPhase(phase) {
    if (!state.call) return;
    state.call.phase = phase;
    const el = $("call-phase");
    el.textContent = phase;
    el.className = "phase " + phase;
  }
  function clearCall() {
    clearTimeout(state.draftTimer);  // no draft for a call that has left the desktop
    state.call = null;
    $("call").hidden = true;
    $("idle").hidden = false;
  }

  // -- transcript -----------------------------------------------------------------------------
  function line(t) {
    const li = document.createElement("li");
    li.className = t.speaker + " " + t.kind;
    li.dataset.speaker = t.speaker;
    li.dataset.start = t.start;
    const at = document.createElement("span"); at.className = "at"; at.textContent = fmtSecs(t.start);
    const who = document.createElement("span"); who.className = "who"; who.textContent = t.speaker;
    const text = document.createElement("span"); text.className = "text"; text.textContent = t.text;
    li.append(at, who, text);
    return li;
  }
  function addTranscript(t) {
    if (!state.call || t.uniqueid && t.uniqueid !== state.call.uniqueid) return;
    const ol = $("transcript");
    const old = ol.querySelector("li.partial[data-speaker='" + t.speaker + "']");
    if (old) old.remove();
    const li = line(t);
    // time-ordered: finals by start; partials stay last
    if (t.kind === "final") {
      const after = [...ol.querySelectorAll("li.final")].find((x) => parseFloat(x.dataset.start) > t.start);
      const firstPartial = ol.querySelector("li.partial");
      ol.insertBefore(li, after || firstPartial || null);
    } else {
      ol.appendChild(li);
    }
    ol.scrollTop = ol.scrollHeight;
  }
  function transcriptionStatus(m) {
    const el = $("transcription-status");
    if (m.status === "off") el.textContent = "(transcription is off for this language: " + m.detail + ")";
    else if (m.status === "error") el.textContent = "(transcription failed: " + m.detail + ")";
    else if (m.status === "on") el.textContent = "(on)";
  }

  // -- status header --------------------------------------------------------------------------
  function showStatus(s) {
    state.status = s;
    // why the state does not move: the phone is what logs the operator in (its registration)
    const hint = $("state-hint");
    if (hint) {
      const ext = state.me && state.me.extension;
      hint.textContent = !ext ? "Your user has no extension: an admin sets one on the admin page (/admin)."
        : s.state === "offline" ? "Your phone (extension " + ext + ") is not registered: Ready and Pause take effect once it is."
        : "";
    }
    $("state").textContent = s.state;
    $("state").dataset.state = s.state;
    $("pause-reason").textContent = s.pause_reason ? "(" + s.pause_reason + ")" : "";
    $("waiting").textContent = s.waiting;
    $("calls-today").textContent = s.calls_today;
    tick();
  }
  function tick() {
    const s = state.status;
    if (s) {
      $("longest").textContent = s.oldest_waiting_since ? fmtSecs(now() - s.oldest_waiting_since) : "–";
      $("state-timer").textContent = s.state === "wrap-up" && s.wrapup_ends_at
        ? fmtSecs(s.wrapup_ends_at - now()) + " left" : (s.since ? fmtSecs(now() - s.since) : "");
    }
    if (state.call && state.call.queued_at) {
      const end = state.call.answered_at || now();
      $("caller-wait").textContent = fmtSecs(end - state.call.queued_at);
    }
    const r = state.interpreter;
    const timer = $("interpreter-timer");
    if (r && ["moving", "ringing", "waiting"].includes(r.state)) {
      // the request's own answer target (30 s by default): how long it has waited, late past it
      const waited = now() - r.created_at;
      timer.textContent = fmtSecs(waited) + " of " + fmtSecs(r.answer_target);
      timer.dataset.late = waited > r.answer_target ? "1" : "";
    } else {
      timer.textContent = "";
      timer.dataset.late = "";
    }
  }

  // -- messages -------------------------------------------------------------------------------
  function applySnapshot(m) {
    state.me = m.me || null;
    state.skew = m.server_time - Date.now() / 1000;
    for (const id of ["btn-ready", "btn-pause", "btn-logout-queues"]) $(id).disabled = !(m.me && m.me.extension);
    state.interpretable = (m.interpreting && m.interpreting.languages) || [];
    setupForm(m.form);
    showStatus(m.status);
    if (m.call) {
      showCall(m.call, m.call.draft);
      $("transcript").innerHTML = "";
      for (const t of m.call.transcript) addTranscript(Object.assign({ uniqueid: m.call.uniqueid }, t));
      for (const t of m.call.partials) addTranscript(t);
      if (m.call.interpreter) showInterpreter(m.call.interpreter);
      for (const [speaker, st] of Object.entries(m.call.transcription || {})) transcriptionStatus(Object.assign({ speaker }, st));
    } else {
      clearCall();
    }
    window.hlSlots.load(m.call);  // suggestions.js: the call's suggestions and spoken language
  }
  // -- interpreter ----------------------------------------------------------------------------
  function showInterpreter(r) {
    const shown = state.interpreter;
    if (shown && shown.id === r.id && r.seq < shown.seq) return;  // an older answer than what is shown
    state.interpreter = r;
    const text = {
      moving: "moving the call into a conference…", ringing: "ringing interpreter " + r.ringing +
        (r.tried.length > 1 ? " (" + (r.tried.length - 1) + " did not answer)" : ""),
      waiting: "waiting for a free " + r.language + " interpreter", connected: "interpreter " + r.interpreter + " joined",
      released: "interpreter left", cancelled: "request cancelled", ended: "call ended", failed: "could not start",
    }[r.state] || r.state;
    $("interpreter-status").textContent = text;
    $("interpreter-status").dataset.state = r.state;
    $("btn-interpreter-cancel").hidden = !["ringing", "waiting"].includes(r.state);
    $("btn-interpreter-release").hidden = r.state !== "connected";
    tick();
  }
  // "Add interpreter" only for the languages some interpreter speaks (the snapshot's list), the
  // caller's own preselected; a caller's language nobody interprets is said at once
  function offerInterpreting(callerLanguage) {
    const langs = state.interpretable || [];
    $("interpreting").hidden = !langs.length;
    const sel = $("interpreter-language");
    sel.innerHTML = "";
    for (const l of langs) sel.add(new Option(l.name + " (" + l.code + ")", l.code));
    const covered = langs.some((l) => l.code === callerLanguage);
    if (covered) sel.value = callerLanguage;
    else if (langs.length) {
      sel.insertBefore(new Option("— choose a language —", "", true, true), sel.firstChild);
      sel.value = "";
    }
    $("interpreter-status").textContent = langs.length && !covered
      ? "no interpreter is set up for the caller's language (" + callerLanguage + ")" : "";
  }
  function clearInterpreter() {  // a new call: nothing asked for yet
    state.interpreter = null;
    $("interpreter-status").textContent = "";
    $("interpreter-status").dataset.state = "";
    $("btn-interpreter-cancel").hidden = true;
    $("btn-interpreter-release").hidden = true;
    tick();
  }
  async function interpreterAction(kind) {
    const r = kind === "request"
      ? await api("POST", "/api/interpreters/request", { language: $("interpreter-language").value })
      : await api("POST", "/api/interpreters/requests/" + state.interpreter.id + "/" + kind);
    if (!r.ok) $("interpreter-status").textContent = r.data.message || "failed (" + r.status + ")";
    else showInterpreter(r.data.request);
  }

  const handlers = {
    snapshot: (m) => { applySnapshot(m); window.hlCrisis.deskLoad(); },  // crisis.js: the call's alerts
    status: showStatus,
    offer: (m) => showCall(Object.assign({ phase: "ringing" }, m), null),
    offer_withdrawn: (m) => { if (state.call && state.call.uniqueid === m.uniqueid) clearCall(); },
    live: (m) => { if (state.call && state.call.uniqueid === m.uniqueid) { state.call.answered_at = m.answered_at; setPhase("live"); } },
    call_ended: (m) => { if (state.call && state.call.uniqueid === m.uniqueid) { state.call.ended_at = m.ended_at; setPhase("ended"); } },
    transcript: addTranscript,
    transcription: transcriptionStatus,
    interpreter: showInterpreter,
    knowledge: (m) => window.hlKb.suggested(m),  // the knowledge panel: kb.js
    suggestions: (m) => window.hlSlots.show(m),  // slot suggestions next to the fields: suggestions.js
    spoken_language: (m) => window.hlSlots.language(m),  // "the caller seems to speak X": suggestions.js
    crisis_alert: (m) => window.hlCrisis.desk(m),  // crisis words: crisis.js shows the alert
    case_saved: (m) => {
      showSaved(m.uniqueid, m);
      if (state.call && state.call.uniqueid === m.uniqueid && state.call.phase === "ended") clearCall();
    },
    resync: async () => {
      const r = await api("GET", "/api/desktop/snapshot");
      if (r.ok) applySnapshot(r.data);
    },
    error: (m) => { $("control-error").textContent = m.message; },
  };
  function onMessage(ev) {
    const m = JSON.parse(ev.data);
    hotline.received.push(m.kind ? m.type + ":" + m.kind : m.type);
    const h = handlers[m.type];
    document.dispatchEvent(new CustomEvent("desk-message", { detail: m }));  // for kb.js (and any other)
    if (h) h(m); else console.warn("unknown message", m.type);
  }
  function send(m) {
    if (state.socket) state.socket.send(m);
  }
  hotline.dropSocket = () => state.socket && state.socket.drop();  // for tests: the socket drops

  async function control(action) {
    const body = { action };
    if (action === "pause") body.reason = $("pause-select").value;
    const r = await api("POST", "/api/desktop/state", body);
    $("control-error").textContent = r.ok ? "" : (r.data.message || "failed (" + r.status + ")");
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("btn-ready").addEventListener("click", () => control("ready"));
    $("btn-interpreter").addEventListener("click", () => {
      if (!$("interpreter-language").value) $("interpreter-status").textContent = "choose the language to interpret";
      else interpreterAction("request");
    });
    $("btn-interpreter-cancel").addEventListener("click", () => interpreterAction("cancel"));
    $("btn-interpreter-release").addEventListener("click", () => interpreterAction("release"));
    $("btn-pause").addEventListener("click", () => control("pause"));
    $("btn-logout-queues").addEventListener("click", () => control("logout"));
    $("case-form").addEventListener("input", onInput);
    $("case-form").addEventListener("change", onInput);
    $("case-form").addEventListener("submit", save);
    $("f-category").addEventListener("change", suggest);
    $("f-district").addEventListener("change", suggest);
    setInterval(tick, 1000);
    state.socket = window.liveSocket("/ws/desktop", onMessage);
  });
})();
