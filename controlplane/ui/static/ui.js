// Longshoreman web UI: the few scripts the server-rendered pages need (no framework, no build step).
// Every change goes to the JSON API with the session's CSRF token; the API enforces the roles.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

async function api(method, path, body) {
  const init = {method, headers: {"X-CSRF-Token": csrf()}};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let answer = null;
  if (response.status !== 204) {
    try { answer = await response.json(); } catch (err) { answer = {detail: response.statusText}; }
  }
  if (response.status === 401) { location.href = "/signin?next=" + encodeURIComponent(location.pathname); }
  return {ok: response.ok, status: response.status, body: answer};
}

function flash(message) {
  const box = document.getElementById("flash");
  if (!box) return;
  box.textContent = message || "";
  box.hidden = !message;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- sign-in and sign-out -----------------------------------------------------------------------------------
function setUpSignIn() {
  const form = document.getElementById("signin");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = document.getElementById("token");
      const answer = await api("POST", "/api/session", {token: input.value.trim()});
      input.value = "";
      if (!answer.ok) { document.getElementById("signin-error").textContent = answer.body.detail; return; }
      location.href = form.dataset.next || "/";
    });
  }
  const out = document.getElementById("signout");
  if (out) {
    out.addEventListener("click", async () => {
      await api("DELETE", "/api/session");
      location.href = "/signin";
    });
  }
}

// ---- buttons and small forms that call the API --------------------------------------------------------------
async function follow(then, answer) {
  if (then === "run" && answer.body && answer.body.run) { location.href = "/runs/" + answer.body.run.id; return; }
  if (then === "reload") { location.reload(); }
}

function setUpApiButtons() {
  document.querySelectorAll("button[data-api]").forEach((button) => {
    button.addEventListener("click", async () => {
      if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
      const [method, path] = button.dataset.api.split(" ");
      button.disabled = true;
      const answer = await api(method, path, method === "DELETE" ? undefined : {});
      button.disabled = false;
      if (!answer.ok) { flash(answer.body.detail); return; }
      flash("");
      await follow(button.dataset.then, answer);
    });
  });
  document.querySelectorAll("form[data-api]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {};
      for (const input of form.querySelectorAll("input[name]")) {
        if (input.value === "") continue;
        if (input.type === "datetime-local") body[input.name] = input.value + (input.value.length === 16 ? ":00Z" : "Z");
        else if (input.type === "number") body[input.name] = Number(input.value);
        else body[input.name] = input.value;
      }
      const [method, path] = form.dataset.api.split(" ");
      const answer = await api(method, path, body);
      if (!answer.ok) { form.querySelector(".error").textContent = answer.body.detail; return; }
      location.reload();
    });
  });
}

// ---- parts of a page that refresh themselves (the runs list) ------------------------------------------------
function setUpRefresh() {
  document.querySelectorAll("[data-refresh]").forEach((node) => {
    const every = Number(node.dataset.every || 5) * 1000;
    setInterval(async () => {
      if (document.hidden) return;
      const response = await fetch(node.dataset.refresh);
      if (response.ok) node.innerHTML = await response.text();
    }, every);
  });
}

// ---- the run page: logs, events and status, live --------------------------------------------------------------
function setUpRun() {
  const section = document.getElementById("run");
  if (!section) return;
  const runId = section.dataset.run;
  const logs = document.getElementById("logs");
  const events = document.getElementById("events");
  const stream = new EventSource(`/ui/runs/${encodeURIComponent(runId)}/stream`);
  let status = null;
  stream.addEventListener("log", (message) => {
    const line = JSON.parse(message.data);
    const atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
    const row = el("span", line.stream === "stderr" ? "stderr" : "", line.line + "\n");
    row.dataset.seq = line.seq;
    row.title = `${line.time} · attempt ${line.attempt}`;
    logs.appendChild(row);
    if (atBottom) logs.scrollTop = logs.scrollHeight;
  });
  stream.addEventListener("skipped", (message) => {
    const skipped = JSON.parse(message.data);
    logs.appendChild(el("span", "skipped",
      `… ${skipped.lines} earlier lines of attempt ${skipped.attempt} not shown (GET /api/runs/${runId}/logs)\n`));
  });
  stream.addEventListener("event", (message) => {
    const event = JSON.parse(message.data);
    const row = el("tr");
    for (const [label, value] of [["#", event.seq], ["Attempt", event.attempt], ["Time", event.time.replace("T", " ").slice(0, 19)],
      ["Type", event.type], ["Message", event.message]]) {
      const cell = el("td", "", String(value));
      cell.dataset.label = label;
      row.appendChild(cell);
    }
    events.appendChild(row);
  });
  const showStatus = (view) => {
    const badge = el("span", `badge s-${view.status}`, view.status);
    document.getElementById("run-status").replaceChildren(badge);
    document.getElementById("run-attempt").textContent = view.attempt;
    const reason = document.getElementById("run-reason");
    reason.textContent = view.reason || view.message || "";
    reason.classList.toggle("error", view.status === "FAILURE");
    const final = ["SUCCESS", "FAILURE", "CANCELED"].includes(view.status);
    const cancel = document.getElementById("cancel");
    if (cancel) cancel.hidden = final;
    if (view.log_tail) {
      document.getElementById("log-tail").textContent = view.log_tail;
      document.getElementById("tail-box").hidden = false;
    }
    if (status !== null && status !== view.status) refreshTimeline();
    status = view.status;
  };
  stream.addEventListener("run", (message) => showStatus(JSON.parse(message.data)));
  stream.addEventListener("end", (message) => {
    showStatus(JSON.parse(message.data));
    document.getElementById("log-state").textContent = "";
    stream.close();
  });
}

async function refreshTimeline() {
  const response = await fetch(location.pathname);
  if (!response.ok) return;
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.getElementById("timeline");
  if (fresh) document.getElementById("timeline").replaceWith(fresh);
}

// ---- the launch form: a config from the fields, the API's validation message next to its field ---------------
function readConfig(form) {
  const config = {};
  let whole = null;
  for (const field of form.querySelectorAll(".field[data-kind]")) {
    const kind = field.dataset.kind;
    const input = field.querySelector("input, select, textarea");
    const name = field.dataset.field;
    if (kind === "whole") { whole = input.value.trim() ? JSON.parse(input.value) : {}; continue; }
    if (kind === "boolean") { config[name] = input.checked; continue; }
    const text = input.value;
    if (text === "") continue;
    if (kind === "integer" || kind === "number") {
      // Not a number: sent as typed, so the API's message says what is wrong.
      config[name] = text.trim() !== "" && !Number.isNaN(Number(text)) ? Number(text) : text;
    } else if (kind === "json") {
      try { config[name] = JSON.parse(text); } catch (err) { throw {field: name, message: "not valid JSON"}; }
    } else {
      config[name] = text;
    }
  }
  return whole !== null ? whole : config;
}

function readTags(text) {
  const tags = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.indexOf("=");
    if (at < 1) throw {field: "__tags", message: `"${line}": expected KEY=VALUE`};
    tags[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return tags;
}

function fieldOf(form, detail) {
  // "config is not valid for job 'x': config['seconds']: -1 is less than the minimum of 0"
  const named = /config\['([^']+)'\]/.exec(detail);
  if (named) return form.querySelector(`.field[data-field="${CSS.escape(named[1])}"]`);
  if (/^config is not valid/.test(detail)) return form.querySelector('.field[data-kind="whole"]');
  if (/\btags?\b/.test(detail)) return form.querySelector('.field[data-field="__tags"]');
  if (/idempotency_key/.test(detail)) return form.querySelector('.field[data-field="__key"]');
  return null;
}

function showFieldError(form, field, message) {
  const box = field ? field.querySelector(".field-error") : null;
  if (box) { field.classList.add("invalid"); box.textContent = message; }
  else { document.getElementById("launch-error").textContent = message; }
}

function setUpLaunch() {
  const form = document.getElementById("launch");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.querySelectorAll(".field").forEach((f) => { f.classList.remove("invalid"); f.querySelector(".field-error").textContent = ""; });
    document.getElementById("launch-error").textContent = "";
    let body;
    try {
      body = {location: form.dataset.location, job: form.dataset.job, config: readConfig(form),
        tags: readTags(document.getElementById("tags").value)};
    } catch (err) {
      const field = err.field !== undefined ? form.querySelector(`.field[data-field="${CSS.escape(err.field)}"]`) : null;
      showFieldError(form, field, err.message || String(err));
      return;
    }
    const key = document.getElementById("idempotency-key").value.trim();
    if (key) body.idempotency_key = key;
    if (form.dataset.assets) body.assets = JSON.parse(form.dataset.assets);  // from an asset's "Materialize"
    const button = document.getElementById("launch-button");
    button.disabled = true;
    const answer = await api("POST", "/api/runs", body);
    button.disabled = false;
    if (answer.ok) { location.href = "/runs/" + answer.body.run.id; return; }
    showFieldError(form, fieldOf(form, answer.body.detail), answer.body.detail);
  });
}

// ---- tokens ------------------------------------------------------------------------------------------------------
function setUpTokens() {
  const form = document.getElementById("new-token");
  if (!form) return;
  const kind = form.querySelector('[name="kind"]');
  const role = form.querySelector('[name="role"]');
  kind.addEventListener("change", () => { role.disabled = kind.value !== "admin"; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {name: form.querySelector('[name="name"]').value, kind: kind.value};
    if (kind.value === "admin") body.role = role.value;
    const expires = form.querySelector('[name="expires_in_s"]').value;
    if (expires) body.expires_in_s = Number(expires);
    const answer = await api("POST", "/api/tokens", body);
    if (!answer.ok) { form.querySelector(".error").textContent = answer.body.detail; return; }
    // The secret is shown once, here; a reload (to list the token) would lose it, so the list waits.
    const secret = document.getElementById("new-secret");
    secret.querySelector("code").textContent = answer.body.token;
    secret.hidden = false;
    form.reset();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpSignIn();
  setUpApiButtons();
  setUpRefresh();
  setUpRun();
  setUpLaunch();
  setUpTokens();
});
