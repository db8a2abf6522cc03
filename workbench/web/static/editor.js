// The page editor: keyboard flow, palette, facsimile highlighting, zoom and pan.
// Saving is htmx's job (each line form posts itself on the "save" event); this
// script only decides when, and moves the focus.
"use strict";

const lines = () => [...document.querySelectorAll("form.line")];
const inputOf = (row) => row && row.querySelector("input.text");
let lastInput = null;

function focusRow(row) {
  const input = inputOf(row);
  if (!input) return;
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
  row.scrollIntoView({ block: "nearest" });
}

function neighbour(row, step) {
  const all = lines();
  return all[all.indexOf(row) + step];
}

function save(row, status) {
  const input = inputOf(row);
  if (input.readOnly) return;
  // Nothing typed and nothing to mark: no request, nothing to lose.
  if (input.value === input.dataset.original && !status && !row.classList.contains("conflict")) return;
  row.querySelector("input[name=status]").value = status || "";
  htmx.trigger(row, "save");
}

function insertAtCursor(text) {
  const input = lastInput;
  if (!input || input.readOnly) return;
  const start = input.selectionStart ?? input.value.length;
  const end = input.selectionEnd ?? start;
  input.setRangeText(text, start, end, "end");
  input.focus();
  input.dispatchEvent(new Event("input", { bubbles: true }));
}

function highlight(lineId) {
  document.querySelectorAll("#facsimile .zone.current").forEach((zone) => zone.classList.remove("current"));
  document.querySelectorAll("form.line.current").forEach((row) => row.classList.remove("current"));
  const zone = document.getElementById(`zone-${lineId}`);
  const row = document.getElementById(`line-${lineId}`);
  if (zone) zone.classList.add("current");
  if (row) row.classList.add("current");
}

document.addEventListener("focusin", (event) => {
  if (!event.target.matches("input.text")) return;
  lastInput = event.target;
  highlight(event.target.closest("form.line").dataset.line);
});

document.addEventListener("keydown", (event) => {
  const input = event.target.closest("input.text");
  if (!input) return;
  const row = input.closest("form.line");
  const palette = JSON.parse(document.querySelector("main.editor").dataset.palette);
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    save(row, event.ctrlKey || event.metaKey ? "verified" : "");
    focusRow(neighbour(row, 1));
  } else if ((event.key === "Enter" && event.shiftKey) || event.key === "ArrowUp") {
    event.preventDefault();
    focusRow(neighbour(row, -1));
  } else if (event.key === "ArrowDown") {
    event.preventDefault();
    focusRow(neighbour(row, 1));
  } else if (event.key === "Escape") {
    event.preventDefault();
    input.value = input.dataset.original;
    input.dispatchEvent(new Event("input", { bubbles: true }));
  } else if (event.altKey && (event.key === "n" || event.code === "KeyN")) {
    event.preventDefault();
    const all = lines();
    const start = all.indexOf(row);
    const later = [...all.slice(start + 1), ...all.slice(0, start)];
    focusRow(later.find((other) => !other.classList.contains("verified")));
  } else if (event.altKey && /^Digit[1-9]$/.test(event.code)) {
    event.preventDefault();
    const char = palette[Number(event.code.slice(5)) - 1];
    if (char) insertAtCursor(char);
  }
});

document.addEventListener("click", (event) => {
  const char = event.target.closest("button.char");
  if (char) insertAtCursor(char.dataset.char);
  const zone = event.target.closest("#facsimile .zone");
  if (zone) focusRow(document.getElementById(`line-${zone.dataset.line}`));
  const theirs = event.target.closest("button.take-theirs");
  if (theirs) {
    const input = inputOf(theirs.closest("form.line"));
    input.value = theirs.dataset.text;
    input.dataset.original = theirs.dataset.text;
    theirs.closest("form.line").classList.remove("conflict");
    theirs.closest(".message").remove();
    input.focus();
  }
});

// A saved row comes back from the server and replaces the old one. If the user went
// back into it and typed while the save was on its way, keep what they typed (and the
// focus): the new row shows the saved text as its original, so the edit stays unsaved.
let pending = null;
document.addEventListener("htmx:beforeSwap", (event) => {
  const row = event.detail.target;
  if (!row.matches || !row.matches("form.line")) return;
  const input = inputOf(row);
  const sent = event.detail.requestConfig?.parameters?.text;
  pending = { id: row.id, typed: input.value, sent, focused: document.activeElement === input,
              caret: input.selectionStart };
});
document.addEventListener("htmx:afterSwap", () => {
  if (!pending) return;
  const row = document.getElementById(pending.id);
  const input = inputOf(row);
  if (input && pending.sent !== undefined && pending.typed !== pending.sent) input.value = pending.typed;
  if (input && pending.focused) {
    input.focus();
    input.setSelectionRange(pending.caret, pending.caret);
    highlight(row.dataset.line);
  }
  pending = null;
});

const unsaved = () => lines().some((row) => inputOf(row).value !== inputOf(row).dataset.original);

// Never lose a keystroke: warn before leaving with unsaved lines.
window.addEventListener("beforeunload", (event) => {
  if (unsaved()) event.preventDefault();
});

// A finished segmentation or recognition job: show its lines at once, unless the
// user has unsaved text on the page (then the job's "show" button waits for them).
// (The page lists only running jobs when it loads, so a done one is new.)
document.addEventListener("htmx:afterSettle", () => {
  if (document.querySelector('#jobs .job[data-state="done"]') && !unsaved()) location.reload();
});

document.addEventListener("DOMContentLoaded", () => {
  const svg = document.getElementById("facsimile");
  if (svg && window.Panzoom) {
    const panzoom = Panzoom(svg, { maxScale: 8, minScale: 0.5, canvas: true });
    svg.parentElement.addEventListener("wheel", panzoom.zoomWithWheel);
    document.querySelectorAll("[data-zoom]").forEach((button) =>
      button.addEventListener("click", () => {
        if (button.dataset.zoom === "in") panzoom.zoomIn();
        else if (button.dataset.zoom === "out") panzoom.zoomOut();
        else panzoom.reset();
      }),
    );
  }
  focusRow(lines().find((row) => !row.classList.contains("verified")) || lines()[0]);
});
