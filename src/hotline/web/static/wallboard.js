// The shift managers' wallboard: one WebSocket (/ws/wallboard, see messages.json "wallboard") with
// a snapshot and then only what changed; waits and times in state grow here, from the server's
// clock, between messages. Actions are JSON API calls with the CSRF token.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const S = { queues: {}, agents: {}, waiting: [], alerts: [], sessions: [], languages: [], topics: [], target: 15,
              skew: 0, socket: null, me: null };
  const hotline = (window.hotline = { state: S, received: [] });
  const now = () => Date.now() / 1000 + S.skew;

  function fmtSecs(s) {
    if (s == null || isNaN(s)) return "–";
    s = Math.max(0, Math.round(s));
    return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s";
  }
  const pct = (v) => (v == null ? "–" : v.toFixed(1) + "%");
  const num = (v) => (v == null ? "–" : String(v));
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text != null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  const { api } = window.hl;  // JSON calls with the CSRF token (page.js)
  async function act(method, path, body) {
    const r = await api(method, path, body);
    $("action-error").textContent = r.ok ? "" : (r.data.message || "failed (" + r.status + ")");
    return r;
  }

  // -- rendering ------------------------------------------------------------------------------
  function renderTotals(t) {
    $("t-offered").textContent = t.offered; $("t-answered").textContent = t.answered;
    $("t-abandoned").textContent = t.abandoned; $("t-sl-answered").textContent = pct(t.sl_over_answered);
    $("t-sl-offered").textContent = pct(t.sl_over_offered); $("t-waiting").textContent = t.waiting;
    $("t-talking").textContent = t.talking; $("b-waiting").textContent = t.waiting;
    // from the first ring (the headline): the IVR hang-ups are offered there too
    $("t-ring-offered").textContent = t.first_ring_offered; $("t-ivr").textContent = t.ivr_abandoned;
    $("t-ring-sl-answered").textContent = pct(t.first_ring_sl_over_answered);
    $("t-ring-sl-offered").textContent = pct(t.first_ring_sl_over_offered);
    $("t-short").textContent = t.short_abandoned; $("t-short-box").hidden = !t.short_abandoned;
  }
  function renderSummary(s) {
    $("b-calls").textContent = s.calls_today; $("b-sl").textContent = pct(s.sl_today_first_ring);
    $("b-sl-queue").textContent = pct(s.sl_today);
    $("b-cases").textContent = s.cases_in_progress;
    const ol = $("b-topics");
    ol.replaceChildren(...s.top_topics.map((t) => el("li", t.topic + " · " + t.calls)));
  }
  function renderAlerts() {
    const ul = $("alerts");
    if (!S.alerts.length) { ul.replaceChildren(el("li", "none", "none")); return; }
    ul.replaceChildren(...S.alerts.map((a) => {
      const li = el("li", a.text, a.severity + " " + a.kind);
      li.dataset.id = a.id;
      if (a.kind === "crisis" && window.hlCrisis) window.hlCrisis.decorate(li, a);  // listen, barge, dismiss
      return li;
    }));
  }
  function renderWaiting() {
    const body = $("waiting").tBodies[0];
    body.replaceChildren(...S.waiting.map((w) => {
      const tr = document.createElement("tr");
      tr.dataset.uniqueid = w.uniqueid;
      tr.dataset.joined = w.joined_at;
      tr.dataset.ring = w.arrived_at || w.joined_at;  // the wait from the first ring (red past the target)
      for (const v of [w.caller, w.queue, w.language, w.topic]) tr.appendChild(el("td", v));
      tr.appendChild(el("td", fmtSecs(now() - w.joined_at), "wait"));
      tr.appendChild(el("td", w.ringing.join(", ")));
      return tr;
    }));
  }
  function slCell(sl) {  // from the first ring (the headline), then from queue entry (Asterisk's)
    return "ring " + pct(sl.first_ring_over_answered) + " / " + pct(sl.first_ring_over_offered) +
      " · queue " + pct(sl.over_answered) + " / " + pct(sl.over_offered);
  }
  function renderQueue(q) {
    let tr = document.querySelector('#queues tr[data-queue="' + q.queue + '"]');
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.queue = q.queue;
      const rows = [...$("queues").tBodies[0].rows];
      const after = rows.find((r) => r.dataset.queue > q.queue);
      $("queues").tBodies[0].insertBefore(tr, after || null);
    }
    tr.dataset.oldest = q.oldest_since == null ? "" : q.oldest_since;
    const cells = [q.queue, q.waiting, "", slCell(q.sl["5m"]), slCell(q.sl["30m"]), slCell(q.sl.today), q.answered,
                   q.abandoned, num(q.average_wait), num(q.average_handling)];
    const classes = ["name", "waiting", "longest", "sl5", "sl30", "sltoday", "answered", "abandoned", "avg-wait", "aht"];
    tr.replaceChildren(...cells.map((c, i) => el("td", String(c), classes[i])));
  }
  function skillsText(a) {
    return Object.entries(a.languages).map(([k, v]) => k + v).join(" ") + (a.topics.length ? " · " + a.topics.join(", ") : "");
  }
  function button(text, cls, fn) {
    const b = el("button", text, cls);
    b.type = "button";
    b.addEventListener("click", fn);
    return b;
  }
  function renderAgent(a) {
    let tr = document.querySelector('#agents tr[data-ext="' + a.extension + '"]');
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.ext = a.extension;
      $("agents").tBodies[0].appendChild(tr);
    }
    tr.className = "state-" + a.state;
    tr.dataset.state = a.state;
    tr.dataset.since = a.since == null ? "" : a.since;
    tr.dataset.languages = Object.keys(a.languages).join(" ");
    tr.dataset.topics = a.topics.join(" ");
    const call = a.call ? a.call.language + " " + a.call.topic + " · " + a.call.caller +
      (a.call.wait != null ? " · waited " + fmtSecs(a.call.wait) : "") : "";
    const cells = [el("td", a.name + " (" + a.extension + ")", "name"),
                   el("td", a.state + (a.pause_reason ? ": " + a.pause_reason : ""), "state"),
                   el("td", "", "for"), el("td", call, "call"), el("td", String(a.calls_today), "calls"),
                   el("td", skillsText(a), "skills")];
    const actions = el("td", null, "actions");
    if (a.logged_in) {
      if (a.state === "paused") actions.appendChild(button("Ready", "act-unpause", () => act("POST", "/api/agents/" + a.extension + "/unpause")));
      else actions.appendChild(button("Pause", "act-pause", () => act("POST", "/api/agents/" + a.extension + "/pause", { reason: "by supervisor" })));
      actions.appendChild(button("Log out", "act-logout", () => act("POST", "/api/agents/" + a.extension + "/logout")));
    } else {
      actions.appendChild(button("Log in", "act-login", () => act("POST", "/api/agents/" + a.extension + "/login")));
    }
    actions.appendChild(button("Skills", "act-skills", () => openSkills(a.extension)));
    if (a.state === "talking") {
      for (const mode of ["listen", "whisper", "barge"]) {
        actions.appendChild(button(mode[0].toUpperCase() + mode.slice(1), "act-" + mode,
          () => act("POST", "/api/supervision/" + a.extension + "/" + mode)));
      }
    }
    cells.push(actions);
    tr.replaceChildren(...cells);
    applyFilter(tr);
  }
  function applyFilter(tr) {
    const lang = $("filter-language").value, topic = $("filter-topic").value, st = $("filter-state").value;
    const show = (!lang || tr.dataset.languages.split(" ").includes(lang)) &&
      (!topic || tr.dataset.topics.split(" ").includes(topic)) && (!st || tr.dataset.state === st);
    tr.classList.toggle("hidden", !show);
  }
  function renderSessions() {
    const mine = S.sessions.filter((s) => S.me && s.supervisor === S.me.username);
    $("sessions").textContent = S.sessions.length ? S.sessions.map((s) => s.supervisor + " " + s.mode + " on " + s.agent +
      " since " + new Date(s.started_at * 1000).toLocaleTimeString()).join("; ") : "none";
    $("spy-stop").hidden = !mine.length;
  }
  function renderInterpreting(it) {
    S.interpreting = it;
    $("interpreting-panel").hidden = !it || !it.interpreters.length;
    if (!it) return;
    $("interpreter-requests").tBodies[0].replaceChildren(...it.requests.map((r) => {
      const tr = el("tr");
      tr.dataset.id = r.id;
      tr.dataset.created = r.created_at;
      tr.dataset.joined = r.joined_at || "";
      const who = r.state === "ringing" ? "ringing " + r.ringing : r.state === "connected" ? "with " + r.interpreter : r.state;
      tr.replaceChildren(el("td", "#" + r.id), el("td", r.language), el("td", r.operator), el("td", who, "state"),
        el("td", "", "waited" + (r.late ? " late" : "")), el("td", r.requested_by));
      return tr;
    }));
    $("interpreters").tBodies[0].replaceChildren(...it.interpreters.map((i) => {
      const tr = el("tr");
      tr.dataset.ext = i.extension;
      tr.dataset.state = i.state;
      tr.dataset.idle = i.state === "ready" ? i.idle_since : "";
      tr.replaceChildren(el("td", i.name + " (" + i.extension + ")"),
        el("td", Object.entries(i.languages).map(([l, p]) => l + " " + p).join(", ")), el("td", i.state, "state"),
        el("td", "", "idle"));
      return tr;
    }));
    tick();
  }
  function renderAudit(rows) {
    $("audit").replaceChildren(...rows.map((r) => el("li", new Date(r.at * 1000).toLocaleTimeString() + " " + r.actor +
      " " + r.action + " " + (r.target || "") + " " + JSON.stringify(r.detail))));
  }
  function tick() {  // growing waits and times in state, between messages
    for (const tr of $("waiting").tBodies[0].rows) {
      const w = now() - Number(tr.dataset.ring || tr.dataset.joined);
      const inQueue = now() - Number(tr.dataset.joined);
      const c = tr.querySelector(".wait");
      c.textContent = fmtSecs(w) + (w - inQueue >= 1 ? " (" + fmtSecs(inQueue) + " in queue)" : "");
      c.classList.toggle("late", w >= S.target);
    }
    for (const tr of $("queues").tBodies[0].rows) {
      tr.querySelector(".longest").textContent = tr.dataset.oldest ? fmtSecs(now() - Number(tr.dataset.oldest)) : "–";
    }
    for (const tr of $("agents").tBodies[0].rows) {
      tr.querySelector(".for").textContent = tr.dataset.since ? fmtSecs(now() - Number(tr.dataset.since)) : "";
    }
    const target = S.interpreting ? S.interpreting.answer_target : 30;
    for (const tr of $("interpreter-requests").tBodies[0].rows) {  // the request's own answer target
      const end = tr.dataset.joined ? Number(tr.dataset.joined) : now();
      const w = end - Number(tr.dataset.created);
      const c = tr.querySelector(".waited");
      c.textContent = fmtSecs(w) + " / " + fmtSecs(target);
      c.classList.toggle("late", w > target);
    }
    for (const tr of $("interpreters").tBodies[0].rows) {
      tr.querySelector(".idle").textContent = tr.dataset.idle ? fmtSecs(now() - Number(tr.dataset.idle)) : "";
    }
  }

  // -- skills ---------------------------------------------------------------------------------
  function openSkills(ext) {
    const a = S.agents[ext];
    $("skills-who").textContent = a.name + " (" + ext + ")";
    $("skills-form").dataset.ext = ext;
    $("skills-error").textContent = "";
    $("skills-languages").replaceChildren(...S.languages.map((l) => {
      const label = el("label", l.name + " ");
      const input = document.createElement("input");
      input.type = "number";
      Object.assign(input, { min: 0, max: 5, value: a.languages[l.code] || 0, name: "lang-" + l.code });
      input.id = "skill-lang-" + l.code;
      label.appendChild(input);
      return label;
    }));
    $("skills-topics").replaceChildren(...S.topics.map((t) => {
      const label = el("label", " " + t.name);
      const input = document.createElement("input");
      input.type = "checkbox";
      Object.assign(input, { checked: a.topics.includes(t.code), name: "topic-" + t.code });
      input.id = "skill-topic-" + t.code;
      label.prepend(input);
      return label;
    }));
    $("skills-dialog").showModal();
  }
  async function saveSkills(ev) {
    ev.preventDefault();
    const ext = $("skills-form").dataset.ext;
    const languages = {};
    for (const l of S.languages) {
      const v = Number($("skill-lang-" + l.code).value);
      if (v > 0) languages[l.code] = v;
    }
    const topics = S.topics.filter((t) => $("skill-topic-" + t.code).checked).map((t) => t.code);
    const r = await api("POST", "/api/agents/" + ext + "/skills", { languages, topics });
    if (r.ok) $("skills-dialog").close(); else $("skills-error").textContent = r.data.message || "failed (" + r.status + ")";
  }

  // -- messages -------------------------------------------------------------------------------
  function applyUpdate(m) {
    if (m.server_time) S.skew = m.server_time - Date.now() / 1000;
    for (const q of m.queues || []) { S.queues[q.queue] = q; renderQueue(q); }
    for (const a of m.agents || []) { S.agents[a.extension] = a; renderAgent(a); }
    if (m.waiting) { S.waiting = m.waiting; renderWaiting(); }
    if (m.alerts) { S.alerts = m.alerts; renderAlerts(); }
    if (m.crisis && window.hlCrisis) window.hlCrisis.counts(m.crisis);  // today's crisis alerts (crisis.js)
    if (m.surge && window.hlSurge) window.hlSurge.render(m.surge);  // surge announcements (surge.js)
    if (m.totals) renderTotals(m.totals);
    if (m.summary) renderSummary(m.summary);
    if (m.sessions) { S.sessions = m.sessions; renderSessions(); }
    if ("interpreting" in m) renderInterpreting(m.interpreting);
    if (m.audit) renderAudit(m.audit);
    tick();
  }
  const handlers = {
    wallboard_snapshot: (m) => {
      S.me = m.me; S.target = m.target_seconds; S.languages = m.languages; S.topics = m.topics;
      for (const t of document.querySelectorAll(".target")) t.textContent = m.target_seconds;
      $("queues").tBodies[0].replaceChildren();
      $("agents").tBodies[0].replaceChildren();
      S.queues = {}; S.agents = {};
      const fl = $("filter-language"), ft = $("filter-topic");
      if (fl.options.length === 1) for (const l of m.languages) fl.add(new Option(l.name, l.code));
      if (ft.options.length === 1) for (const t of m.topics) ft.add(new Option(t.name, t.code));
      if (window.hlSurge) window.hlSurge.setup(m.languages, m.topics);
      applyUpdate(m);
    },
    wallboard_update: (m) => applyUpdate(m),
    resync: async () => {
      const r = await api("GET", "/api/wallboard");
      if (r.ok) handlers.wallboard_snapshot(r.data);
    },
    error: (m) => { $("action-error").textContent = m.message; },
  };
  function onMessage(ev) {
    const m = JSON.parse(ev.data);
    hotline.received.push(m.type);
    const h = handlers[m.type];
    if (h) h(m); else console.warn("unknown message", m.type);
  }
  hotline.dropSocket = () => S.socket && S.socket.drop();

  document.addEventListener("DOMContentLoaded", () => {
    for (const id of ["filter-language", "filter-topic", "filter-state"]) {
      $(id).addEventListener("change", () => { for (const tr of $("agents").tBodies[0].rows) applyFilter(tr); });
    }
    $("skills-form").addEventListener("submit", saveSkills);
    $("skills-cancel").addEventListener("click", () => $("skills-dialog").close());
    $("spy-stop").addEventListener("click", () => act("POST", "/api/supervision/stop"));
    setInterval(tick, 1000);
    S.socket = window.liveSocket("/ws/wallboard", onMessage);
  });
})();
