// The studio: a client of the public API and nothing else. Every URL is relative to the page,
// so it works at / locally and behind an API Gateway stage prefix alike.

const $ = (id) => document.getElementById(id);
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
const COLORS = ["#ef4444", "#22c55e", "#3b82f6", "#eab308", "#a855f7", "#14b8a6", "#f97316", "#ec4899"];
const DIRECT_UPLOAD_BYTES = 4 * 1024 * 1024; // above this, bytes go straight to storage
const OVERLAY_SIDE = 1600; // the overlay canvas's longer side (the mask sent is full size)

const state = {
  token: sessionStorage.getItem("studio.token"),
  image: null, // {id, width, height, url}
  detections: [], // {id, label, score, box, mask, counts, ends, area, color}
  layers: [], // the selection, applied in order: {type: detection|smart|box|stroke, ...}
  history: [],
  models: [],
  lastClick: null,
  job: null,
  polling: null,
};

// ---------------------------------------------------------------- API and errors

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function describeDetail(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        if (typeof item === "string") return item;
        const where = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
        return (where ? `${where}: ` : "") + (item.msg || JSON.stringify(item));
      })
      .join("\n");
  }
  return detail == null ? "" : JSON.stringify(detail);
}

function describeWait(seconds) {
  const when = new Date(Date.now() + seconds * 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.ceil((seconds % 3600) / 60);
  const span = h ? `${h} h ${m} min` : `${m} min`;
  return `It resets in ${span} (${when.toLocaleString()}).`;
}

async function api(path, { method = "GET", json, form, headers = {}, auth = true } = {}) {
  const init = { method, headers: { ...headers } };
  if (auth && state.token) init.headers.Authorization = `Bearer ${state.token}`;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `The server could not be reached (${err.message}).`);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (response.ok) return body;
  let message = (body && typeof body === "object" ? describeDetail(body.detail) : String(body || "")) || response.statusText;
  if (response.status === 401 && auth) {
    signOut("Your session has expired or the key is no longer valid: sign in again.");
    throw new ApiError(401, message);
  }
  if (response.status === 429) {
    const retry = Number(response.headers.get("Retry-After"));
    message = `Quota exceeded: ${message}.` + (retry > 0 ? ` ${describeWait(retry)}` : "");
  }
  throw new ApiError(response.status, message);
}

function showError(err) {
  const box = $("error");
  box.textContent = err instanceof ApiError || err instanceof Error ? err.message : String(err);
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function notice(text) {
  $("notice").textContent = text;
}

// Run an action from a control: disable it meanwhile, and show any error plainly.
async function guarded(button, action) {
  clearError();
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) showError(err);
  } finally {
    if (button) button.disabled = false;
  }
}

// ---------------------------------------------------------------- sign in

function signOut(message) {
  state.token = null;
  sessionStorage.removeItem("studio.token");
  stopPolling();
  $("studio").hidden = true;
  $("signin").hidden = false;
  $("sign-out").hidden = true;
  $("whoami").textContent = "";
  if (message) showError(new Error(message));
  $("email").focus();
}

async function enterStudio() {
  const me = await api("v1/users/me");
  $("whoami").textContent = me.email;
  $("signin").hidden = true;
  $("studio").hidden = false;
  $("sign-out").hidden = false;
  await loadModels();
  await refreshGallery();
}

$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(event.submitter, async () => {
    const form = new URLSearchParams({ username: $("email").value, password: $("password").value });
    const token = await api("v1/auth/token", { method: "POST", form, auth: false });
    state.token = token.access_token;
    sessionStorage.setItem("studio.token", state.token);
    $("password").value = "";
    await enterStudio();
  });
});

$("apikey-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(event.submitter, async () => {
    state.token = $("apikey").value.trim();
    sessionStorage.setItem("studio.token", state.token);
    $("apikey").value = "";
    await enterStudio();
  });
});

$("sign-out").addEventListener("click", () => signOut());

// ---------------------------------------------------------------- models

async function loadModels() {
  state.models = await api("v1/models");
  fillModelSelect($("inpaint-model"), "inpaint");
  fillModelSelect($("locate-model"), "locate");
  describeModel();
}

function fillModelSelect(select, kind) {
  select.replaceChildren();
  for (const model of state.models.filter((m) => m.kind === kind)) {
    const option = new Option(model.name + (model.is_default ? " (default)" : ""), model.name);
    option.title = model.description;
    select.append(option);
  }
}

function describeModel() {
  const model = state.models.find((m) => m.name === $("inpaint-model").value);
  $("model-description").textContent = model ? model.description : "";
  const steps = model && model.defaults ? model.defaults.num_inference_steps : undefined;
  $("steps").placeholder = steps ? `default ${steps}` : "default";
}
$("inpaint-model").addEventListener("change", describeModel);

// ---------------------------------------------------------------- upload

async function uploadFile(file) {
  if (!file) return;
  notice(`Uploading ${file.name}…`);
  let image;
  if (file.size > DIRECT_UPLOAD_BYTES) {
    // Big photos skip API Gateway and Lambda: a presigned target, then "complete".
    const started = await api("v1/images/uploads", { method: "POST", json: { content_type: file.type, bytes: file.size } });
    const target = started.upload;
    let response;
    if (target.method === "POST") {
      const form = new FormData();
      for (const [key, value] of Object.entries(target.fields)) form.append(key, value);
      form.append("file", file);
      response = await fetch(target.url, { method: "POST", body: form });
    } else {
      response = await fetch(target.url, { method: "PUT", headers: target.headers, body: file });
    }
    if (!response.ok) throw new ApiError(response.status, `The upload to storage failed (${response.status}).`);
    image = await api(`v1/images/${started.image.id}/complete`, { method: "POST" });
  } else {
    const form = new FormData();
    form.append("file", file);
    image = await api("v1/images", { method: "POST", form });
  }
  await openImage(image);
  notice(`Uploaded ${file.name} (${image.width}×${image.height}).`);
  await refreshGallery();
}

$("file").addEventListener("change", (event) => guarded(null, () => uploadFile(event.target.files[0])));
const drop = $("drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  guarded(null, () => uploadFile(event.dataTransfer.files[0]));
});
drop.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    $("file").click();
  }
});

async function openImage(image, { loadDetections = true } = {}) {
  state.image = { id: image.id, width: image.width, height: image.height, url: image.url };
  state.detections = [];
  state.layers = [];
  state.history = [];
  const photo = $("photo");
  await new Promise((resolve, reject) => {
    photo.onload = resolve;
    photo.onerror = () => reject(new Error("The image could not be loaded."));
    photo.src = image.url;
  });
  const overlay = $("overlay");
  const scale = Math.min(1, OVERLAY_SIDE / Math.max(image.width, image.height));
  overlay.width = Math.max(1, Math.round(image.width * scale));
  overlay.height = Math.max(1, Math.round(image.height * scale));
  $("stage").hidden = false;
  $("stage-hint").textContent = "Click an object, drag a box, or paint; shift-click adds or removes.";
  for (const id of ["objects-set", "select-set", "prompt-set"]) $(id).disabled = false;
  $("result").hidden = true;
  renderDetectionList();
  if (loadDetections) {
    const previous = await api(`v1/images/${image.id}/detections`);
    setDetections(previous.detections);
  }
  render();
}

// ---------------------------------------------------------------- jobs

function stopPolling() {
  if (state.polling) clearTimeout(state.polling);
  state.polling = null;
}

function showJobStatus(job) {
  const line = $("job-status");
  line.dataset.status = job.status;
  let text = `Job ${job.status}`;
  if (job.status_message) text += ` — ${job.status_message}`;
  if (job.status === "failed" && job.error) text += ` — ${job.error.message || job.error.code}`;
  line.textContent = text;
}

// Poll a job until it finishes, showing each state; resolves with the finished job.
function waitForJob(job, onUpdate) {
  return new Promise((resolve, reject) => {
    const tick = async () => {
      try {
        onUpdate(job);
        if (TERMINAL.has(job.status)) return resolve(job);
        state.polling = setTimeout(async () => {
          try {
            job = await api(`v1/jobs/${job.id}`);
            tick();
          } catch (err) {
            reject(err);
          }
        }, 800);
      } catch (err) {
        reject(err);
      }
    };
    tick();
  });
}

// ---------------------------------------------------------------- detections

function decodeCounts(text) {
  // COCO's compressed RLE string → run lengths (the inverse of pycocotools' rleToString).
  const counts = [];
  let p = 0;
  while (p < text.length) {
    let value = 0;
    let shift = 0;
    let more = true;
    while (more) {
      const group = text.charCodeAt(p) - 48;
      value |= (group & 0x1f) << shift;
      more = (group & 0x20) !== 0;
      p += 1;
      shift += 5;
      if (!more && group & 0x10) value |= -1 << shift;
    }
    if (counts.length > 2) value += counts[counts.length - 2];
    counts.push(value);
  }
  return counts;
}

function prepareRle(rle) {
  const counts = typeof rle.counts === "string" ? decodeCounts(rle.counts) : rle.counts;
  const ends = new Float64Array(counts.length);
  let total = 0;
  let area = 0;
  counts.forEach((count, i) => {
    total += count;
    ends[i] = total;
    if (i % 2) area += count;
  });
  return { height: rle.size[0], width: rle.size[1], ends, area };
}

// Is pixel (x, y) set? Runs are column-major, background first.
function rleContains(rle, x, y) {
  const index = x * rle.height + y;
  let lo = 0;
  let hi = rle.ends.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rle.ends[mid] > index) hi = mid;
    else lo = mid + 1;
  }
  return rle.ends[lo] > index && lo % 2 === 1;
}

// The mask sampled onto a w×h grid, as an RGBA canvas (white where set, transparent elsewhere).
function rleCanvas(rle, w, h) {
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d");
  const pixels = ctx.createImageData(w, h);
  const data = pixels.data;
  const xs = new Int32Array(w);
  const ys = new Int32Array(h);
  for (let i = 0; i < w; i++) xs[i] = Math.min(rle.width - 1, Math.floor(((i + 0.5) * rle.width) / w));
  for (let j = 0; j < h; j++) ys[j] = Math.min(rle.height - 1, Math.floor(((j + 0.5) * rle.height) / h));
  let run = 0; // the sampled indices only grow, column by column: one pass over the runs
  for (let i = 0; i < w; i++) {
    const base = xs[i] * rle.height;
    for (let j = 0; j < h; j++) {
      const index = base + ys[j];
      while (run < rle.ends.length - 1 && rle.ends[run] <= index) run++;
      if (run % 2 === 1) {
        const o = (j * w + i) * 4;
        data[o] = data[o + 1] = data[o + 2] = data[o + 3] = 255;
      }
    }
  }
  ctx.putImageData(pixels, 0, 0);
  return canvas;
}

function setDetections(list) {
  state.detections = (list || []).map((d, i) => ({
    ...d,
    color: COLORS[i % COLORS.length],
    rle: d.mask ? prepareRle(d.mask) : null,
  }));
  state.layers = state.layers.filter((layer) => layer.type !== "detection");
  renderDetectionList();
  render();
}

function renderDetectionList() {
  const list = $("detections");
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.detectionId : null;
  list.replaceChildren();
  state.detections.forEach((d) => {
    const item = document.createElement("li");
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.dataset.detectionId = d.id;
    box.checked = isSelected(d);
    box.addEventListener("change", () => toggleDetection(d));
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = d.color;
    label.append(box, swatch, `${d.label} ${Math.round(d.score * 100)}%`);
    item.append(label);
    list.append(item);
    if (focused === d.id) box.focus(); // keyboard users keep their place
  });
}

$("locate").addEventListener("click", (event) =>
  guarded(event.currentTarget, async () => {
    notice("Finding objects…");
    let job = await api("v1/detections", {
      method: "POST",
      json: { image_id: state.image.id, model: $("locate-model").value || null },
      headers: { Prefer: "wait=20", "Idempotency-Key": crypto.randomUUID() },
    });
    job = await waitForJob(job, (j) => notice(`Finding objects: ${j.status}${j.status_message ? " — " + j.status_message : ""}`));
    if (job.status !== "succeeded") throw new Error(`Finding objects ${job.status}: ${job.error ? job.error.message : ""}`);
    setDetections(job.output.detections);
    notice(`Found ${state.detections.length} object${state.detections.length === 1 ? "" : "s"}. Click one to select it.`);
  }),
);

// ---------------------------------------------------------------- the selection

function pushHistory() {
  state.history.push(state.layers.slice());
  if (state.history.length > 100) state.history.shift();
}

function setLayers(layers) {
  pushHistory();
  state.layers = layers;
  renderDetectionList();
  render();
}

function isSelected(d) {
  return state.layers.some((layer) => layer.type === "detection" && layer.detection.id === d.id);
}

function toggleDetection(d) {
  if (isSelected(d)) setLayers(state.layers.filter((l) => !(l.type === "detection" && l.detection.id === d.id)));
  else setLayers([...state.layers, { type: "detection", detection: d }]);
}

function detectionContains(d, x, y) {
  const [x1, y1, x2, y2] = d.box;
  if (x < x1 || y < y1 || x >= x2 || y >= y2) return false;
  return d.rle ? rleContains(d.rle, x, y) : true;
}

async function clickAt(x, y, shift) {
  const hits = state.detections.filter((d) => detectionContains(d, x, y)).sort((a, b) => area(a) - area(b));
  if (!hits.length) {
    // Nothing detected here: let the server find the object under the point.
    await smartSelect({ point: [x, y] }, shift);
    return;
  }
  if (shift) {
    const selectedHit = hits.find(isSelected);
    toggleDetection(selectedHit || hits[0]);
    return;
  }
  // A second click on the same spot cycles through the objects that overlap there.
  let next = hits[0];
  const last = state.lastClick;
  if (last && Math.hypot(last.x - x, last.y - y) < 0.01 * Math.max(state.image.width, state.image.height)) {
    const current = hits.findIndex(isSelected);
    if (current >= 0) next = hits[(current + 1) % hits.length];
  }
  state.lastClick = { x, y };
  setLayers([{ type: "detection", detection: next }]);
}

function area(d) {
  return d.rle ? d.rle.area : (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]);
}

async function smartSelect(spec, add) {
  notice("Smart select…");
  const selection = await api("v1/selections", { method: "POST", json: { image_id: state.image.id, ...spec } });
  const layer = { type: "smart", rle: prepareRle(selection.mask), box: selection.box, source: spec };
  setLayers(add ? [...state.layers, layer] : [layer]);
  notice(`Smart select: ${selection.area} pixels.`);
  return selection;
}

$("undo").addEventListener("click", undo);
$("clear").addEventListener("click", () => setLayers([]));
function undo() {
  if (!state.history.length) return;
  state.layers = state.history.pop();
  renderDetectionList();
  render();
}

// Draw the layers onto a w×h canvas as white on transparent (erasers cut holes).
function composeMask(w, h) {
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d");
  const sx = w / state.image.width;
  const sy = h / state.image.height;
  for (const layer of state.layers) {
    ctx.globalCompositeOperation = "source-over";
    if (layer.type === "detection") {
      const d = layer.detection;
      if (d.rle) ctx.drawImage(rleCanvas(d.rle, w, h), 0, 0);
      else boxPath(ctx, d.box, sx, sy);
    } else if (layer.type === "smart") {
      ctx.drawImage(rleCanvas(layer.rle, w, h), 0, 0);
    } else if (layer.type === "box") {
      boxPath(ctx, layer.box, sx, sy);
    } else if (layer.type === "stroke") {
      ctx.globalCompositeOperation = layer.erase ? "destination-out" : "source-over";
      ctx.strokeStyle = ctx.fillStyle = "#fff";
      ctx.lineWidth = layer.size * sx;
      ctx.lineCap = ctx.lineJoin = "round";
      ctx.beginPath();
      layer.points.forEach(([px, py], i) => (i ? ctx.lineTo(px * sx, py * sy) : ctx.moveTo(px * sx, py * sy)));
      if (layer.points.length === 1) ctx.lineTo(layer.points[0][0] * sx + 0.01, layer.points[0][1] * sy);
      ctx.stroke();
    }
  }
  return canvas;
}

function boxPath(ctx, [x1, y1, x2, y2], sx, sy) {
  ctx.fillStyle = "#fff";
  ctx.fillRect(x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
}

// What POST /v1/inpaintings gets: detection ids or boxes when that is all there is (exact,
// resolved by the server), otherwise the composed mask at full size as a PNG.
async function maskSpec() {
  const layers = state.layers;
  if (!layers.length) throw new Error("Select a region first: click an object, drag a box, or paint.");
  if (layers.every((l) => l.type === "detection")) return { detection_ids: layers.map((l) => l.detection.id) };
  if (layers.every((l) => l.type === "box")) return { boxes: layers.map((l) => l.box) };
  const { width, height } = state.image;
  const mask = composeMask(width, height);
  const flat = new OffscreenCanvas(width, height);
  const ctx = flat.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, width, height);
  ctx.drawImage(mask, 0, 0);
  const blob = await flat.convertToBlob({ type: "image/png" });
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { png_base64: btoa(binary) };
}

// ---------------------------------------------------------------- drawing the overlay

let drag = null; // {start: [x, y], current: [x, y], points, tool}

function render() {
  const overlay = $("overlay");
  const ctx = overlay.getContext("2d");
  const w = overlay.width;
  const h = overlay.height;
  ctx.clearRect(0, 0, w, h);
  if (!state.image) return;
  const sx = w / state.image.width;
  const sy = h / state.image.height;
  // Detections: a light tint and an outline box with the label and score.
  for (const d of state.detections) {
    if (d.rle) {
      const tint = tinted(rleCanvas(d.rle, w, h), d.color);
      ctx.globalAlpha = 0.18;
      ctx.drawImage(tint, 0, 0);
      ctx.globalAlpha = 1;
    }
    const [x1, y1, x2, y2] = d.box;
    ctx.strokeStyle = d.color;
    ctx.lineWidth = isSelected(d) ? 3 : 1.5;
    ctx.strokeRect(x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
    const text = `${d.label} ${Math.round(d.score * 100)}%`;
    ctx.font = "bold 14px system-ui, sans-serif";
    const tw = ctx.measureText(text).width + 8;
    ctx.fillStyle = d.color;
    ctx.fillRect(x1 * sx, Math.max(0, y1 * sy - 18), tw, 18);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x1 * sx + 4, Math.max(14, y1 * sy - 4));
  }
  // The selection: the final mask, tinted.
  if (state.layers.length) {
    ctx.globalAlpha = 0.5;
    ctx.drawImage(tinted(composeMask(w, h), "#facc15"), 0, 0);
    ctx.globalAlpha = 1;
  }
  if (drag && drag.tool !== "brush" && drag.tool !== "eraser") {
    const [ax, ay] = drag.start;
    const [bx, by] = drag.current;
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 2;
    ctx.strokeRect(Math.min(ax, bx) * sx, Math.min(ay, by) * sy, Math.abs(bx - ax) * sx, Math.abs(by - ay) * sy);
    ctx.setLineDash([]);
  }
}

function tinted(maskCanvas, color) {
  const ctx = maskCanvas.getContext("2d");
  ctx.globalCompositeOperation = "source-in";
  ctx.fillStyle = color;
  ctx.fillRect(0, 0, maskCanvas.width, maskCanvas.height);
  return maskCanvas;
}

function tool() {
  return document.querySelector('input[name="tool"]:checked').value;
}

function brushSize() {
  return Number($("brush-size").value);
}

function imagePoint(event) {
  const rect = $("overlay").getBoundingClientRect();
  const x = ((event.clientX - rect.left) / rect.width) * state.image.width;
  const y = ((event.clientY - rect.top) / rect.height) * state.image.height;
  return [
    Math.max(0, Math.min(state.image.width - 1, Math.floor(x))),
    Math.max(0, Math.min(state.image.height - 1, Math.floor(y))),
  ];
}

const overlay = $("overlay");
overlay.addEventListener("pointerdown", (event) => {
  if (!state.image) return;
  overlay.setPointerCapture(event.pointerId);
  const point = imagePoint(event);
  drag = { start: point, current: point, points: [point], tool: tool(), shift: event.shiftKey, screen: [event.clientX, event.clientY] };
  if (drag.tool === "brush" || drag.tool === "eraser") {
    pushHistory();
    drag.layer = { type: "stroke", erase: drag.tool === "eraser", size: brushSize() * (state.image.width / overlay.getBoundingClientRect().width), points: drag.points };
    state.layers = [...state.layers, drag.layer];
    render();
  }
});
overlay.addEventListener("pointermove", (event) => {
  if (!drag) return;
  drag.current = imagePoint(event);
  if (drag.layer) drag.points.push(drag.current);
  render();
});
overlay.addEventListener("pointerup", (event) => {
  if (!drag) return;
  const done = drag;
  drag = null;
  done.current = imagePoint(event);
  if (done.layer) {
    render();
    return;
  }
  const moved = Math.hypot(event.clientX - done.screen[0], event.clientY - done.screen[1]) > 5;
  const [ax, ay] = done.start;
  const [bx, by] = done.current;
  const box = [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx) + 1, Math.max(ay, by) + 1];
  clearError();
  if (done.tool === "box") {
    if (moved) setLayers([...state.layers, { type: "box", box }]);
    else render();
  } else if (!moved) {
    guarded(null, () => clickAt(ax, ay, done.shift)).finally(render);
  } else {
    guarded(null, () => smartSelect({ box }, done.shift)).finally(render);
  }
});

// ---------------------------------------------------------------- keyboard

const TOOL_KEYS = { v: "select", b: "box", p: "brush", e: "eraser" };
document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName) && event.target.type !== "radio" && event.target.type !== "checkbox";
  if ((event.ctrlKey || event.metaKey) && event.key === "z" && !typing) {
    event.preventDefault();
    undo();
    return;
  }
  if (typing || event.ctrlKey || event.metaKey || event.altKey || $("studio").hidden) return;
  const name = TOOL_KEYS[event.key.toLowerCase()];
  if (name) document.querySelector(`input[name="tool"][value="${name}"]`).checked = true;
  if (event.key === "[" || event.key === "]") {
    const input = $("brush-size");
    input.value = Number(input.value) + (event.key === "]" ? 5 : -5);
    $("brush-size-out").textContent = input.value;
  }
});
$("brush-size").addEventListener("input", (event) => ($("brush-size-out").textContent = event.target.value));

// ---------------------------------------------------------------- generate

$("prompt-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded($("submit"), async () => {
    const body = {
      image_id: state.image.id,
      prompt: $("prompt").value,
      mask: await maskSpec(),
      model: $("inpaint-model").value || null,
    };
    if ($("negative").value.trim()) body.negative_prompt = $("negative").value;
    if ($("steps").value) body.num_inference_steps = Number($("steps").value);
    stopPolling();
    let job = await api("v1/inpaintings", { method: "POST", json: body, headers: { "Idempotency-Key": crypto.randomUUID() } });
    state.job = job;
    $("cancel").hidden = false;
    try {
      job = await waitForJob(job, showJobStatus);
    } finally {
      $("cancel").hidden = true;
    }
    await refreshGallery();
    finishJob(job);
  });
});

$("prompt").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("prompt-form").requestSubmit();
});

$("cancel").addEventListener("click", (event) =>
  guarded(event.currentTarget, async () => {
    if (state.job) showJobStatus(await api(`v1/jobs/${state.job.id}/cancel`, { method: "POST" }));
  }),
);

function finishJob(job) {
  showJobStatus(job);
  if (job.status === "succeeded") showResult(job.output.url);
  else if (job.status === "failed") showError(new Error(`The job failed: ${job.error ? job.error.message : "no reason given"}`));
}

function showResult(url) {
  $("before").src = state.image.url;
  $("after").src = url;
  $("download").href = url;
  $("result").hidden = false;
  setSlider();
}

function setSlider() {
  $("after-clip").style.clipPath = `inset(0 0 0 ${$("slider").value}%)`;
  $("divider").style.left = `${$("slider").value}%`;
}
$("slider").addEventListener("input", setSlider);

// ---------------------------------------------------------------- gallery

async function refreshGallery() {
  const page = await api("v1/jobs?kind=inpaint&limit=24");
  const list = $("gallery");
  list.replaceChildren();
  for (const job of page.items) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.jobId = job.id;
    const img = document.createElement("img");
    img.alt = "";
    if (job.output && job.output.url) img.src = job.output.url;
    const status = document.createElement("span");
    status.className = "job-status";
    status.textContent = job.status;
    const prompt = document.createElement("span");
    prompt.className = "small";
    prompt.textContent = ` ${job.input && job.input.prompt ? job.input.prompt : ""}`;
    button.append(img, status, prompt);
    button.addEventListener("click", () => guarded(button, () => reopenJob(job.id)));
    item.append(button);
    list.append(item);
  }
}
$("refresh-gallery").addEventListener("click", (event) => guarded(event.currentTarget, refreshGallery));

async function reopenJob(jobId) {
  stopPolling();
  let job = await api(`v1/jobs/${jobId}`);
  const image = await api(`v1/images/${job.input.image_id}`);
  await openImage(image);
  $("prompt").value = (job.input && job.input.prompt) || "";
  state.job = job;
  job = await waitForJob(job, showJobStatus);
  finishJob(job);
}

// ---------------------------------------------------------------- start

if (state.token) {
  enterStudio().catch((err) => {
    if (!(err instanceof ApiError && err.status === 401)) showError(err);
  });
} else {
  signOut();
}
