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

const ICONS = {
  play: '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true"><path d="M4 2.5v11l9-5.5z" fill="currentColor"/></svg>',
  pause: '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true"><rect x="3.5" y="2.5" width="3.2" height="11" fill="currentColor"/><rect x="9.3" y="2.5" width="3.2" height="11" fill="currentColor"/></svg>',
  back: '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true"><rect x="2.5" y="2.5" width="2.2" height="11" fill="currentColor"/><path d="M13.5 2.5v11l-8-5.5z" fill="currentColor"/></svg>',
  forward: '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true"><rect x="11.3" y="2.5" width="2.2" height="11" fill="currentColor"/><path d="M2.5 2.5v11l8-5.5z" fill="currentColor"/></svg>',
  loop: '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true"><path d="M3 7a4 4 0 0 1 4-4h4V1l3 3-3 3V5H7a2 2 0 0 0-2 2zm10 2a4 4 0 0 1-4 4H5v2l-3-3 3-3v2h4a2 2 0 0 0 2-2z" fill="currentColor"/></svg>',
  full: '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true"><path d="M2 2h5v2H4v3H2zm7 0h5v5h-2V4H9zM2 9h2v3h3v2H2zm10 0h2v5H9v-2h3z" fill="currentColor"/></svg>',
};
const SPEEDS = [2, 4, 8, 12, 16, 24, 30];
const CACHE_LIMIT = 4096; // decoded frames kept (a 32×32 frame is 4 KB)
// The keys the player answers; every other key (Ctrl+S, Esc, Shift+Enter…) goes on to the page.
const KEYS = new Set(["ArrowLeft", "ArrowRight", "Home", "End", " "]);

function iconButton(cls, icon, title) {
  const b = el("button", cls);
  b.type = "button";
  b.innerHTML = icon;
  b.title = title;
  b.setAttribute("aria-label", title);
  return b;
}

function render({ model, el: root }) {
  guardKeys(); // keys.js: letters pressed here never reach JupyterLab's notebook shortcuts
  root.classList.add("dv-player");
  const labels = model.get("labels") || {};
  const L = (k, d) => labels[k] || d;
  let cells = [];        // {row, col, canvas, ctx}
  let cache = new Map(); // "row:step:col" -> ImageData, least recently used first
  let bytes = new Uint8Array(0);
  let layout = { rows: [], steps: 0, batch: 0 };
  let step = model.get("step") || 0;
  let timer = null;

  const grid = el("div", "dv-grid");
  const bar = el("div", "dv-controls");
  const play = el("button", "dv-play");
  play.type = "button";
  play.title = L("play", "Play / pause (space)");
  play.setAttribute("aria-label", play.title);
  const slider = el("input", "dv-slider");
  slider.type = "range";
  slider.min = 0;
  slider.setAttribute("aria-label", L("step", "step"));
  const stepLabel = el("span", "dv-step-label");
  const speed = el("select", "dv-speed");
  speed.setAttribute("aria-label", L("fps", "fps"));
  const readout = el("div", "dv-readout", " ");
  const back = iconButton("dv-back", ICONS.back, L("back", "Step back (←)"));
  const ahead = iconButton("dv-forward", ICONS.forward, L("forward", "Step forward (→)"));
  const loop = iconButton("dv-loop", ICONS.loop, L("loop", "Loop: play again from the start"));
  loop.setAttribute("aria-pressed", "false");
  const full = iconButton("dv-full", ICONS.full, L("full", "Full screen (Esc leaves)"));
  bar.append(play, back, ahead, slider, speed, loop, full, stepLabel);
  root.append(bar, grid, readout);

  function speeds() {
    const fps = Number(model.get("fps")) || 8;
    const list = SPEEDS.includes(fps) ? SPEEDS : [...SPEEDS, fps].sort((a, b) => a - b);
    speed.innerHTML = "";
    for (const f of list) {
      const o = el("option", "", `${f} ${L("fps", "fps")}`);
      o.value = String(f);
      speed.appendChild(o);
    }
    speed.value = String(fps);
  }

  function frameOffset(r, s, c) {
    const row = layout.rows[r];
    return row.offset + ((s * layout.batch + c) * row.height * row.width * 3);
  }

  function imageData(r, s, c) {
    const key = `${r}:${s}:${c}`;
    let img = cache.get(key);
    if (img) { cache.delete(key); cache.set(key, img); return img; }
    const row = layout.rows[r];
    const n = row.width * row.height;
    img = new ImageData(row.width, row.height);
    const src = frameOffset(r, s, c);
    const dst = img.data;
    for (let i = 0, j = src; i < n; i++, j += 3) {
      dst[4 * i] = bytes[j]; dst[4 * i + 1] = bytes[j + 1]; dst[4 * i + 2] = bytes[j + 2]; dst[4 * i + 3] = 255;
    }
    cache.set(key, img);
    if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value);
    return img;
  }

  function draw() {
    const t0 = performance.now();
    for (const cell of cells) cell.ctx.putImageData(imageData(cell.row, step, cell.col), 0, 0);
    const names = model.get("step_labels") || [];
    stepLabel.textContent = names[step] || `${L("step", "step")} ${step + 1}/${layout.steps}`;
    slider.value = step;
    root.dataset.step = step;
    root.dataset.frameMs = (performance.now() - t0).toFixed(3);
  }

  const MIN_CELL = 128; // px: the smallest picture legible from a lecture hall's back row
  const MAX_CELL = 256; // px: pictures grow with the page up to this (pixelated, never blurred)
  let perBlock = 0;

  function build() {
    layout = model.get("frame_layout") || { rows: [], steps: 0, batch: 0 };
    bytes = bytesOf(model.get("frames"));
    cache = new Map();
    cells = [];
    layout.rows.forEach((row, r) => {
      for (let c = 0; c < layout.batch; c++) {
        // Canvases hold the frames at their native size and CSS scales them (crisp, pixelated).
        const canvas = el("canvas", "dv-cell");
        canvas.width = row.width;
        canvas.height = row.height;
        canvas.dataset.row = r;
        canvas.dataset.col = c;
        const cell = { row: r, col: c, canvas, ctx: canvas.getContext("2d") };
        canvas.addEventListener("mousemove", (ev) => hover(cell, ev));
        canvas.addEventListener("mouseleave", () => (readout.textContent = " "));
        cells.push(cell);
      }
    });
    perBlock = 0;
    arrange();
    slider.max = Math.max(0, layout.steps - 1);
    step = Math.min(Math.max(0, model.get("step") || 0), Math.max(0, layout.steps - 1));
    root.classList.toggle("dv-empty", layout.steps === 0);
    if (layout.steps > 0) draw();
  }

  // One layout rule: columns shrink to fit the page, but never below MIN_CELL; past that, the
  // columns wrap into blocks (images 1–4, then 5–8), each block with its own row labels. The pictures
  // then take the width their block leaves, up to MAX_CELL (in full screen: up to the screen's height).
  function arrange() {
    const zoom = Math.max(1, model.get("zoom") || 4);
    const widest = Math.max(1, ...layout.rows.map((r) => r.width));
    const native = widest * zoom;
    const least = Math.min(native, MIN_CELL);
    const labelWidth = 120, gap = 6;
    const room = root.clientWidth || 0;
    const fits = room ? Math.max(1, Math.floor((room - labelWidth) / (least + gap))) : layout.batch;
    const blocks = Math.ceil(layout.batch / Math.max(1, Math.min(layout.batch, fits)));
    const per = Math.max(1, Math.ceil(layout.batch / blocks)); // balanced: 8 images → 4 + 4, not 6 + 2
    const size = cellSize(room, per, blocks, native, least, labelWidth, gap);
    grid.style.gridTemplateColumns = `max-content repeat(${per}, minmax(0, ${size}px))`;
    for (const cell of cells) cell.canvas.style.width = `${size}px`; // every row as large as the largest (latents too)
    root.dataset.cell = size;
    if (per === perBlock && grid.childElementCount) return;
    perBlock = per;
    grid.innerHTML = "";
    const colNames = model.get("column_labels") || [];
    for (let start = 0; start < layout.batch; start += per) {
      const cols = Math.min(per, layout.batch - start);
      if (colNames.length) {
        grid.appendChild(el("div", "dv-corner"));
        for (let c = start; c < start + per; c++) grid.appendChild(el("div", "dv-col-label", c < start + cols ? colNames[c] || "" : ""));
      }
      layout.rows.forEach((row, r) => {
        grid.appendChild(el("div", "dv-row-label", row.label));
        for (let c = start; c < start + per; c++) {
          if (c < start + cols) grid.appendChild(cells[r * layout.batch + c].canvas);
          else grid.appendChild(el("div", "dv-filler"));
        }
      });
    }
  }

  function cellSize(room, per, blocks, native, least, labelWidth, gap) {
    if (!room) return native;
    let most = Math.max(native, MAX_CELL);
    if (document.fullscreenElement === root) {
      const tall = root.clientHeight - bar.offsetHeight - readout.offsetHeight - 40;
      most = Math.max(native, Math.floor(tall / Math.max(1, layout.rows.length * blocks) - gap));
    }
    return Math.max(least, Math.min(most, Math.floor((room - labelWidth) / per - gap)));
  }
  const resize = typeof ResizeObserver === "function" ? new ResizeObserver(() => arrange()) : null;
  if (resize) resize.observe(root);

  function hover(cell, ev) {
    const row = layout.rows[cell.row];
    const rect = cell.canvas.getBoundingClientRect();
    const x = Math.floor(((ev.clientX - rect.left) / rect.width) * row.width);
    const y = Math.floor(((ev.clientY - rect.top) / rect.height) * row.height);
    if (x < 0 || y < 0 || x >= row.width || y >= row.height) return;
    const j = frameOffset(cell.row, step, cell.col) + 3 * (y * row.width + x);
    readout.textContent = `${row.label} · #${cell.col + 1} · (${x}, ${y}) = RGB ${bytes[j]}, ${bytes[j + 1]}, ${bytes[j + 2]}`;
  }

  // The widget model is the source of truth: discrete actions (play/pause, speed, a released
  // slider, a key) write back; dragging the slider and each played frame send nothing.
  function save(values) {
    for (const [k, v] of Object.entries(values)) model.set(k, v);
    model.save_changes();
  }
  function syncStep() { if (model.get("sync_step")) save({ step }); }

  function go(s) {
    if (layout.steps === 0) return;
    step = ((s % layout.steps) + layout.steps) % layout.steps;
    draw();
  }

  function setPlaying(on) {
    if (timer) { clearInterval(timer); timer = null; }
    play.innerHTML = on ? ICONS.pause : ICONS.play;
    root.classList.toggle("dv-playing", on);
    if (on && layout.steps > 0) {
      if (step >= layout.steps - 1) go(0);
      timer = setInterval(() => {
        if (step >= layout.steps - 1 && looping()) { go(0); return; }
        if (step >= layout.steps - 1) { setPlaying(false); save({ playing: false, ...(model.get("sync_step") ? { step } : {}) }); return; }
        go(step + 1);
      }, 1000 / (Number(model.get("fps")) || 8));
    }
  }

  play.addEventListener("click", () => {
    const on = !timer;
    setPlaying(on);
    save({ playing: on, ...(!on && model.get("sync_step") ? { step } : {}) });
  });
  function looping() { return !!model.get("loop"); }
  function showLoop() {
    loop.setAttribute("aria-pressed", String(looping()));
    root.classList.toggle("dv-looping", looping());
  }
  function stepBy(d) { go(step + d); syncStep(); }
  back.addEventListener("click", () => stepBy(-1));
  ahead.addEventListener("click", () => stepBy(1));
  loop.addEventListener("click", () => { save({ loop: !looping() }); showLoop(); });
  // Full screen: the player alone fills the projector's screen; its pictures grow to fit (player.css).
  full.addEventListener("click", () => {
    if (document.fullscreenElement === root) document.exitFullscreen();
    else if (root.requestFullscreen) root.requestFullscreen().catch(() => {});
  });
  document.addEventListener("fullscreenchange", onFullscreen);
  function onFullscreen() {
    root.classList.toggle("dv-fullscreen", document.fullscreenElement === root);
    perBlock = 0;
    arrange();
  }
  slider.addEventListener("input", () => go(Number(slider.value)));
  slider.addEventListener("change", syncStep);
  speed.addEventListener("change", () => save({ fps: Number(speed.value) }));
  root.tabIndex = 0;
  // Our keys while the player has focus; every other key (Ctrl+S, Esc, Shift+Enter…) goes on to the page.
  // Listened for at the window in the capture phase: JupyterLab and Notebook 7 (Lumino) take keys at
  // the document before an element inside a notebook sees them.
  function onKey(ev) {
    if (!root.contains(document.activeElement) || !root.isConnected) return;
    if (!KEYS.has(ev.key) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target === speed) return; // the speed menu's own arrow keys
    ev.stopPropagation();
    ev.preventDefault();
    if (ev.key === "ArrowRight") go(step + 1);
    else if (ev.key === "ArrowLeft") go(step - 1);
    else if (ev.key === "Home") go(0);
    else if (ev.key === "End") go(layout.steps - 1);
    else if (ev.key === " ") { const on = !timer; setPlaying(on); save({ playing: on }); }
  }
  window.addEventListener("keydown", onKey, true);
  root.addEventListener("keyup", (ev) => {
    if (!KEYS.has(ev.key) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    ev.stopPropagation();
    if (ev.key !== " ") syncStep();
  });

  model.on("change:frames", build);
  model.on("change:frame_layout", build);
  model.on("change:zoom", () => { perBlock = 0; arrange(); });
  model.on("change:column_labels", () => { perBlock = 0; arrange(); });
  model.on("change:step", () => go(model.get("step") || 0));
  model.on("change:loop", showLoop);
  model.on("change:step_labels", () => { if (layout.steps > 0) draw(); });
  model.on("change:fps", () => { speeds(); if (timer) setPlaying(true); });
  model.on("change:playing", () => { if (!!model.get("playing") !== !!timer) setPlaying(!!model.get("playing")); });
  speeds();
  showLoop();
  build();
  setPlaying(!!model.get("playing"));
  return () => {
    if (timer) clearInterval(timer);
    if (resize) resize.disconnect();
    window.removeEventListener("keydown", onKey, true);
    document.removeEventListener("fullscreenchange", onFullscreen);
  };
}

export default { render };
