// Surge announcements (floor/surge.py) on the wallboard: the messages on or coming, with their
// start, end and counts (played, informed, opted out), and a shift manager's form to set one for a
// topic, a district or everyone (a text per language, spoken at creation) and to end one early.
// wallboard.js hands over the snapshot's languages and topics (setup) and the 'surge' section (render).
"use strict";
window.hlSurge = (function () {
  const { api, el, when } = window.hl;
  let languages = [], topics = [], drawn = "";
  const $ = (id) => document.getElementById(id);

  function target() {
    const scope = $("surge-scope").value;
    $("surge-topic").hidden = scope !== "topic";
    $("surge-district").hidden = scope !== "district";
  }
  function setup(langs, tops) {
    const box = $("surge-panel");
    if (!box || languages.length) return;
    languages = langs || []; topics = tops || [];
    for (const t of topics) $("surge-topic").add(new Option(t.name, t.code));
    $("surge-texts").replaceChildren(...languages.map((l) => el("label", null, l.name + " ",
      el("input", { type: "text", maxlength: "300", size: "50", "data-lang": l.code }))));
    $("surge-scope").addEventListener("change", target);
    $("surge-form").addEventListener("submit", create);
    const asked = new URLSearchParams(location.search);  // a hotspot's "Announce…" (trends.js): prefilled only
    const scope = asked.get("surge_scope"), what = asked.get("surge_target") || "";
    if (scope === "topic" && topics.some((t) => t.code === what)) {
      $("surge-scope").value = "topic"; $("surge-topic").value = what;
    } else if (scope === "district") {
      $("surge-scope").value = "district"; $("surge-district").value = what.slice(0, 60);
    }
    target();
  }
  async function create(ev) {
    ev.preventDefault();
    const scope = $("surge-scope").value;
    const texts = {};
    for (const input of $("surge-texts").querySelectorAll("input")) {
      if (input.value.trim()) texts[input.dataset.lang] = input.value.trim();
    }
    const now = Date.now() / 1000;
    const body = { scope, texts, starts_at: now, ends_at: now + 60 * Number($("surge-minutes").value || 0),
                   target: scope === "topic" ? $("surge-topic").value : scope === "district" ? $("surge-district").value : "" };
    const r = await api("POST", "/api/surge", body);
    $("surge-error").textContent = r.ok ? "" : (r.data && r.data.message) || "failed (" + r.status + ")";
    if (r.ok) for (const input of $("surge-texts").querySelectorAll("input")) input.value = "";
  }
  async function end(id) {
    const r = await api("DELETE", "/api/surge/" + id);
    $("surge-error").textContent = r.ok ? "" : (r.data && r.data.message) || "failed (" + r.status + ")";
  }
  function render(section) {
    const list = $("surge-list");
    if (!list) return;
    const surges = (section && section.surges) || [];
    const key = JSON.stringify(surges);
    if (key === drawn) return;
    drawn = key;
    if (!surges.length) { list.replaceChildren(el("li", { class: "none" }, "none")); return; }
    list.replaceChildren(...surges.map((s) => {
      const who = s.scope === "everyone" ? "everyone" : s.scope + " " + s.target;
      const said = s.recorded ? "(recorded)" : Object.entries(s.texts).map(([l, t]) => l + ": " + t).join(" · ");
      return el("li", { "data-id": s.id, class: s.on ? "on" : "coming" },
        el("strong", null, who), " ", said, el("br"),
        (s.on ? "on since " : "from ") + when(s.starts_at) + " until " + when(s.ends_at) + " · ",
        el("span", { class: "surge-counts" }, "played " + s.played + " · informed " + s.informed +
          " · opted out " + s.opted_out), " ",
        el("button", { type: "button", onclick: () => end(s.id) }, "End"));
    }));
  }
  return { setup, render };
})();
