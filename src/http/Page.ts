/**
 * The page served at `/`: the downloads with live progress, a form to start
 * one, resume and cancel buttons. Plain HTML and script, no build step; it
 * follows `/api/events` rather than polling.
 */
export const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ipfs-dl</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
  body { max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin: 0 0 1rem; }
  form { display: grid; grid-template-columns: 3fr 1.2fr 2fr auto; gap: .5rem; margin-bottom: .5rem; }
  input, button { font: inherit; padding: .45rem .6rem; border: 1px solid #c8cdd6; border-radius: 6px; }
  button { background: #2456d6; color: white; border-color: #2456d6; cursor: pointer; }
  button.secondary { background: white; color: #2456d6; }
  button:disabled { opacity: .5; cursor: default; }
  #message { min-height: 1.4rem; margin: 0 0 1rem; }
  #message.error { color: #b3261e; }
  table { width: 100%; border-collapse: collapse; background: white; border-radius: 8px; overflow: hidden; }
  th, td { text-align: left; padding: .55rem .6rem; border-bottom: 1px solid #eceef2; vertical-align: middle; }
  th { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: #5b6474; }
  .cid { font-family: ui-monospace, monospace; font-size: .85rem; }
  .bar { height: .6rem; background: #e3e7ee; border-radius: 99px; overflow: hidden; min-width: 8rem; }
  .bar > div { height: 100%; background: #2456d6; width: 0; transition: width .2s; }
  .success .bar > div { background: #1e8e3e; }
  .failed .bar > div { background: #b3261e; }
  .paused .bar > div { background: #c77700; }
  .detail { font-size: .8rem; color: #5b6474; margin-top: .25rem; }
  .status { font-weight: 600; }
  .empty { color: #5b6474; padding: 1rem; }
</style>
</head>
<body>
<h1>ipfs-dl</h1>
<form id="start">
  <input name="cid" placeholder="CID, e.g. bafkrei…" required aria-label="CID">
  <input name="filename" placeholder="file name (optional)" aria-label="File name">
  <input name="sha256" placeholder="expected sha256 (optional)" aria-label="Expected sha256">
  <button type="submit">Download</button>
</form>
<p id="message" role="status"></p>
<table>
  <thead><tr><th>Download</th><th>Progress</th><th>Status</th><th></th></tr></thead>
  <tbody id="downloads"><tr><td colspan="4" class="empty">No downloads yet.</td></tr></tbody>
</table>
<script>
const token = new URLSearchParams(location.search).get("token");
const withToken = (path) => token ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : path;
const downloads = new Map();
const live = new Map();
const $ = (id) => document.getElementById(id);

const bytes = (n) => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u++; }
  return (u === 0 ? n : n.toFixed(1)) + " " + units[u];
};
const eta = (seconds) => !isFinite(seconds) ? "?" : seconds < 60 ? Math.round(seconds) + " s" : Math.round(seconds / 60) + " min";

function say(text, isError) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

async function call(method, path, body) {
  const response = await fetch(withToken(path), {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const field = data.field || (data.issues && data.issues[0] && data.issues[0].path.join("."));
    throw new Error((data.message || "The request failed (" + response.status + ")") + (field && !String(data.message).includes(field) ? " (" + field + ")" : ""));
  }
  return data;
}

function render() {
  const rows = [...downloads.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  const body = $("downloads");
  if (rows.length === 0) { body.innerHTML = '<tr><td colspan="4" class="empty">No downloads yet.</td></tr>'; return; }
  body.replaceChildren(...rows.map((d) => {
    const progress = live.get(d.id);
    const done = progress ? progress.bytes : d.bytes;
    const total = progress && progress.totalBytes !== null ? progress.totalBytes : d.totalBytes;
    const percent = d.status === "success" ? 100 : total ? Math.floor(done * 100 / total) : 0;
    const running = d.status === "in_progress" || d.status === "resuming" || d.status === "pending";
    const speed = progress && running ? bytes(progress.bytesPerSecond) + "/s, ETA " + eta((total - done) / progress.bytesPerSecond) : "";
    const row = document.createElement("tr");
    row.className = d.status;
    row.dataset.id = d.id;
    row.innerHTML =
      '<td><div class="name"></div><div class="detail cid"></div></td>' +
      '<td><div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100"><div></div></div><div class="detail size"></div></td>' +
      '<td><div class="status"></div><div class="detail why"></div></td>' +
      '<td class="actions"></td>';
    row.querySelector(".name").textContent = d.path.split("/").pop();
    row.querySelector(".cid").textContent = d.cid;
    row.querySelector(".bar").setAttribute("aria-valuenow", String(percent));
    row.querySelector(".bar > div").style.width = percent + "%";
    row.querySelector(".size").textContent = bytes(done) + (total ? " of " + bytes(total) + " (" + percent + "%)" : "") + (speed ? " · " + speed : "");
    row.querySelector(".status").textContent = d.status.replace("_", " ");
    row.querySelector(".why").textContent = d.error || (d.status === "success" ? "sha256 " + d.sha256.slice(0, 16) + "…" : "");
    const actions = row.querySelector(".actions");
    // A download left running by a process that died shows no progress here: it can be resumed too.
    const orphan = (d.status === "in_progress" || d.status === "resuming") && !live.has(d.id);
    if (d.status === "paused" || d.status === "failed" || orphan) actions.append(button("Resume", "secondary", () => act(d.id, "resume")));
    if (d.status !== "success" && d.status !== "failed") actions.append(button("Cancel", "secondary", () => act(d.id, "cancel")));
    return row;
  }));
}

function button(label, kind, onClick) {
  const b = document.createElement("button");
  b.textContent = label;
  b.className = kind;
  b.addEventListener("click", async () => { b.disabled = true; try { await onClick(); } finally { b.disabled = false; } });
  return b;
}

async function act(id, action) {
  try {
    const d = await call("POST", "/api/downloads/" + id + "/" + action);
    downloads.set(d.id, d);
    render();
    say(action === "resume" ? "Resuming " + d.path.split("/").pop() + "." : "Cancelled.", false);
  } catch (error) { say(error.message, true); }
}

$("start").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { cid: form.get("cid").trim() };
  if (form.get("filename").trim()) body.filename = form.get("filename").trim();
  if (form.get("sha256").trim()) body.sha256 = form.get("sha256").trim();
  try {
    const d = await call("POST", "/api/downloads", body);
    downloads.set(d.id, d);
    render();
    say("Started " + d.path.split("/").pop() + ".", false);
    event.target.reset();
  } catch (error) { say(error.message, true); }
});

function follow() {
  const source = new EventSource(withToken("/api/events"));
  source.addEventListener("download_state", (e) => {
    const d = JSON.parse(e.data).download;
    downloads.set(d.id, d);
    if (d.status !== "in_progress" && d.status !== "resuming") live.delete(d.id);
    render();
  });
  source.addEventListener("download_progress", (e) => {
    const p = JSON.parse(e.data);
    live.set(p.downloadId, p);
    render();
  });
  source.addEventListener("download_failed", (e) => say("A download failed: " + JSON.parse(e.data).error, true));
  source.onerror = () => say("Lost the connection to the server; reconnecting…", true);
  source.onopen = () => { if ($("message").textContent.startsWith("Lost")) say("", false); };
}
follow();
</script>
</body>
</html>
`
