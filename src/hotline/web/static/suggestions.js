// Suggestions from the caller's words (floor/suggestions.py): a phone number, the district, the
// address and a category appear next to their form field with the words they came from. Nothing is
// written into the form unasked: Tab in the field accepts its newest suggestion while the field is
// empty (the phone number goes into the notes), a click on a suggestion accepts that one (into the
// notes: added to what is there), Esc in the field or the × dismisses. Also "the caller seems to speak X": the spoken language the engine
// heard, with the interpreter for it preselected when one is set up. desktop.js hands over the
// messages ('suggestions', 'spoken_language') and the snapshot's call.
"use strict";
window.hlSlots = (function () {
  const $ = (id) => document.getElementById(id);
  const FIELDS = ["category", "district", "address", "notes"];
  const LABEL = { phone: "phone", district: "district", address: "address", category: "category" };
  const st = { uniqueid: null, items: [], dismissed: new Set(), spoken: null };

  const fieldEl = (field) => $("f-" + field);
  const box = (field) => document.querySelector('.suggestions[data-for="' + field + '"]');
  const noteLine = (item) => "Phone: " + item.value;

  function taken(item) {  // already in the form: nothing to offer
    const el = fieldEl(item.field);
    if (!el) return true;
    if (item.field === "notes") return el.value.includes(item.value);
    return el.value === item.value;
  }
  function pending(field) {  // newest first
    return st.items.filter((i) => i.field === field && !st.dismissed.has(i.id) && !taken(i)).reverse();
  }
  function label(item) {
    if (item.slot !== "category") return item.value;
    const opt = [...fieldEl("category").options].find((o) => o.value === item.value);
    return opt ? opt.text : item.value;
  }
  function render() {
    const { el } = window.hl;
    for (const field of FIELDS) {
      const b = box(field);
      if (!b) continue;
      const items = pending(field).slice(0, 3);
      b.replaceChildren(...items.map((item, n) => el("span", { class: "suggestion", "data-slot": item.slot, "data-id": item.id },
        el("button", { type: "button", class: "suggest-accept", title: "accept: write it into the field",
          onclick: () => accept(item) }, LABEL[item.slot] + ": " + label(item)),
        " from ", el("q", { class: "suggest-source", title: "the caller at " + Math.round(item.line.start) + " s: " + item.line.text }, item.source),
        n === 0 ? el("kbd", { class: "suggest-key", title: "in the field, while it is empty" }, "Tab") : "",
        el("button", { type: "button", class: "suggest-dismiss", "aria-label": "dismiss", onclick: () => dismiss(item) }, "×"))));
      b.hidden = !items.length;
    }
  }
  function accept(item) {
    const el = fieldEl(item.field);
    if (!el) return;
    if (item.field === "notes") el.value = el.value ? el.value.replace(/\s*$/, "") + "\n" + noteLine(item) : noteLine(item);
    else el.value = item.value;
    // the form's own listeners: the draft is kept, the department suggestion follows
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
    render();
  }
  function dismiss(item) {
    st.dismissed.add(item.id);
    render();
  }
  function onKey(ev) {  // Tab accepts the field's newest suggestion while the field is empty; Esc dismisses
    const field = ev.target && ev.target.id && ev.target.id.startsWith("f-") ? ev.target.id.slice(2) : "";
    if (!FIELDS.includes(field) || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const first = pending(field)[0];
    if (!first) return;
    if (ev.key === "Tab" && !ev.shiftKey && !ev.target.value) {
      ev.preventDefault();
      accept(first);
    } else if (ev.key === "Escape") {
      ev.preventDefault();
      dismiss(first);
    }
  }

  function reset(uniqueid) {  // a new call on the desktop: nothing suggested yet
    st.uniqueid = uniqueid;
    st.items = [];
    st.dismissed = new Set();
    st.spoken = null;
    render();
    showSpoken();
  }
  function show(m) {  // 'suggestions': the call's whole list
    if (!m.uniqueid || (st.uniqueid && m.uniqueid !== st.uniqueid)) return;
    st.uniqueid = m.uniqueid;
    st.items = m.items || [];
    render();
  }
  function language(m) {  // 'spoken_language'
    if (st.uniqueid && m.uniqueid !== st.uniqueid) return;
    st.spoken = m;
    showSpoken();
  }
  function showSpoken() {
    const p = $("spoken-language");
    if (!p) return;
    const s = st.spoken;
    p.hidden = !s;
    if (!s) { p.textContent = ""; return; }
    const name = s.name + " (" + s.language + ")";
    let text = "The caller seems to speak " + name + ", " + Math.round(s.probability * 100) + "% sure; the IVR chose " + s.ivr_language + ".";
    const sel = $("interpreter-language");
    const offered = s.interpreter && sel && [...sel.options].some((o) => o.value === s.language);
    if (offered) {
      sel.value = s.language;
      text += " The interpreter for " + s.name + " is preselected: Add interpreter.";
    } else {
      text += " No interpreter is set up for " + s.name + ".";
    }
    p.textContent = text;
    p.dataset.language = s.language;
  }
  function load(call) {  // the snapshot's call (a reload, a resync): its suggestions and spoken language
    if (!call) { reset(null); return; }
    if (call.uniqueid !== st.uniqueid) reset(call.uniqueid);
    st.items = call.suggestions || [];
    st.spoken = call.spoken_language || null;
    render();
    showSpoken();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = $("case-form");
    if (!form) return;
    form.addEventListener("keydown", onKey);
    form.addEventListener("input", render);  // typed over or cleared: what is pending changes
  });
  return { show, language, load, reset, render };
})();
