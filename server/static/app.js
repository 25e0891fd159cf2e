// The VCL web page: pick or upload a clip, show its skeleton, label, uncertainty and neighbours.
// Plain ES module, no dependencies; every request goes to this server's /v1 API.

import { SkeletonViewer } from "/static/viewer.js";

const KEY_STORAGE = "vcl-api-key";
const TOP_K = 5;
const $ = (id) => document.getElementById(id);

const state = {
  model: null, // GET /v1/model
  hasIndex: false,
  viewer: null, // the main SkeletonViewer
  small: [], // the neighbours' viewers
  run: 0, // increases with every request for a clip; stale answers are dropped
};

// ---------------------------------------------------------------------------- API
class ApiError extends Error {
  constructor(status, detail) {
    super(formatDetail(detail));
    this.status = status;
  }
}

/** FastAPI's `detail`: a message, or a list of pydantic errors ({loc, msg}) for schema violations. */
function formatDetail(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((e) => (e && e.msg ? `${(e.loc || []).join(".")}: ${e.msg}` : JSON.stringify(e)))
      .join("\n");
  }
  return JSON.stringify(detail);
}

async function api(path, { json, form, method } = {}) {
  const headers = {};
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers["X-API-Key"] = key;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    response = await fetch(path, { method: method || (body ? "POST" : "GET"), headers, body });
  } catch (err) {
    throw new ApiError(0, `could not reach the server (${err.message})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && data.detail !== undefined ? data.detail : text || response.statusText;
    const error = new ApiError(response.status, detail);
    if (response.status === 401) askForKey(error.message);
    throw error;
  }
  return data;
}

// ---------------------------------------------------------------------------- messages
function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function setStatus(text) {
  $("status").textContent = text;
}

function setState(name) {
  document.body.dataset.state = name;
}

function askForKey(message) {
  $("key-bar").hidden = false;
  $("api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
  showError(`${message}: enter the server's API key above.`);
}

// ---------------------------------------------------------------------------- start-up
async function init() {
  showError("");
  setState("loading");
  try {
    state.model = await api("/v1/model");
  } catch (err) {
    $("model-info").textContent = "the model could not be loaded";
    if (err.status !== 401) showError(`model: ${err.message}`);
    setState("error");
    return;
  }
  $("key-bar").hidden = true;
  const m = state.model;
  const head = m.has_gaussian_head ? "Gaussian head" : "no Gaussian head";
  const pipeline = m.pipeline && m.pipeline.name ? m.pipeline.name : "?";
  const parts = [
    `layout ${m.layout}`,
    `streams ${m.streams.join(", ")}`,
    `${m.num_classes || 0} classes`,
    `pipeline ${pipeline}`,
    head,
    (m.providers || []).join(", "),
  ];
  state.viewer = new SkeletonViewer($("main-canvas"), {
    bones: m.bones,
    upAxis: m.preview_up_axis,
    onFrame: showFrame,
  });
  await Promise.all([loadIndex(parts), loadFiles()]);
  $("model-info").textContent = parts.join(" · ");
  if (!m.num_classes) showError("this model has no classifier (pretraining only): labels are unavailable");
  setState("idle");
}

async function loadIndex(parts) {
  try {
    const info = await api("/v1/index");
    state.hasIndex = true;
    $("by").disabled = false;
    parts.push(`index ${info.version}: ${info.count} clips`);
    $("index-note").hidden = true;
  } catch (err) {
    state.hasIndex = false;
    $("neighbours-section").hidden = true;
    const note = $("index-note");
    note.textContent = `Nearest neighbours are unavailable: ${err.message}.`;
    note.hidden = false;
  }
}

async function loadFiles() {
  const select = $("files");
  const note = $("files-note");
  try {
    const { files } = await api("/v1/data/files");
    select.replaceChildren(new Option(files.length ? "choose a clip…" : "no clip files found", ""));
    for (const file of files) select.add(new Option(file, file));
    select.disabled = files.length === 0;
    note.hidden = true;
  } catch (err) {
    select.disabled = true;
    note.textContent = `No server files to pick: ${err.message}. Upload a file instead.`;
    note.hidden = false;
  }
}

// ---------------------------------------------------------------------------- one clip
/** Classify (and search with) one clip; `classify` and `search` are functions returning promises. */
async function analyse(name, classify, search) {
  const run = ++state.run;
  document.body.dataset.run = String(run);
  setState("loading");
  showError("");
  setStatus(`analysing ${name}…`);
  const searching = state.hasIndex ? search().catch((err) => err) : null;
  let result;
  try {
    const answer = await classify();
    if (run !== state.run) return;
    result = answer.results[0];
    const others = answer.results.length - 1;
    const note = $("clip-note");
    note.textContent = others > 0 ? `the file holds ${answer.results.length} clips; showing the first` : "";
    note.hidden = others <= 0;
  } catch (err) {
    if (run !== state.run) return;
    showError(`${name}: ${err.message}`);
    setStatus("");
    $("result").hidden = true; // the previous clip's answer would read as this one's
    showNeighbours(null);
    setState("error");
    return;
  }
  showResult(result);
  if (searching) {
    const found = await searching;
    if (run !== state.run) return;
    showNeighbours(found);
  }
  setStatus(`${name}: done`);
  setState("ready");
}

const SCORE_NAMES = {
  sigma: "sigma score",
  softmax: "softmax confidence",
  wrong_probability: "chance the label is wrong",
};

function showResult(result) {
  $("result").hidden = false;
  $("clip-name").textContent = result.name || "clip";
  $("label").textContent = result.decided_by === "index" ? `${result.label} (by the index's clips)` : result.label;
  $("probability").textContent = `${(100 * result.probability).toFixed(1)}%`;
  const badge = $("unknown");
  badge.textContent = result.unknown ? "unknown" : "known";
  badge.classList.toggle("unknown", result.unknown);
  const rule = (state.model && state.model.uncertainty) || null;
  const ruleText = rule && rule.unknown_threshold != null
    ? `${SCORE_NAMES[rule.unknown_score] || rule.unknown_score} above ${rule.unknown_threshold.toFixed(3)}`
    : "the sigma score above the server's threshold";
  badge.title = result.unknown ? `flagged: ${ruleText}` : `not flagged (rule: ${ruleText})`;

  $("topk").replaceChildren(
    ...result.top_k.map((item) => {
      const li = document.createElement("li");
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${Math.max(2, 120 * item.probability)}px`;
      li.append(bar, `${item.label} — ${(100 * item.probability).toFixed(1)}%`);
      return li;
    }),
  );

  const u = result.uncertainty || {};
  const rows = [];
  if (u.wrong_probability !== undefined) {
    rows.push(["chance the label is wrong", `${(100 * u.wrong_probability).toFixed(0)}% (calibrated on validation clips)`]);
  }
  for (const [name, value] of Object.entries(u.percentile || {})) {
    rows.push([`${SCORE_NAMES[name] || name}`, `more uncertain than ${value.toFixed(0)}% of the validation clips`]);
  }
  if (u.score !== undefined) {
    rows.push(["sigma score (raw)", u.score.toFixed(3)]);
    for (const [stream, value] of Object.entries(u.per_stream || {})) rows.push([`· ${stream}`, value.toFixed(3)]);
  } else {
    rows.push(["sigma score", "n/a (the model has no Gaussian head)"]);
  }
  const classes = state.model.num_classes || result.top_k.length;
  const share = classes > 1 ? ` (${((100 * u.softmax_entropy) / Math.log(classes)).toFixed(0)}% of the maximum)` : "";
  rows.push(["softmax entropy", `${u.softmax_entropy.toFixed(3)} nats${share}`]);
  rows.push(["unknown", result.unknown ? "yes" : "no"]);
  $("uncertainty").replaceChildren(
    ...rows.flatMap(([term, value]) => {
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = term;
      dd.textContent = value;
      return [dt, dd];
    }),
  );

  const frames = result.skeleton ? result.skeleton.frames : [];
  $("frame").max = String(Math.max(frames.length - 1, 0));
  state.viewer.setFrames(frames);
  showExplanation(result.explanation);
  if (!state.viewer.playing) togglePlay();
}

/** Joint colours on the viewer and the joints with the largest shares, from `explain: true`. */
function showExplanation(e) {
  const text = $("explain");
  if (!e || !e.preview_frames) {
    state.viewer.setAttribution(null);
    text.textContent = state.model.explainable ? "n/a" : "n/a (re-export the model to get its 'cam' output)";
    return;
  }
  const shown = e.preview_frames.map((f) => e.frames[f]);
  const peak = Math.max(1e-12, ...shown.flat().map(Math.abs));
  state.viewer.setAttribution(shown.map((row) => row.map((v) => v / peak)));
  const top = e.joints
    .map((share, joint) => [share, e.joint_names[joint]])
    .filter(([share]) => share > 0)
    .sort((a, b) => b[0] - a[0])
    .slice(0, 5)
    .map(([share, name]) => `${name.replaceAll("_", " ")} ${(100 * share).toFixed(0)}%`);
  text.textContent = `for ${e.label}: ${top.join(", ") || "no joint speaks for it"} (red: for, blue: against)`;
}

/** Neighbour cards for a search answer, its error, or nothing (null: hide the section). */
function showNeighbours(found) {
  for (const viewer of state.small) viewer.destroy();
  state.small = [];
  const note = $("neighbours-note");
  const grid = $("neighbours");
  $("neighbours-section").hidden = found === null;
  if (found === null) {
    grid.replaceChildren();
    return;
  }
  if (found instanceof Error) {
    note.textContent = `Search failed: ${found.message}`;
    grid.replaceChildren();
    return;
  }
  note.textContent = `${found.neighbours.length} closest clips in index ${found.version} (cosine similarity).`;
  grid.replaceChildren(...found.neighbours.map(neighbourCard));
}

function neighbourCard(n) {
  const card = document.createElement("div");
  card.className = "neighbour";
  card.dataset.id = String(n.id);
  const canvas = document.createElement("canvas");
  const label = document.createElement("div");
  label.className = "label";
  label.textContent = n.label ?? "unlabelled";
  const score = document.createElement("div");
  score.className = "score";
  score.textContent = `score ${n.score.toFixed(3)}${n.mls != null ? ` · MLS ${n.mls.toFixed(1)}` : ""}`;
  const meta = document.createElement("div");
  meta.className = "meta";
  const md = n.metadata || {};
  const source = md.source ? String(md.source).split(/[\\/]/).pop() : `item ${n.id}`;
  const details = [source];
  if (md.subject != null) details.push(`subject ${md.subject}`);
  if (md.view != null) details.push(`view ${md.view}`);
  if (md.frame_start != null) details.push(`frames ${md.frame_start}–${md.frame_end}`);
  meta.textContent = details.join(" · ");
  card.append(canvas, label, score, meta);
  const viewer = new SkeletonViewer(canvas, { bones: state.model.bones, upAxis: state.model.preview_up_axis });
  viewer.setFrames(n.skeleton ? n.skeleton.frames : []);
  if (!n.skeleton) meta.textContent += " · no preview stored";
  state.small.push(viewer);
  return card;
}

// ---------------------------------------------------------------------------- controls
function showFrame(index) {
  const frames = state.viewer ? state.viewer.frames.length : 0;
  $("frame").value = String(index);
  $("frame-label").textContent = frames ? `${index + 1}/${frames}` : "";
}

function togglePlay() {
  const viewer = state.viewer;
  if (viewer.playing) viewer.pause();
  else viewer.play();
  $("play").textContent = viewer.playing ? "Pause" : "Play";
}

function pickFile(path) {
  if (!path) return;
  $("upload").value = "";
  analyse(
    path,
    () =>
      api("/v1/classify", {
        json: { clips: [{ path }], top_k: TOP_K, preview: true, explain: state.model.explainable, by: $("by").value },
      }),
    () => api("/v1/search", { json: { clip: { path }, k: TOP_K, preview: true } }),
  );
}

function uploadFile(file) {
  if (!file) return;
  $("files").value = "";
  const classifyForm = () => {
    const form = new FormData();
    form.append("files", file, file.name);
    form.append("top_k", String(TOP_K));
    form.append("preview", "true");
    if (state.model.explainable) form.append("explain", "true");
    form.append("by", $("by").value);
    return form;
  };
  const searchForm = () => {
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("k", String(TOP_K));
    form.append("preview", "true");
    return form;
  };
  analyse(
    file.name,
    () => api("/v1/classify/files", { form: classifyForm() }),
    () => api("/v1/search/files", { form: searchForm() }),
  );
}

function wire() {
  $("files").addEventListener("change", (e) => pickFile(e.target.value));
  $("upload").addEventListener("change", (e) => uploadFile(e.target.files[0]));
  $("play").addEventListener("click", togglePlay);
  $("frame").addEventListener("input", (e) => {
    if (state.viewer.playing) togglePlay();
    state.viewer.setFrame(Number(e.target.value));
  });
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
    if (state.viewer) state.viewer.destroy();
    init();
  });
}

wire();
init();
