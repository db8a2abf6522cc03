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

// Alt+N: a reviewer goes to the next line awaiting review (on this page, else the
// queue of every manuscript: /review/next); when nothing awaits review, and for
// anyone else, to the next line on the page that is not verified.
async function nextLine(row) {
  const main = document.querySelector("main.editor");
  const all = lines();
  const start = all.indexOf(row);
  const later = [...all.slice(start + 1), ...all.slice(0, start)];
  const unverified = () => focusRow(later.find((other) => !other.classList.contains("verified")));
  if (!main.dataset.reviewer) return unverified();
  const here = all.slice(start + 1).find((other) => other.classList.contains("ready"));
  if (here) return focusRow(here);
  const queue = `/review/next?${new URLSearchParams({ manuscript: main.dataset.manuscript, after: row.dataset.line })}`;
  // The queue answers with a redirect to a line when one waits, with a page saying so when none does.
  const answer = await fetch(queue, { redirect: "manual" });
  if (answer.type === "opaqueredirect") window.location.href = queue;
  else unverified();
}

// Enter in a comment or a send-back field presses its button (it must not submit the line's form).
document.addEventListener("keydown", (event) => {
  const field = event.target.closest(".thread-list input, .thread-list textarea, .send-back input");
  if (!field || event.key !== "Enter" || (field.tagName === "TEXTAREA" && !(event.ctrlKey || event.metaKey))) return;
  event.preventDefault();
  event.stopPropagation();
  field.parentElement.querySelector("button.comment-submit, button.send-back-button")?.click();
}, true);

function neighbour(row, step) {
  const all = lines();
  return all[all.indexOf(row) + step];
}

function save(row, status) {
  const input = inputOf(row);
  if (input.readOnly) return;
  // Nothing typed and nothing to mark: no request, nothing to lose.
  const failed = row.querySelector(".message.failure");
  if (input.value === input.dataset.original && !status && !row.classList.contains("conflict") && !failed) return;
  row.querySelector("input[name=status]").value = status || "";
  if (!sessionLost) {
    htmx.trigger(row, "save");
    return;
  }
  // The session ended: if the user has logged in again (in another tab), the session has a
  // new CSRF token; take it from a fresh copy of this page before saving again.
  sessionLost = false;
  freshToken().finally(() => htmx.trigger(row, "save"));
}

let sessionLost = false;

async function freshToken() {
  const response = await fetch(location.href, { credentials: "same-origin" });
  if (!response.ok || response.redirected) return;
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const headers = page.body.getAttribute("hx-headers");
  if (headers) document.body.setAttribute("hx-headers", headers);
}

// A request the server refused without an answer to swap in (a lost session, a stale
// page, a server error; base.html's responseHandling) or that got no answer at all: show
// why in the row it came from (else above the list it was for), keep the typed text, and
// take the focus back into the row if Enter moved it on as if the line had saved.
function showFailure(event) {
  const { elt, target, xhr } = event.detail;
  const row = elt.closest?.("form.line") || target?.closest?.("form.line");
  const place = row || target;
  if (!place) return;
  if (xhr && (xhr.status === 401 || xhr.status === 400)) sessionLost = true;
  // The server's message (_error.html), parsed inertly; a proxy's page or no answer: ours.
  const answer = xhr && new DOMParser().parseFromString(xhr.responseText || "", "text/html");
  let message = answer?.querySelector(".message.failure");
  if (message) {
    message = document.importNode(message, true);
  } else {
    message = document.createElement("p");
    message.className = "message error failure";
    message.setAttribute("role", "alert");
    const texts = document.querySelector("main.editor")?.dataset;
    message.textContent = (texts?.failed || "The request failed ({code}).").replace("{code}", xhr?.status || "—");
  }
  place.querySelectorAll(":scope > .message.failure").forEach((old) => old.remove());
  if (row) row.querySelector(".preview").after(message);
  else place.prepend(message);
  if (row && elt === row) takeFocusBack(row);
}

// A save that did not go through: back to its row, unless the user is already typing in another.
function takeFocusBack(row) {
  const active = document.activeElement?.closest?.("form.line");
  if (!active || active === row || inputOf(active).value === inputOf(active).dataset.original) focusRow(row);
}
document.addEventListener("htmx:responseError", showFailure);
document.addEventListener("htmx:sendError", showFailure);

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
  if (picking(event)) return;
  if (event.altKey && (event.key === "a" || event.code === "KeyA")) {
    event.preventDefault();
    startAdding();
    return;
  }
  if (event.altKey && (event.key === "z" || event.code === "KeyZ")) {
    event.preventDefault();
    changeLayout("undo", {});
    return;
  }
  const input = event.target.closest("input.text");
  if (!input) return;
  const row = input.closest("form.line");
  const palette = JSON.parse(document.querySelector("main.editor").dataset.palette);
  if (lineShortcut(event, row)) {
    event.preventDefault();
  } else if (event.key === "Enter" && !event.shiftKey) {
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
    nextLine(row);
  } else if (event.altKey && /^Digit[1-9]$/.test(event.code)) {
    event.preventDefault();
    const char = palette[Number(event.code.slice(5)) - 1];
    if (char) insertAtCursor(char);
  }
});

document.addEventListener("click", (event) => {
  if (event.target.closest("#facsimile") && pickPoint(event)) return;
  if (lineTool(event)) return;
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
  } else if (row?.querySelector(":scope > .message.conflict, :scope > .message.error")) {
    // A conflict (409) or a shorthand mistake (422) comes back as a row to swap in, but
    // the line is not saved: Enter must not have moved on as if it were. (Its message,
    // not its class: htmx gives the new row the old one's classes until it settles.)
    takeFocusBack(row);
  }
  pending = null;
});

// Times come from the server in UTC (<time datetime>); the browser knows the user's time
// zone, which the server does not. The time alone today, with the date on other days.
function localTimes(root) {
  const language = document.documentElement.lang || undefined;
  const today = new Date().toDateString();
  root.querySelectorAll?.("time[datetime]").forEach((element) => {
    const when = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) return;
    const options = { hour: "2-digit", minute: "2-digit" };
    if (when.toDateString() !== today) Object.assign(options, { day: "numeric", month: "short", year: "numeric" });
    element.textContent = new Intl.DateTimeFormat(language, options).format(when);
    element.title = new Intl.DateTimeFormat(language, { dateStyle: "full", timeStyle: "long" }).format(when);
  });
}
document.addEventListener("htmx:load", (event) => localTimes(event.detail.elt));

// Revert asks first: its button shows a question with a confirming button (focused, so
// Enter confirms) and a cancelling one (Escape cancels too).
function askRevert(button) {
  const question = button.nextElementSibling;
  button.hidden = true;
  question.hidden = false;
  question.querySelector("button.revert-confirm").focus();
}
function cancelRevert(question) {
  const button = question.previousElementSibling;
  question.hidden = true;
  button.hidden = false;
  button.focus();
}
document.addEventListener("click", (event) => {
  const ask = event.target.closest("button.revert");
  if (ask) askRevert(ask);
  const cancel = event.target.closest("button.revert-cancel");
  if (cancel) cancelRevert(cancel.closest(".revert-question"));
});
document.addEventListener("keydown", (event) => {
  const question = event.target.closest?.(".revert-question");
  if (question && event.key === "Escape") {
    event.preventDefault();
    cancelRevert(question);
  }
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

// -- Correcting the segmentation ------------------------------------------------------
// Each change posts to the server, which answers with the page's whole list of lines
// (#lines) to swap in. A change sends the text typed in the lines it touches (the
// server saves it first); text typed in other lines is put back after the swap,
// still unsaved.

const SVG = "http://www.w3.org/2000/svg";
const linesBox = () => document.getElementById("lines");
let adding = null; // the baseline points clicked so far, while adding a line
let splitting = null; // { row, cursor } while choosing where to cut a line
let dragged = null;

function changeLayout(action, values) {
  const headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
  return htmx.ajax("POST", linesBox().dataset.pageUrl + action, { target: "#lines", swap: "outerHTML", values, headers });
}

function lineValues(row) {
  const id = row.dataset.line;
  return { [`text-${id}`]: inputOf(row).value, [`base-${id}`]: row.querySelector("input[name=base]").value };
}

function hint(text) {
  document.getElementById("layout-hint").textContent = text || "";
  document.querySelector("main.editor").classList.toggle("picking", Boolean(text));
}

function hints() {
  return document.querySelector(".layout-tools").dataset;
}

function lineShortcut(event, row) {
  if (!event.altKey) return false;
  const all = lines();
  const id = row.dataset.line;
  if (event.key === "s" || event.code === "KeyS") startSplitting(row);
  else if (event.key === "m" || event.code === "KeyM") merge(row);
  else if (event.key === "Delete") changeLayout("lines/delete", { line: id, ...lineValues(row) });
  else if (event.key === "ArrowUp" && all.indexOf(row) > 0) changeLayout("lines/move", { line: id, index: all.indexOf(row) - 1 });
  else if (event.key === "ArrowDown" && all.indexOf(row) < all.length - 1) changeLayout("lines/move", { line: id, index: all.indexOf(row) + 1 });
  else return event.key === "ArrowUp" || event.key === "ArrowDown";
  return true;
}

function lineTool(event) {
  const row = event.target.closest("form.line");
  if (event.target.closest("#add-line")) startAdding();
  else if (event.target.closest("#undo-layout")) changeLayout("undo", {});
  else if (event.target.closest("a.go-to-line")) focusRow(document.getElementById(`line-${event.target.dataset.line}`));
  else if (row && event.target.closest("button.split-button")) startSplitting(row);
  else if (row && event.target.closest("button.merge-button")) merge(row);
  else if (row && event.target.closest("button.delete-button")) changeLayout("lines/delete", { line: row.dataset.line, ...lineValues(row) });
  else return false;
  event.preventDefault();
  return true;
}

function merge(row) {
  const next = neighbour(row, 1);
  if (!next) return;
  changeLayout("lines/merge", { line: row.dataset.line, other: next.dataset.line, ...lineValues(row), ...lineValues(next) });
}

function startSplitting(row) {
  const input = inputOf(row);
  splitting = { row, cursor: input.selectionStart ?? input.value.length };
  hint(hints().splitHint.replace("{n}", row.querySelector(".number").textContent));
}

function startAdding() {
  adding = [];
  document.getElementById("add-line").setAttribute("aria-pressed", "true");
  hint(hints().addHint);
}

function stopPicking() {
  adding = null;
  splitting = null;
  document.getElementById("add-line").setAttribute("aria-pressed", "false");
  document.getElementById("drawing").setAttribute("points", "");
  hint("");
}

function finishAdding() {
  const points = adding.map(({ x, y }) => `${x},${y}`).join(" ");
  stopPicking();
  if (points.includes(" ")) changeLayout("lines/add", { points });
}

function finishSplitting(at) {
  const { row, cursor } = splitting;
  stopPicking();
  const values = { line: row.dataset.line, cursor, ...lineValues(row) };
  if (at) values.at = `${at.x},${at.y}`;
  changeLayout("lines/split", values);
}

// While adding a line or splitting one, Enter finishes and Escape cancels.
function picking(event) {
  if (!adding && !splitting) return false;
  if (event.key === "Enter") {
    event.preventDefault();
    if (adding) finishAdding();
    else finishSplitting(null);
    return true;
  }
  if (event.key === "Escape") {
    event.preventDefault();
    stopPicking();
    return true;
  }
  return false;
}

// A click on the facsimile, in page pixels (whatever the zoom and pan).
function pagePoint(event) {
  const svg = document.getElementById("facsimile");
  const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
  return { x: Math.round(point.x), y: Math.round(point.y) };
}

function pickPoint(event) {
  if (splitting) {
    finishSplitting(pagePoint(event));
    return true;
  }
  if (!adding) return false;
  adding.push(pagePoint(event));
  document.getElementById("drawing").setAttribute("points", adding.map(({ x, y }) => `${x},${y}`).join(" "));
  return true;
}

document.addEventListener("dblclick", (event) => {
  if (adding && event.target.closest("#facsimile")) finishAdding();
});

document.addEventListener("change", (event) => {
  const select = event.target.closest("select.region-select");
  if (select) changeLayout("lines/move", { line: select.closest("form.line").dataset.line, region: select.value });
});

// Reading order by drag and drop: a row dropped on another goes before it (or after
// it, when dropped on its lower half).
document.addEventListener("dragstart", (event) => {
  const handle = event.target.closest?.(".handle");
  if (!handle) return;
  dragged = handle.closest("form.line");
  event.dataTransfer.setData("text/plain", dragged.dataset.line);
  event.dataTransfer.effectAllowed = "move";
});
document.addEventListener("dragover", (event) => {
  if (dragged && event.target.closest?.("form.line")) event.preventDefault();
});
document.addEventListener("drop", (event) => {
  const target = event.target.closest?.("form.line");
  if (!dragged || !target) return;
  event.preventDefault();
  const all = lines();
  const from = all.indexOf(dragged);
  const box = target.getBoundingClientRect();
  let to = all.indexOf(target) + (event.clientY > box.top + box.height / 2 ? 1 : 0);
  if (from < to) to -= 1;
  if (to !== from) changeLayout("lines/move", { line: dragged.dataset.line, index: to });
  dragged = null;
});
document.addEventListener("dragend", () => {
  dragged = null;
});

let typedElsewhere = null;
document.addEventListener("htmx:beforeSwap", (event) => {
  if (event.detail.target.id !== "lines") return;
  typedElsewhere = {};
  for (const row of lines()) {
    const input = inputOf(row);
    if (input.value !== input.dataset.original) typedElsewhere[row.id] = { typed: input.value, original: input.dataset.original };
  }
  const focused = document.activeElement?.closest?.("form.line");
  typedElsewhere.focused = focused ? focused.id : null;
});
document.addEventListener("htmx:afterSwap", () => {
  if (!typedElsewhere || !linesBox()) return;
  for (const row of lines()) {
    const kept = typedElsewhere[row.id];
    // Only where the change left the line's text as it was: otherwise it took the typing in.
    if (kept && inputOf(row).dataset.original === kept.original) inputOf(row).value = kept.typed;
  }
  drawZones();
  const focus = linesBox().dataset.focus ? `line-${linesBox().dataset.focus}` : typedElsewhere.focused;
  typedElsewhere = null;
  focusRow(document.getElementById(focus));
});

function drawZones() {
  const unmapped = new Set([...linesBox().querySelectorAll(".unmapped a[data-line]")].map((link) => link.dataset.line));
  const zones = JSON.parse(linesBox().dataset.zones).map((zone) => {
    const polygon = document.createElementNS(SVG, "polygon");
    polygon.setAttribute("class", `zone ${zone.status}${unmapped.has(zone.id) ? " unmapped" : ""}`);
    polygon.setAttribute("id", `zone-${zone.id}`);
    polygon.setAttribute("points", zone.points);
    polygon.dataset.line = zone.id;
    const title = document.createElementNS(SVG, "title");
    title.textContent = zone.n;
    polygon.append(title);
    return polygon;
  });
  document.getElementById("zones").replaceChildren(...zones);
}

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
  // A link to a line (?line=…, as the review queue gives) opens on that line. Not a
  // #fragment: the browser's scroll to a fragment would take the focus away again.
  const wanted = new URLSearchParams(window.location.search).get("line");
  const linked = wanted && document.getElementById(`line-${wanted}`);
  focusRow(linked || lines().find((row) => !row.classList.contains("verified")) || lines()[0]);
});

// Names: after "{@" (person), "{#" (place) or "{~" (work), the entries of the register or the
// bibliography that match the name typed so far are offered (/registers/names); choosing one
// (click, or arrows and Enter/Tab) writes "|key}" after the name as it is written in the line.
const NAME_KINDS = { "@": "person", "#": "place", "~": "work" };
let nameChoices = null;
let nameTimer = null;

function typedName(input) {
  const before = input.value.slice(0, input.selectionStart ?? input.value.length);
  const found = /\{([@#~])([^{}|\\[\]]*)$/.exec(before);
  return found && found[2].trim() ? { kind: NAME_KINDS[found[1]], typed: found[2].trim() } : null;
}

function closeNames() {
  nameChoices?.remove();
  nameChoices = null;
}

async function offerNames(input) {
  const name = typedName(input);
  if (!name) return closeNames();
  const address = document.querySelector("main.editor").dataset.names;
  const answer = await fetch(`${address}?${new URLSearchParams({ kind: name.kind, q: name.typed })}`);
  const found = answer.ok ? await answer.json() : [];
  closeNames();
  // The answer may come after the name was taken or the line left: offer nothing then.
  if (!found.length || document.activeElement !== input || typedName(input)?.typed !== name.typed) return;
  nameChoices = document.createElement("ul");
  nameChoices.className = "name-choices";
  nameChoices.setAttribute("role", "listbox");
  for (const entry of found) {
    const option = document.createElement("li");
    option.setAttribute("role", "option");
    option.dataset.key = entry.key;
    option.textContent = `${entry.label} · ${entry.key}`;
    option.addEventListener("mousedown", (event) => {
      event.preventDefault(); // the line keeps the focus
      chooseName(input, entry.key);
    });
    nameChoices.append(option);
  }
  input.closest(".entry").after(nameChoices);
}

function chooseName(input, key) {
  const at = input.selectionStart ?? input.value.length;
  const closed = input.value[at] === "}";
  input.setRangeText(`|${key}${closed ? "" : "}"}`, at, at, "end");
  if (closed) input.setSelectionRange(at + key.length + 2, at + key.length + 2);
  closeNames();
  input.dispatchEvent(new Event("input", { bubbles: true }));
}

document.addEventListener("input", (event) => {
  if (!event.target.matches("input.text")) return;
  clearTimeout(nameTimer);
  nameTimer = setTimeout(() => offerNames(event.target), 150);
});

document.addEventListener("focusout", (event) => {
  if (event.target.matches("input.text")) closeNames();
});

// Before the line's own keys (Enter saves, arrows change lines): while names are offered,
// the arrows move among them, Enter or Tab takes the chosen one, Escape closes the list.
document.addEventListener("keydown", (event) => {
  const input = event.target.closest?.("input.text");
  if (!nameChoices || !input) return;
  const options = [...nameChoices.children];
  const current = options.findIndex((option) => option.getAttribute("aria-selected") === "true");
  const move = { ArrowDown: 1, ArrowUp: -1 }[event.key];
  if (move) {
    const next = options[(current + move + options.length) % options.length];
    options.forEach((option) => option.setAttribute("aria-selected", String(option === next)));
  } else if ((event.key === "Enter" || event.key === "Tab") && current >= 0) {
    chooseName(input, options[current].dataset.key);
  } else if (event.key === "Escape") {
    closeNames();
  } else {
    return;
  }
  event.preventDefault();
  event.stopImmediatePropagation();
}, true);
