"""GET /: one plain HTML page listing locations and runs; it asks for a token and calls the API with fetch."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Longshoreman</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
 table { border-collapse: collapse; margin-bottom: 2rem; min-width: 60%; }
 th, td { border-bottom: 1px solid #ddd; padding: .3rem .7rem; text-align: left; font-size: .9rem; }
 th { background: #f4f4f4; }
 code { font-size: .85rem; }
 .s-LOADED, .s-SUCCESS { color: #11772a; } .s-FAILURE, .s-ERROR, .s-UNHEALTHY { color: #b00020; }
 .s-STARTED, .s-STARTING, .s-QUEUED { color: #1a5fb4; }
 .s-CANCELING, .s-CANCELED, .s-STOPPING, .s-STOPPED { color: #777; }
 #error { color: #b00020; }
</style>
</head>
<body>
<h1>Longshoreman</h1>
<p>
 <label>Admin token <input id="token" type="password" size="48" autocomplete="off"></label>
 <button id="save">Use token</button>
 <a href="/docs">API docs</a> &middot; <a href="__TEMPORAL_UI__">Temporal Web UI</a>
</p>
<p id="error"></p>
<h2>Code locations</h2>
<table><thead><tr><th>Name</th><th>Status</th><th>Generation</th><th>Jobs</th><th>Message</th><th>Updated</th>
<th>Workflow</th></tr></thead>
<tbody id="locations"></tbody></table>
<h2>Runs</h2>
<table><thead><tr><th>Id</th><th>Location</th><th>Job</th><th>Status</th><th>Reason</th><th>Created</th><th>Finished</th>
<th>Workflow</th></tr></thead><tbody id="runs"></tbody></table>
<script>
const tokenInput = document.getElementById("token");
tokenInput.value = localStorage.getItem("longshoreman-token") || "";
document.getElementById("save").onclick = () => {
  localStorage.setItem("longshoreman-token", tokenInput.value.trim());
  openCodecSession();
  refresh();
};
// The codec cookie lets the Temporal Web UI (same host) decrypt payloads through /codec/decode.
function openCodecSession() {
  if (tokenInput.value.trim()) {
    fetch("/codec/session", {method: "POST", headers: {"Authorization": "Bearer " + tokenInput.value.trim()}})
      .catch(() => {});
  }
}
function workflowLink(id, url) {
  const label = `<code>${esc(id)}</code>`;
  if (!url || !/^https?:[/][/]/.test(url)) return label;
  return `<a href="${esc(url).replace(/"/g, "&quot;")}" target="_blank" rel="noopener">${label}</a>`;
}
function esc(value) {
  const div = document.createElement("div");
  div.textContent = value === null || value === undefined ? "" : String(value);
  return div.innerHTML;
}
async function api(path) {
  const response = await fetch(path, {headers: {"Authorization": "Bearer " + tokenInput.value.trim()}});
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}
function status(s) { return `<span class="s-${esc(s)}">${esc(s)}</span>`; }
async function refresh() {
  if (!tokenInput.value.trim()) { document.getElementById("error").textContent = "Enter an admin token."; return; }
  try {
    const [locations, runs] = await Promise.all([api("/api/locations"), api("/api/runs?limit=50")]);
    document.getElementById("locations").innerHTML = locations.locations.map(l => `<tr>
      <td>${esc(l.name)}</td><td>${status(l.status)}</td><td>${esc(l.generation)}</td>
      <td>${esc(l.definitions.jobs.map(j => j.name).join(", "))}</td><td>${esc(l.message)}</td>
      <td>${esc(l.updated_at)}</td><td>${workflowLink(l.workflow_id, l.temporal_url)}</td></tr>`).join("");
    document.getElementById("runs").innerHTML = runs.runs.map(r => `<tr>
      <td><code>${esc(r.id)}</code></td><td>${esc(r.location)}</td><td>${esc(r.job)}</td><td>${status(r.status)}</td>
      <td>${esc(r.reason)}</td><td>${esc(r.created_at)}</td><td>${esc(r.finished_at)}</td>
      <td>${workflowLink(r.workflow_id, r.temporal_url)}</td></tr>`).join("");
    document.getElementById("error").textContent = "";
  } catch (err) {
    document.getElementById("error").textContent = err.message;
  }
}
openCodecSession();
refresh();
setInterval(refresh, 3000);
</script>
</body>
</html>
"""


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    """The status page (no auth to load it; its API calls carry the token the user enters)."""
    ui_url = request.app.state.services.settings.temporal_ui_url
    return HTMLResponse(_PAGE.replace("__TEMPORAL_UI__", html.escape(ui_url, quote=True)))
