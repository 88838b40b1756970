// The admin page: the users' table, the add/edit form, disable/enable and password resets
// (a generated password is shown once). Every change goes through the JSON API with the CSRF token.
"use strict";
(function () {
  const { api, el } = window.hl;
  const $ = (id) => document.getElementById(id);
  let state = { users: [], roles: [], operators: [], supervisors: [], interpreters: [], departments: [], me: "", site_users: [] };
  let editing = null;  // the user name being edited, or null: adding

  function say(text, error) {
    const s = $("admin-status");
    s.textContent = text;
    s.className = error ? "error" : "ok";
  }
  function failed(r) {
    say((r.data.message || "failed") + " (" + (r.data.error || r.status) + ")", true);
  }
  function hideOneTime() {  // the next action closes it: a password is not left on the screen
    $("one-time").hidden = true;
    $("one-time-password").textContent = "";
  }
  function oneTime(username, password) {
    if (!password) return;
    $("one-time-user").textContent = username;
    $("one-time-password").textContent = password;
    $("one-time").hidden = false;
  }
  function phones(role) {
    if (role === "operator") return state.operators;
    if (role === "supervisor") return state.supervisors;
    if (role === "interpreter") return state.interpreters;
    return [];
  }
  function fillSelect(select, options, value) {
    select.innerHTML = "";
    for (const [v, label] of options) select.append(el("option", { value: v }, label));
    if (options.some(([v]) => v === value)) select.value = value;  // else the first option
  }
  function showFields(extension, department) {
    const role = $("f-role").value;
    const exts = phones(role);
    $("p-extension").hidden = !exts.length;
    fillSelect($("f-extension"), [...(role === "operator" ? [] : [["", "none"]]), ...exts.map((p) => [p.extension, p.extension + " " + p.name])], extension || "");
    $("p-department").hidden = role !== "department";
    fillSelect($("f-department"), state.departments.map((d) => [d.code, d.code + " " + d.name]), department || "");
  }
  function reset() {
    editing = null;
    $("user-form").reset();
    $("f-username").disabled = false;
    $("edit-title").textContent = "Add a user";
    $("f-save").textContent = "Add user";
    $("f-cancel").hidden = true;
    $("p-password").hidden = false;
    fillSelect($("f-role"), state.roles.map((r) => [r, r]), "operator");
    showFields("", "");
  }
  function edit(u) {
    hideOneTime();
    editing = u.username;
    $("f-username").value = u.username;
    $("f-username").disabled = true;
    $("f-name").value = u.name || "";
    $("edit-title").textContent = "Edit " + u.username;
    $("f-save").textContent = "Save";
    $("f-cancel").hidden = false;
    $("p-password").hidden = true;
    fillSelect($("f-role"), state.roles.map((r) => [r, r]), u.role);
    showFields(u.extension || "", u.department || "");
    $("f-name").focus();
  }
  async function act(u, what) {
    hideOneTime();
    const r = await api("POST", "/api/admin/users/" + encodeURIComponent(u.username) + "/" + what, {});
    if (!r.ok) return failed(r);
    if (what === "password") {
      oneTime(u.username, r.data.password);
      say("new password for " + u.username + "; their sessions ended");
    } else say(u.username + (what === "disable" ? " disabled; their sessions ended" : " enabled"));
    await load();
  }
  function row(u) {
    const self = u.username === state.me;
    const where = u.department || u.extension || "–";
    return el("tr", { "data-user": u.username, class: u.disabled ? "disabled" : "" },
      el("td", {}, u.username, state.site_users.includes(u.username) ? " (site file)" : ""),
      el("td", {}, u.name || ""), el("td", { class: "role" }, u.role), el("td", { class: "where" }, where),
      el("td", { class: "status" }, (u.disabled ? "disabled" : "active") + (u.has_password ? "" : " · no password")),
      el("td", {},
        el("button", { type: "button", class: "edit", onclick: () => edit(u) }, "Edit"), " ",
        u.disabled ? el("button", { type: "button", class: "enable", onclick: () => act(u, "enable") }, "Enable")
          : el("button", { type: "button", class: "disable", disabled: self, title: self ? "you cannot disable yourself" : "", onclick: () => act(u, "disable") }, "Disable"), " ",
        el("button", { type: "button", class: "reset", onclick: () => act(u, "password") }, "Reset password")));
  }
  async function load() {
    const r = await api("GET", "/api/admin/users");
    if (!r.ok) return failed(r);
    const first = !state.roles.length;
    state = r.data;
    const body = document.querySelector("#users tbody");
    body.innerHTML = "";
    for (const u of state.users) body.append(row(u));
    if (first) reset();
  }
  $("f-role").addEventListener("change", () => showFields("", ""));
  $("f-cancel").addEventListener("click", reset);
  $("one-time-done").addEventListener("click", hideOneTime);
  $("user-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    hideOneTime();
    const role = $("f-role").value;
    const body = { role, name: $("f-name").value, extension: $("p-extension").hidden ? "" : $("f-extension").value,
      department: role === "department" ? $("f-department").value : "" };
    let r;
    if (editing) {
      r = await api("POST", "/api/admin/users/" + encodeURIComponent(editing), body);
      if (!r.ok) return failed(r);
      say(editing + " saved");
    } else {
      const username = $("f-username").value.trim().toLowerCase();
      r = await api("POST", "/api/admin/users", { ...body, username, password: $("f-password").value });
      if (!r.ok) return failed(r);
      oneTime(r.data.username, r.data.password);
      say(r.data.username + " added");
    }
    reset();
    await load();
  });
  load();
})();
