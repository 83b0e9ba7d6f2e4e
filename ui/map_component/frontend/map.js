// EOS map: plotly.js scattergl with image hover and click / box / lasso selection sent back to Python.
// Speaks Streamlit's component protocol (postMessage) directly, so there is no npm build.
"use strict";

const SPLIT_COLORS = ["#4c78a8", "#f58518", "#2ca02c"];
const SPLIT_SIZES = [5, 6, 8]; // train, test, synthetic: synthetic diamonds largest, drawn last in a class
const CORRECT_COLORS = { "-1": "#bbbbbb", "0": "#d62728", "1": "#2ca02c" };
const COLOR_LABELS = { class: "class", split: "split", pred: "predicted class", correct: "correct / incorrect", gap: "gap" };
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

const state = { segKey: "[]", segments: [], token: null, d: null, sprites: null, colorBy: "class", groups: [], seq: 0, selected: [],
                sheets: new Map(), height: 560, title: "" };
window.__eosMap = { times: { mapJs: performance.now() }, state };  // mapJs: plotly.js parsed and run

function send(type, extra) {
  window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type }, extra), "*");
}
function setHeight() { send("streamlit:setFrameHeight", { height: document.body.scrollHeight + 4 }); }
function setValue(ids, mode) {
  state.seq += 1;
  state.selected = ids; state.mode = mode;
  send("streamlit:setComponentValue", { value: { ids, mode, seq: state.seq }, dataType: "json" });
  status();
}

function decode(b64, Type) {
  const bin = atob(b64);
  const buf = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
  return new Type(buf.buffer);
}

function unpack(data) {
  const d = Object.assign({}, data);
  d.x = decode(data.x, Float32Array); d.y = decode(data.y, Float32Array);
  d.cls = decode(data.cls, Int16Array); d.split = decode(data.split, Uint8Array);
  d.pred = decode(data.pred, Int16Array); d.correct = decode(data.correct, Int8Array);
  d.gap = decode(data.gap, Float32Array);
  d.img = data.img ? decode(data.img, Int32Array) : null;
  d.img2 = data.img2 ? decode(data.img2, Int32Array) : null;
  let lo = Infinity, hi = -Infinity;
  for (const g of d.gap) if (Number.isFinite(g)) { lo = Math.min(lo, g); hi = Math.max(hi, g); }
  d.gapRange = [lo, hi];
  return d;
}

// Points grouped by (class, split). Draw order (first = bottom): real groups by size, largest first, ties in
// class order (largest class first); then the synthetic groups the same way. So the smallest sets are on top:
// a minority's few training points above everything, and on a ratio-100 map with a balanced test set every
// class's training points above the 1,000-point test groups (a class is never hidden under the test points
// of a smaller, overlapping class); synthetic diamonds above the real points they were made from.
function makeGroups(d) {
  const byKey = new Map();
  for (let i = 0; i < d.n; i++) {
    const k = d.cls[i] * 4 + d.split[i];
    let a = byKey.get(k);
    if (!a) { a = []; byKey.set(k, a); }
    a.push(i);
  }
  const groups = [];
  d.styles.forEach((st) => {
    for (let s = 0; s < 3; s++) {
      const a = byKey.get(st.code * 4 + s);
      if (a) groups.push({ code: st.code, split: s, style: st, idx: Int32Array.from(a), rank: groups.length });
    }
  });
  const syn = d.splits.indexOf("synthetic");
  groups.sort((g, h) => ((g.split === syn) - (h.split === syn)) || (h.idx.length - g.idx.length) || (g.rank - h.rank));
  return groups;
}

function viridis(t) {
  const u = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(u), VIRIDIS.length - 2), f = u - i;
  const c = VIRIDIS[i].map((v, j) => Math.round(v + f * (VIRIDIS[i + 1][j] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function pointColor(d, i, by) {
  if (by === "pred") return d.pred[i] >= 0 ? d.class_colors[d.pred[i]] : "#bbbbbb";
  if (by === "correct") return CORRECT_COLORS[String(d.correct[i])];
  const g = d.gap[i], [lo, hi] = d.gapRange;
  return Number.isFinite(g) ? viridis(hi > lo ? (g - lo) / (hi - lo) : 0.5) : "#bbbbbb";
}

function legendTrace(name, color, symbol, rank, extra) {
  return Object.assign({ type: "scatter", mode: "markers", x: [null], y: [null], name, legendrank: rank,
    marker: { color, symbol, size: 9, line: { width: 0 } }, hoverinfo: "skip", showlegend: true }, extra || {});
}

function buildTraces() {
  const d = state.d, by = state.colorBy, traces = [];
  const present = [false, false, false];
  state.groups.forEach((g) => {
    present[g.split] = true;
    const n = g.idx.length, xs = new Float32Array(n), ys = new Float32Array(n);
    for (let j = 0; j < n; j++) { xs[j] = d.x[g.idx[j]]; ys[j] = d.y[g.idx[j]]; }
    let color;
    if (by === "class") color = d.class_colors[g.code];
    else if (by === "split") color = SPLIT_COLORS[g.split];
    else { color = new Array(n); for (let j = 0; j < n; j++) color[j] = pointColor(d, g.idx[j], by); }
    traces.push({
      type: "scattergl", mode: "markers", x: xs, y: ys, hoverinfo: "none",
      name: `${d.class_names[g.code]} · ${d.splits[g.split]}`, legendgroup: `c${g.code}`, showlegend: false,
      marker: { symbol: d.symbols[g.split], size: SPLIT_SIZES[g.split], color, opacity: g.style.opacity,
                line: g.style.outline ? { width: 1, color: "#222" } : { width: 0 } },
    });
  });
  // Base -> partner segments over the points (not selectable: lines only, the partner marker has no group).
  const seg = state.segments || [];
  if (seg.length) {
    const sx = [], sy = [], px = [], py = [];
    for (let k = 0; k + 3 < seg.length; k += 4) {
      sx.push(seg[k], seg[k + 2], null); sy.push(seg[k + 1], seg[k + 3], null);
      px.push(seg[k + 2]); py.push(seg[k + 3]);
    }
    traces.push({ type: "scatter", mode: "lines", x: sx, y: sy, name: "base → partner", hoverinfo: "skip",
                  line: { color: "#111", width: 1.6, dash: "dash" }, legendrank: 2000, showlegend: true });
    traces.push({ type: "scatter", mode: "markers", x: px, y: py, name: "partner ×", hoverinfo: "skip",
                  marker: { symbol: "x", size: 8, color: "#111" }, legendrank: 2001, showlegend: true });
  }
  const legend = [];
  // Legend: the colour key, then which marker is which split (grey, in a group of its own).
  const bySize = d.styles.slice().reverse(); // smallest class first, as the app lists minorities
  if (by === "class") {
    bySize.forEach((st, r) => {
      const tr = legendTrace(d.class_labels ? d.class_labels[st.code] : `${d.class_names[st.code]} (${d.class_counts[st.code]})`, d.class_colors[st.code],
                             "circle", r, { legendgroup: `c${st.code}` });
      if (st.outline) tr.marker.line = { width: 1, color: "#222" };
      legend.push(tr);
    });
  } else if (by === "pred") {
    bySize.forEach((st, r) => legend.push(legendTrace(`pred ${d.class_names[st.code]}`, d.class_colors[st.code], "circle", r)));
  } else if (by === "correct") {
    legend.push(legendTrace("correct", CORRECT_COLORS["1"], "circle", 0));
    legend.push(legendTrace("incorrect", CORRECT_COLORS["0"], "circle", 1));
  } else if (by === "gap") {
    const [lo, hi] = d.gapRange;
    legend.push({ type: "scatter", mode: "markers", x: [null], y: [null], showlegend: false, hoverinfo: "skip",
      marker: { color: [lo, hi], cmin: lo, cmax: hi, colorscale: "Viridis", showscale: true,
                colorbar: { title: { text: "gap" }, thickness: 12, len: 0.5, y: 0.25 } } });
  }
  d.splits.forEach((s, k) => {
    if (!present[k]) return;
    const col = by === "split" ? SPLIT_COLORS[k] : "#666666";
    legend.push(legendTrace(`${by === "split" ? "" : "marker: "}${s}`, col, d.symbols[k], 1000 + k,
                            { legendgroup: "markers" }));
  });
  return traces.concat(legend);
}

// A clicked or searched point is marked by an HTML ring over the plot, not a plotly trace: restyling a
// trace redraws every WebGL point (about a second for 100,000 points in a software-rendered browser).
function placeRing() {
  const ring = document.getElementById("ring"), one = state.mode === "click" || state.mode === "search";
  const i = one && state.selected.length === 1 ? idIndex().get(String(state.selected[0])) : undefined;
  const gd = document.getElementById("plot"), fl = gd._fullLayout;
  if (i === undefined || !fl || !fl.xaxis) { ring.style.display = "none"; return; }
  const x = fl._size.l + fl.xaxis.l2p(state.d.x[i]), y = fl._size.t + fl.yaxis.l2p(state.d.y[i]);
  const inside = x >= fl._size.l && x <= fl._size.l + fl._size.w && y >= fl._size.t && y <= fl._size.t + fl._size.h;
  ring.style.display = inside ? "block" : "none";
  ring.style.left = `${x - 9}px`; ring.style.top = `${y - 9}px`;
}

let _idIndex = null;
function idIndex() {
  if (!_idIndex) { _idIndex = new Map(); state.d.ids.forEach((id, i) => _idIndex.set(String(id), i)); }
  return _idIndex;
}

function layout() {
  return {
    height: state.height, margin: { l: 30, r: 10, t: state.title ? 30 : 8, b: 28 },
    title: state.title ? { text: state.title, font: { size: 14 } } : undefined,
    dragmode: "zoom", hovermode: "closest", clickmode: "event", uirevision: state.token,
    // A narrow map (a column of a side-by-side page) puts its legend underneath, not over the points.
    legend: Object.assign({ itemsizing: "constant", groupclick: "togglegroup", font: { size: 12 } },
      document.body.clientWidth < 760 ? { orientation: "h", x: 0, y: -0.06, yanchor: "top" } : {}),
    xaxis: { showgrid: false, zeroline: false }, yaxis: { showgrid: false, zeroline: false },
    plot_bgcolor: "#fff",
  };
}

const CONFIG = { displaylogo: false, scrollZoom: true, responsive: true,
  modeBarButtonsToAdd: ["select2d", "lasso2d"], modeBarButtonsToRemove: ["autoScale2d", "sendChartToCloud"] };

function pointIndex(pt) {
  const g = state.groups[pt.curveNumber];
  return g ? g.idx[pt.pointNumber] : undefined;
}

function status(extra) {
  const d = state.d;
  const el = document.getElementById("status");
  el.textContent = `${d.n.toLocaleString()} points · ${d.class_names.length} classes · selected ${state.selected.length}` +
                   (extra ? ` · ${extra}` : "");
  el.dataset.selected = String(state.selected.length);
}

function refreshSelection() { placeRing(); }

// ---------------------------------------------------------------- thumbnails
function sheet(k) {
  if (!state.sheets.has(k)) {
    state.sheets.set(k, new Promise((resolve, reject) => {
      const im = new Image();
      im.onload = () => resolve(im);
      im.onerror = reject;
      im.src = `${state.sprites.url}${k}.png`;
    }));
  }
  return state.sheets.get(k);
}

async function drawThumb(canvas, slot) {
  const sp = state.sprites, px = sp.px;
  canvas.width = px; canvas.height = px;
  const im = await sheet(Math.floor(slot / sp.per_sheet));
  const cell = slot % sp.per_sheet, r = Math.floor(cell / sp.cols), c = cell % sp.cols;
  canvas.getContext("2d").drawImage(im, c * px, r * px, px, px, 0, 0, px, px);
}

let hoverSeq = 0;
async function showTip(i, ev) {
  const d = state.d, tip = document.getElementById("tip"), my = ++hoverSeq;
  const imgs = tip.querySelector(".imgs"), txt = tip.querySelector(".txt");
  imgs.innerHTML = ""; tip.dataset.state = "loading"; tip.dataset.id = String(d.ids[i]);
  const split = d.splits[d.split[i]];
  const lines = [`<b>#${d.ids[i]}</b> · ${d.class_names[d.cls[i]]} · ${split}`];
  if (d.pred[i] >= 0) lines.push(`pred ${d.class_names[d.pred[i]]}${d.correct[i] === 1 ? " ✓" : d.correct[i] === 0 ? " ✗" : ""}`);
  if (Number.isFinite(d.gap[i])) lines.push(`gap ${d.gap[i].toFixed(3)}`);
  const slots = [];
  if (state.sprites && d.img && d.img[i] >= 0) slots.push([d.img[i], split === "synthetic" ? "base" : ""]);
  if (state.sprites && d.img2 && d.img2[i] >= 0) slots.push([d.img2[i], "partner"]);
  if (slots.length === 2) lines.push("left: base · right: partner");
  txt.innerHTML = lines.join("<br>");
  const canvases = slots.map(() => { const c = document.createElement("canvas"); imgs.appendChild(c); return c; });
  const wrap = document.getElementById("wrap").getBoundingClientRect();
  const e = ev && ev.event ? ev.event : null;
  let left = e ? e.clientX - wrap.left + 14 : 10, top = e ? e.clientY - wrap.top + 14 : 10;
  tip.style.display = "block";
  if (left + tip.offsetWidth > wrap.width) left = Math.max(0, left - tip.offsetWidth - 28);
  if (top + tip.offsetHeight > wrap.height) top = Math.max(0, top - tip.offsetHeight - 28);
  tip.style.left = `${left}px`; tip.style.top = `${top}px`;
  try {
    await Promise.all(slots.map(([s], k) => drawThumb(canvases[k], s)));
    if (my === hoverSeq) { tip.dataset.state = "ready"; window.__eosMap.times.hoverReady = performance.now(); }
  } catch (err) { if (my === hoverSeq) tip.dataset.state = "error"; }
}

function hideTip() { hoverSeq++; const tip = document.getElementById("tip"); tip.style.display = "none"; tip.dataset.state = ""; }

// ---------------------------------------------------------------- drawing and events
function draw() {
  const gd = document.getElementById("plot");
  const t0 = performance.now();
  const traces = buildTraces();
  return Plotly.react(gd, traces, layout(), CONFIG).then(() => {
    requestAnimationFrame(() => { window.__eosMap.times.painted = performance.now(); window.__eosMap.times.drawMs = performance.now() - t0; });
    setHeight();
  });
}

function bind() {
  const gd = document.getElementById("plot");
  // Click = a press and release without moving, on the point under the cursor (plotly's hover pick). Read
  // from pointer events rather than plotly_click, which comes 1.5 s late on a 100,000-point WebGL map and
  // not at all in lasso mode; it works in every drag mode.
  let hovered, down = null;
  gd.on("plotly_hover", (ev) => {
    const p = ev.points && ev.points[0]; const i = p && pointIndex(p);
    if (i !== undefined) { hovered = i; state.hovered = i; showTip(i, ev); }
  });
  gd.on("plotly_unhover", () => { hovered = undefined; state.hovered = undefined; hideTip(); });
  // The point is taken at press time: plotly unhovers when a press starts a (possible) drag.
  gd.addEventListener("pointerdown", (e) => { down = [e.clientX, e.clientY, hovered]; }, true);
  // On the document: plotly releases over a "dragcover" div it appends to <body>, outside the plot.
  document.addEventListener("pointerup", (e) => {
    const still = down && Math.abs(e.clientX - down[0]) + Math.abs(e.clientY - down[1]) <= 3;
    const i = down ? down[2] : undefined;
    down = null;
    if (!still || i === undefined || e.button !== 0) return;
    state.clickAt = performance.now();
    setValue([state.d.ids[i]], "click"); refreshSelection();
  }, true);
  gd.on("plotly_relayout", placeRing);
  gd.on("plotly_afterplot", placeRing);
  gd.on("plotly_selected", (ev) => {
    if (!ev) return;
    const ids = [];
    for (const p of ev.points || []) { const i = pointIndex(p); if (i !== undefined) ids.push(state.d.ids[i]); }
    setValue(ids, ev.lassoPoints ? "lasso" : "box"); refreshSelection();
  });
  gd.on("plotly_deselect", () => {
    if (state.clickAt && performance.now() - state.clickAt < 600) return; // the click that ended a selection
    setValue([], null); refreshSelection();
  });
  document.getElementById("colorby").addEventListener("change", (e) => { state.colorBy = e.target.value; draw(); });
  document.getElementById("search").addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    const q = e.target.value.trim(), i = idIndex().get(q);
    if (i === undefined) { status(`no point with id ${q}`); return; }
    setValue([state.d.ids[i]], "search"); refreshSelection();
    status(`found #${q} (${state.d.class_names[state.d.cls[i]]}, ${state.d.splits[state.d.split[i]]})`);
  });
}

function fillColorMenu() {
  const sel = document.getElementById("colorby"), has = state.d.has;
  sel.innerHTML = "";
  ["class", "split", "pred", "correct", "gap"].forEach((k) => {
    if (k !== "class" && k !== "split" && !has[k]) return;
    const o = document.createElement("option"); o.value = k; o.textContent = COLOR_LABELS[k]; sel.appendChild(o);
  });
  if (![...sel.options].some((o) => o.value === state.colorBy)) state.colorBy = "class";
  sel.value = state.colorBy;
}

// Pixel position (in this frame) of the point with id `id`: used by the browser tests and the bench.
window.__eosMap.pointPixel = (id) => {
  const gd = document.getElementById("plot"), fl = gd._fullLayout, i = idIndex().get(String(id));
  if (i === undefined) return null;
  const r = gd.getBoundingClientRect();
  return { x: r.left + fl._size.l + fl.xaxis.l2p(state.d.x[i]), y: r.top + fl._size.t + fl.yaxis.l2p(state.d.y[i]) };
};

let bound = false;
window.addEventListener("message", (event) => {
  const msg = event.data;
  if (!msg || msg.type !== "streamlit:render") return;
  const a = msg.args;
  window.__eosMap.times.renderMsg = performance.now();
  if (!window.__eosMap.times.firstRender) window.__eosMap.times.firstRender = window.__eosMap.times.renderMsg;
  const segKey = JSON.stringify(a.segments || []);
  if (a.data.token === state.token && a.height === state.height) {
    if (segKey !== state.segKey && state.d) { state.segKey = segKey; state.segments = a.segments || []; draw(); }
    else setHeight();
    return;
  }
  state.segKey = segKey; state.segments = a.segments || [];
  const token = a.data.token;
  state.token = token; state.height = a.height; state.title = a.title;
  // The columns come from a file written once per map (not in the arguments re-sent on every rerun).
  fetch(a.data.url).then((r) => r.json()).then((data) => {
    if (state.token !== token) return; // a newer map arrived meanwhile
    window.__eosMap.times.dataLoaded = performance.now();
    const t0 = performance.now();
    state.d = unpack(data); _idIndex = null; state.sprites = a.sprites; state.sheets = new Map();
    state.groups = makeGroups(state.d); state.colorBy = a.color_by; state.selected = []; state.mode = null;
    window.__eosMap.times.unpackMs = performance.now() - t0;
    fillColorMenu(); status();
    return draw().then(() => { if (!bound) { bind(); bound = true; } document.body.dataset.ready = token; });
  });
});

send("streamlit:componentReady", { apiVersion: 1 });
