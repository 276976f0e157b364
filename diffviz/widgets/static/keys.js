// diffviz key guard: keys pressed on a focused control of a diffviz view (a player, an ipywidgets
// slider, button or menu) belong to that control, not to JupyterLab's notebook shortcuts: in command
// mode `a`/`b` insert cells, `m` turns the cell into Markdown, `d d` deletes it, `z` undoes. Lumino
// skips every shortcut whose target has `data-lm-suppress-shortcuts` on the way up, so the attribute
// is set on the focused element for the duration of one keydown only: the control itself still gets
// the key (a slider's arrows, a button's Enter), and Ctrl/Cmd/Alt combinations (Ctrl+S), Esc and
// Shift+Enter still reach the page. Prepended to the modules that need it (see widgets/keys.py).

const DV_KEY_SCOPE = ".diffviz-view, .diffviz-explainer, .dv-player";
const DV_SUPPRESS = "data-lm-suppress-shortcuts";

const DV_MODIFIERS = ["Shift", "Control", "Alt", "Meta", "AltGraph", "CapsLock"];

function dvPassesKey(ev) {
  // a modifier's own keydown fires no shortcut and is never guarded: guarding it left the attribute in place
  // (until its timeout ran) for the Enter of a quick Shift+Enter or the S of a quick Ctrl+S, which Lumino then skipped
  return ev.ctrlKey || ev.metaKey || ev.altKey || ev.key === "Escape" || (ev.key === "Enter" && ev.shiftKey)
    || DV_MODIFIERS.includes(ev.key);
}

function dvGuardKey(ev) {
  const target = ev.target;
  if (!(target instanceof Element) || dvPassesKey(ev) || !target.closest(DV_KEY_SCOPE)) return;
  if (target.hasAttribute(DV_SUPPRESS)) return;
  target.setAttribute(DV_SUPPRESS, "");
  setTimeout(() => target.removeAttribute(DV_SUPPRESS), 0); // after every listener of this keydown ran
}

function guardKeys() {
  // once per page, at the window in the capture phase: before Lumino's listener at the document
  if (window.__dvKeyGuard) return;
  window.__dvKeyGuard = true;
  window.addEventListener("keydown", dvGuardKey, true);
}
