// diffviz FramePlayer: a grid of image sequences sharing one step index.
// All frames arrive once as one binary buffer (uint8 RGB); scrubbing and playing redraw
// canvases locally and send NOTHING to the kernel (unless `sync_step` is on, and then only
// when the slider is released or playback pauses). Works as an anywidget ES module and
// standalone (the static export passes a tiny model shim with get/set/on/save_changes).

function bytesOf(value) {
  if (!value) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (value instanceof DataView) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (value.buffer instanceof ArrayBuffer) return new Uint8Array(value.buffer, value.byteOffset || 0, value.byteLength);
  return new Uint8Array(0);
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function render({ model, el: root }) {
  root.classList.add("dv-player");
  const labels = model.get("labels") || {};
  const L = (k, d) => labels[k] || d;
  let cells = [];        // {row, col, canvas, ctx, w, h}
  let cache = new Map(); // "row:step:col" -> ImageData
  let bytes = new Uint8Array(0);
  let layout = { rows: [], steps: 0, batch: 0 };
  let step = model.get("step") || 0;
  let timer = null;

  const grid = el("div", "dv-grid");
  const bar = el("div", "dv-controls");
  const play = el("button", "dv-play", "▶");
  play.title = L("play", "Play / pause (space)");
  const slider = el("input", "dv-slider");
  slider.type = "range";
  slider.min = 0;
  const stepLabel = el("span", "dv-step-label");
  const speed = el("select", "dv-speed");
  for (const f of [2, 4, 8, 16, 30]) {
    const o = el("option", "", `${f} ${L("fps", "fps")}`);
    o.value = f;
    speed.appendChild(o);
  }
  const readout = el("div", "dv-readout", " ");
  bar.append(play, slider, speed, stepLabel);
  root.append(bar, grid, readout);

  function frameOffset(r, s, c) {
    const row = layout.rows[r];
    return row.offset + ((s * layout.batch + c) * row.height * row.width * 3);
  }

  function imageData(r, s, c) {
    const key = `${r}:${s}:${c}`;
    let img = cache.get(key);
    if (img) return img;
    const row = layout.rows[r];
    const n = row.width * row.height;
    img = new ImageData(row.width, row.height);
    const src = frameOffset(r, s, c);
    const dst = img.data;
    for (let i = 0, j = src; i < n; i++, j += 3) {
      dst[4 * i] = bytes[j]; dst[4 * i + 1] = bytes[j + 1]; dst[4 * i + 2] = bytes[j + 2]; dst[4 * i + 3] = 255;
    }
    cache.set(key, img);
    return img;
  }

  const scratch = document.createElement("canvas");
  const sctx = scratch.getContext("2d");

  function draw() {
    const t0 = performance.now();
    for (const cell of cells) {
      const img = imageData(cell.row, step, cell.col);
      scratch.width = img.width;
      scratch.height = img.height;
      sctx.putImageData(img, 0, 0);
      cell.ctx.imageSmoothingEnabled = false;
      cell.ctx.drawImage(scratch, 0, 0, cell.canvas.width, cell.canvas.height);
    }
    const names = model.get("step_labels") || [];
    stepLabel.textContent = names[step] || `${L("step", "step")} ${step + 1}/${layout.steps}`;
    slider.value = step;
    root.dataset.step = step;
    root.dataset.frameMs = (performance.now() - t0).toFixed(3);
  }

  function build() {
    layout = model.get("frame_layout") || { rows: [], steps: 0, batch: 0 };
    bytes = bytesOf(model.get("frames"));
    cache = new Map();
    cells = [];
    grid.innerHTML = "";
    const zoom = Math.max(1, model.get("zoom") || 4);
    const colNames = model.get("column_labels") || [];
    grid.style.gridTemplateColumns = `auto repeat(${layout.batch}, auto)`;
    if (colNames.length) {
      grid.appendChild(el("div", "dv-corner"));
      for (let c = 0; c < layout.batch; c++) grid.appendChild(el("div", "dv-col-label", colNames[c] || ""));
    }
    layout.rows.forEach((row, r) => {
      grid.appendChild(el("div", "dv-row-label", row.label));
      for (let c = 0; c < layout.batch; c++) {
        const canvas = el("canvas", "dv-cell");
        canvas.width = row.width * zoom;
        canvas.height = row.height * zoom;
        canvas.dataset.row = r;
        canvas.dataset.col = c;
        const cell = { row: r, col: c, canvas, ctx: canvas.getContext("2d") };
        canvas.addEventListener("mousemove", (ev) => hover(cell, ev));
        canvas.addEventListener("mouseleave", () => (readout.textContent = " "));
        cells.push(cell);
        grid.appendChild(canvas);
      }
    });
    slider.max = Math.max(0, layout.steps - 1);
    step = Math.min(Math.max(0, model.get("step") || 0), Math.max(0, layout.steps - 1));
    speed.value = String(model.get("fps") || 8);
    root.classList.toggle("dv-empty", layout.steps === 0);
    if (layout.steps > 0) draw();
  }

  function hover(cell, ev) {
    const row = layout.rows[cell.row];
    const rect = cell.canvas.getBoundingClientRect();
    const x = Math.floor(((ev.clientX - rect.left) / rect.width) * row.width);
    const y = Math.floor(((ev.clientY - rect.top) / rect.height) * row.height);
    if (x < 0 || y < 0 || x >= row.width || y >= row.height) return;
    const j = frameOffset(cell.row, step, cell.col) + 3 * (y * row.width + x);
    readout.textContent = `${row.label} · #${cell.col + 1} · (${x}, ${y}) = RGB ${bytes[j]}, ${bytes[j + 1]}, ${bytes[j + 2]}`;
  }

  function sync() {
    if (model.get("sync_step")) {
      model.set("step", step);
      model.save_changes();
    }
  }

  function go(s) {
    if (layout.steps === 0) return;
    step = ((s % layout.steps) + layout.steps) % layout.steps;
    draw();
  }

  function setPlaying(on) {
    if (timer) { clearInterval(timer); timer = null; }
    play.textContent = on ? "⏸" : "▶";
    if (on) {
      if (step >= layout.steps - 1) go(0);
      timer = setInterval(() => {
        if (step >= layout.steps - 1) { setPlaying(false); sync(); return; }
        go(step + 1);
      }, 1000 / (Number(speed.value) || 8));
    }
  }

  play.addEventListener("click", () => { const on = !timer; setPlaying(on); if (!on) sync(); });
  slider.addEventListener("input", () => go(Number(slider.value)));
  slider.addEventListener("change", sync);
  speed.addEventListener("change", () => { if (timer) setPlaying(true); });
  root.tabIndex = 0;
  // JupyterLab (Lumino) swallows arrow keys: keep ours inside the widget
  root.addEventListener("keydown", (ev) => {
    ev.stopPropagation();
    if (ev.key === "ArrowRight") { go(step + 1); ev.preventDefault(); }
    else if (ev.key === "ArrowLeft") { go(step - 1); ev.preventDefault(); }
    else if (ev.key === "Home") { go(0); ev.preventDefault(); }
    else if (ev.key === "End") { go(layout.steps - 1); ev.preventDefault(); }
    else if (ev.key === " ") { setPlaying(!timer); ev.preventDefault(); }
  });
  root.addEventListener("keyup", (ev) => { ev.stopPropagation(); if (ev.key.startsWith("Arrow")) sync(); });

  model.on("change:frames", build);
  model.on("change:frame_layout", build);
  model.on("change:zoom", build);
  model.on("change:step", () => go(model.get("step") || 0));
  model.on("change:step_labels", () => { if (layout.steps > 0) draw(); });
  model.on("change:fps", () => { speed.value = String(model.get("fps") || 8); if (timer) setPlaying(true); });
  model.on("change:playing", () => setPlaying(!!model.get("playing")));
  build();
  if (model.get("playing")) setPlaying(true);
  return () => setPlaying(false);
}

export default { render };
