// Draw-a-digit page: strokes on a white canvas are sent as PNG to /api/predict while drawing
// (at most one request in flight; the latest drawing is sent when it returns).
"use strict";

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const topList = document.getElementById("top");
const statusLine = document.getElementById("status");
const seen = document.getElementById("seen");

let drawing = false;
let last = null;
let inFlight = false;
let dirty = false;

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  topList.replaceChildren();
  seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
  setStatus("Draw with the mouse or a finger.");
}

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

// Canvas coordinates of an event, whatever size CSS gives the canvas.
function point(e) {
  const r = pad.getBoundingClientRect();
  return { x: (e.clientX - r.left) * pad.width / r.width, y: (e.clientY - r.top) * pad.height / r.height };
}

function strokeTo(p) {
  ctx.strokeStyle = "#000";
  ctx.lineWidth = 20;  // about MNIST's stroke width once scaled to 20x20
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(last.x, last.y);
  ctx.lineTo(p.x, p.y);
  ctx.stroke();
  last = p;
  requestPrediction();
}

function start(e) { drawing = true; last = point(e); strokeTo(last); }
function move(e) { if (drawing) strokeTo(point(e)); }
function end() { if (drawing) { drawing = false; requestPrediction(); } }

if (window.PointerEvent) {  // mouse, touch and pen alike
  pad.addEventListener("pointerdown", (e) => { pad.setPointerCapture(e.pointerId); start(e); e.preventDefault(); });
  pad.addEventListener("pointermove", (e) => { move(e); e.preventDefault(); });
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
} else {  // older browsers: mouse and touch events
  pad.addEventListener("mousedown", start);
  pad.addEventListener("mousemove", move);
  window.addEventListener("mouseup", end);
  pad.addEventListener("touchstart", (e) => { start(e.touches[0]); e.preventDefault(); }, { passive: false });
  pad.addEventListener("touchmove", (e) => { move(e.touches[0]); e.preventDefault(); }, { passive: false });
  pad.addEventListener("touchend", end);
}

function requestPrediction() {
  dirty = true;
  if (!inFlight) sendDrawing();
}

function sendDrawing() {
  dirty = false;
  inFlight = true;
  pad.toBlob((blob) => predict(blob).finally(() => {
    inFlight = false;
    if (dirty) sendDrawing();
  }), "image/png");
}

async function predict(body) {
  try {
    const res = await fetch("api/predict?top=3", { method: "POST", body, headers: { "Content-Type": "application/octet-stream" } });
    const data = await res.json();
    if (!res.ok) { showTop([]); setStatus(data.error || res.statusText, true); return; }
    showTop(data.top);
    showSeen(data.pixels);
    setStatus("");
  } catch (err) {
    setStatus("The server did not answer: " + err, true);
  }
}

function showTop(top) {
  topList.replaceChildren(...top.map(({ label, probability }) => {
    const li = document.createElement("li");
    li.dataset.label = label;
    li.dataset.probability = probability;
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = label;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = Math.round(probability * 150) + "px";
    const pct = document.createElement("span");
    pct.className = "prob";
    pct.textContent = (probability * 100).toFixed(1) + "%";
    li.append(name, bar, pct);
    return li;
  }));
}

function showSeen(pixels) {
  const h = pixels.length, w = pixels[0].length;
  seen.width = w; seen.height = h;
  const img = seen.getContext("2d").createImageData(w, h);
  pixels.flat().forEach((v, i) => { img.data.set([v, v, v, 255], 4 * i); });
  seen.getContext("2d").putImageData(img, 0, 0);
}

document.getElementById("clear").addEventListener("click", clearPad);
document.getElementById("upload").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) { setStatus("Predicting " + file.name + "..."); predict(file); }
});

fetch("api/info").then((r) => r.json()).then((info) => {
  document.getElementById("run").textContent = `Model: ${info.run}; classes ${info.classes.join(", ")}`;
}).catch(() => {});

clearPad();
