// The desk's knowledge panel (issue 19): the articles suggested for the call on the desk (the
// 'knowledge' message; the snapshot's call.knowledge after a reload), a search box
// (GET /api/kb/search), an article opened in the panel without leaving the call
// (GET /api/kb/articles/{id}) and "This helped" (POST .../helped, counted once per article and call).
// desktop.js hands every socket message to the page as a "desk-message" event.
"use strict";
window.hlKb = (function () {
  const $ = (id) => document.getElementById(id);
  const state = { uniqueid: null, topic: "", language: "", open: null };
  const { api, el } = window.hl;

  function card(a, list) {
    const meta = [a.language, a.topic || "general"].concat(a.helped ? [a.helped + " helped"] : []).join(" · ");
    const li = el("li", { class: "kb-card", "data-id": a.id },
      el("button", { type: "button", class: "kb-open", onclick: () => open(a.id) }, a.title),
      el("span", { class: "kb-meta" }, meta),
      el("span", { class: "kb-snippet" }, a.snippet || ""));
    list.appendChild(li);
  }
  function showList(listId, titleId, articles) {
    const list = $(listId);
    list.innerHTML = "";
    for (const a of articles || []) card(a, list);
    $(titleId).hidden = !(articles && articles.length);
  }
  function suggested(m) {
    if (!m || (state.uniqueid && m.uniqueid !== state.uniqueid)) return;
    state.uniqueid = m.uniqueid;
    showList("kb-suggested", "kb-suggested-title", m.articles);
    $("kb-words").textContent = m.words && m.words.length ? "(heard: " + m.words.join(" ") + ")" : "(the call's topic)";
  }
  function forCall(call) {  // a new call on the desk, or none: nothing suggested yet
    const uid = call ? call.uniqueid : null;
    if (uid === state.uniqueid) return;
    state.uniqueid = uid;
    state.topic = call ? call.topic || "" : "";
    state.language = call ? call.language || "" : "";
    showList("kb-suggested", "kb-suggested-title", []);
    $("kb-helped-status").textContent = "";
  }
  async function search(ev) {
    if (ev) ev.preventDefault();
    const q = $("kb-q").value.trim();
    if (!q) { $("kb-status").textContent = "type what to look for"; return; }
    const params = new URLSearchParams({ q, topic: state.topic, language: state.language, limit: "10" });
    $("kb-status").textContent = "searching…";
    const r = await api("GET", "/api/kb/search?" + params.toString());
    if (!r.ok) { $("kb-status").textContent = (r.data && r.data.message) || "search failed (" + r.status + ")"; return; }
    $("kb-status").textContent = r.data.articles.length ? "" : "no article found";
    showList("kb-results", "kb-results-title", r.data.articles);
  }
  async function open(id) {
    const r = await api("GET", "/api/kb/articles/" + encodeURIComponent(id));
    if (!r.ok) { $("kb-status").textContent = (r.data && r.data.message) || "not found (" + r.status + ")"; return; }
    const a = r.data.article;
    state.open = a.id;
    $("kb-article-title").textContent = a.title;
    $("kb-article-meta").textContent = [a.language, a.topic || "general", (a.tags || "").split(",").join(", ")]
      .filter(Boolean).join(" · ");
    $("kb-article-body").textContent = a.body;
    $("kb-helped-count").textContent = a.helped ? "helped " + a.helped + " times" : "";
    $("kb-helped-status").textContent = "";
    $("kb-helped").disabled = !state.uniqueid;
    $("kb-article").hidden = false;
  }
  async function helped() {
    if (!state.open || !state.uniqueid) return;
    const r = await api("POST", "/api/kb/articles/" + state.open + "/helped", { uniqueid: state.uniqueid });
    if (!r.ok) { $("kb-helped-status").textContent = (r.data && r.data.message) || "failed (" + r.status + ")"; return; }
    $("kb-helped-status").textContent = r.data.counted ? "thank you: counted" : "already counted for this call";
    $("kb-helped-count").textContent = "helped " + r.data.helped + " times";
  }
  document.addEventListener("desk-message", (ev) => {
    const m = ev.detail;
    if (m.type === "snapshot") {
      forCall(m.call);
      if (m.call && m.call.knowledge) suggested(m.call.knowledge);
    } else if (m.type === "offer") {
      forCall(m);
    } else if (m.type === "offer_withdrawn" && m.uniqueid === state.uniqueid) {
      forCall(null);
    }
  });
  document.addEventListener("DOMContentLoaded", () => {
    $("kb-search").addEventListener("submit", search);
    $("kb-helped").addEventListener("click", helped);
    $("kb-close").addEventListener("click", () => { $("kb-article").hidden = true; state.open = null; });
  });
  return { suggested, state };
})();
