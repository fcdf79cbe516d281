// jcolbert search page: plain JavaScript, no build step, no network but this server.
// Document text is untrusted: it only ever goes into the page through textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "jcolbert-api-key";

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("key").value.trim();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

async function api(method, path, body) {
  const response = await fetch(path, { method, headers: headers(), body: body ? JSON.stringify(body) : undefined });
  let data = null;
  try { data = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const message = data && data.error ? data.error.message : "HTTP " + response.status;
    throw new Error(message);
  }
  return data;
}

function setStatus(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", Boolean(isError));
}

async function loadIndexes() {
  const select = $("index");
  const previous = select.value || sessionStorage.getItem("jcolbert-index");
  try {
    const data = await api("GET", "/v1/indexes");
    select.replaceChildren(...data.indexes.map((name) => new Option(name, name)));
    if (previous && data.indexes.includes(previous)) select.value = previous;
    if (!data.indexes.length) setStatus("This server has no indexes yet.", true);
    else if ($("status").classList.contains("error")) setStatus("");
  } catch (err) {
    setStatus("Cannot list indexes: " + err.message, true);
  }
}

// "lang=en year=2024" or JSON ({"lang": "en"}, {"ids": [...]}, ["id1", "id2"]) -> the API's filter
function parseFilter(raw) {
  raw = raw.trim();
  if (!raw) return null;
  if (raw.startsWith("{") || raw.startsWith("[")) return JSON.parse(raw);
  const out = {};
  for (const pair of raw.split(/\s+/)) {
    const at = pair.indexOf("=");
    if (at < 1) throw new Error("filter: expected key=value pairs or JSON, got " + JSON.stringify(pair));
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

async function search(event) {
  if (event) event.preventDefault();
  const query = $("q").value.trim();
  const index = $("index").value;
  if (!query || !index) {
    setStatus(index ? "Type a query." : "Pick an index.", true);
    return;
  }
  let filter;
  try {
    filter = parseFilter($("filter").value);
  } catch (err) {
    setStatus(err.message, true);
    return;
  }
  const k = parseInt($("k").value, 10) || 10;
  sessionStorage.setItem("jcolbert-index", index);
  setStatus("Searching…");
  const started = performance.now();
  try {
    const body = { query, k, return_text: true, return_metadata: true };
    if (filter) body.filter = filter;
    const data = await api("POST", "/v1/indexes/" + encodeURIComponent(index) + "/search", body);
    render(data.hits, { query, index });
    const ms = Math.round(performance.now() - started);
    setStatus(data.hits.length + " hit" + (data.hits.length === 1 ? "" : "s") + " in " + ms + " ms.");
  } catch (err) {
    $("results").replaceChildren();
    setStatus(err.message, true);
  }
}

function render(hits, ctx) {
  const list = $("results");
  const template = $("hit-template");
  list.replaceChildren(...hits.map((hit) => {
    const li = template.content.firstElementChild.cloneNode(true);
    li.dataset.id = hit.id;
    li.querySelector(".rank").textContent = hit.rank;
    li.querySelector(".id").textContent = hit.id;
    li.querySelector(".score").textContent = "score " + hit.score.toFixed(3);
    li.querySelector(".text").textContent = hit.text || "(no stored text)";
    const meta = hit.metadata && Object.keys(hit.metadata).length ? JSON.stringify(hit.metadata) : "";
    li.querySelector(".meta").textContent = meta;
    const button = li.querySelector(".explain-btn");
    const panel = li.querySelector(".explanation");
    panel.id = "explain-" + hit.rank;
    button.setAttribute("aria-controls", panel.id);
    button.setAttribute("aria-label", "Explain hit " + hit.rank + " (" + hit.id + ")");
    button.disabled = !hit.text;
    button.addEventListener("click", () => toggleExplanation(button, panel, hit, ctx));
    return li;
  }));
}

async function toggleExplanation(button, panel, hit, ctx) {
  const open = button.getAttribute("aria-expanded") === "true";
  button.setAttribute("aria-expanded", String(!open));
  button.textContent = open ? "Explain" : "Hide";
  panel.hidden = open;
  if (open || panel.dataset.loaded) return;
  panel.textContent = "Explaining…";
  try {
    const body = { query: ctx.query, k: 1, filter: { ids: [hit.id] }, return_text: true, explain: true };
    const data = await api("POST", "/v1/indexes/" + encodeURIComponent(ctx.index) + "/search", body);
    const explained = data.hits[0];
    if (!explained || !explained.explanation) throw new Error("no explanation for this hit");
    drawExplanation(panel, explained, hit.score);
    panel.dataset.loaded = "1";
  } catch (err) {
    panel.textContent = "Cannot explain: " + err.message;
  }
}

// one colour per query token, spread around the wheel by the golden angle
function colour(i) {
  return "hsl(" + Math.round((i * 137.508) % 360) + ", 85%, 78%)";
}

function drawExplanation(panel, hit, indexScore) {
  const ex = hit.explanation;
  const matches = ex.matches;
  matches.forEach((m, i) => { m.colour = colour(i); });
  // document spans -> the query tokens they won (a document token can win several)
  const bySpan = new Map();
  for (const m of matches) {
    if (!m.doc_span) continue;
    const key = m.doc_span[0] + ":" + m.doc_span[1];
    if (!bySpan.has(key)) bySpan.set(key, { start: m.doc_span[0], end: m.doc_span[1], wins: [] });
    bySpan.get(key).wins.push(m);
  }
  const spans = [...bySpan.values()].sort((a, b) => a.start - b.start);
  const chars = Array.from(hit.text); // offsets count code points, as Python strings do
  const doc = document.createElement("p");
  doc.className = "doc";
  let at = 0;
  for (const span of spans) {
    if (span.start < at) continue;
    doc.append(chars.slice(at, span.start).join(""));
    const mark = document.createElement("mark");
    mark.className = "win";
    const best = span.wins.reduce((a, b) => (b.contribution > a.contribution ? b : a));
    mark.style.background = best.colour;
    mark.dataset.queryTokens = span.wins.map((w) => w.query_position).join(" ");
    mark.title = span.wins.map((w) => w.query_token + " +" + w.contribution.toFixed(3)).join(", ");
    mark.textContent = chars.slice(span.start, span.end).join("");
    doc.append(mark);
    at = span.end;
  }
  doc.append(chars.slice(at).join(""));

  const summary = document.createElement("p");
  summary.className = "summary";
  summary.textContent = "MaxSim " + ex.score.toFixed(3) + " = the sum of the " + matches.length +
    " contributions below (exact, from the re-encoded document; the index's score is " +
    indexScore.toFixed(3) + ")" + (ex.truncated ? ". The text was cut to the model's length limit." : ".");

  const table = document.createElement("table");
  table.className = "contrib";
  const head = table.createTHead().insertRow();
  for (const [label, cls] of [["query token", ""], ["won by", "tok-doc"], ["contribution", "num"], ["share", "num"]]) {
    const th = document.createElement("th");
    th.textContent = label;
    th.scope = "col";
    if (cls) th.className = cls;
    head.append(th);
  }
  const body = table.createTBody();
  const max = Math.max(...matches.map((m) => m.contribution), 1e-9);
  for (const m of matches) {
    const row = body.insertRow();
    row.className = "match";
    const q = row.insertCell();
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = m.colour;
    q.append(sw, " " + m.query_token);
    const d = row.insertCell();
    d.className = "tok-doc";
    d.textContent = m.doc_span ? chars.slice(m.doc_span[0], m.doc_span[1]).join("") : m.doc_token;
    const c = row.insertCell();
    c.className = "num";
    c.textContent = m.contribution.toFixed(3);
    const s = row.insertCell();
    s.className = "num";
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = Math.max(0, (m.contribution / max) * 4) + "em";
    s.append(bar, " " + Math.round((100 * m.contribution) / ex.score) + "%");
  }
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  wrap.append(table);
  panel.replaceChildren(summary, doc, wrap);
}

function init() {
  const key = $("key");
  key.value = sessionStorage.getItem(KEY_STORE) || "";
  key.addEventListener("change", () => {
    sessionStorage.setItem(KEY_STORE, key.value.trim());
    loadIndexes();
  });
  $("search-form").addEventListener("submit", search);
  document.addEventListener("keydown", (event) => {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if (event.key === "/" && !typing) {
      event.preventDefault();
      $("q").focus();
    } else if (event.key === "Escape") {
      const hit = document.activeElement.closest && document.activeElement.closest(".hit");
      const button = hit && hit.querySelector(".explain-btn[aria-expanded='true']");
      if (button) { button.click(); button.focus(); }
    }
  });
  loadIndexes();
  $("q").focus();
}

init();
