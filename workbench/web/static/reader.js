// The reading view: a line of text and its zone on the facsimile light up together,
// on hover, on click (or tap) and on keyboard focus; the line named in the URL starts lit and in view.
// The facsimile is an OpenSeadragon deep zoom viewer over the page's tiles (web/tiles.py);
// the zones are an SVG laid over the image as its overlay, so they zoom and pan with it.
"use strict";

let viewer = null;

function light(lineId, className) {
  document.querySelectorAll(`.${className}`).forEach((element) => element.classList.remove(className));
  if (!lineId) return;
  for (const id of [`zone-${lineId}`, `line-${lineId}`]) {
    const element = document.getElementById(id);
    if (element) element.classList.add(className);
  }
}

function lineOf(event) {
  const element = event.target.closest?.("[data-line]");
  return element ? element.dataset.line : null;
}

// Brings the line's zone into the viewer's view if it is outside it, keeping the zoom.
function showZone(lineId) {
  const zone = document.getElementById(`zone-${lineId}`);
  if (!viewer || !zone || !viewer.world.getItemCount()) return;
  const box = zone.getBBox();
  const rect = viewer.viewport.imageToViewportRectangle(box.x, box.y, box.width, box.height);
  const bounds = viewer.viewport.getBounds(true);
  const inside =
    rect.x >= bounds.x &&
    rect.y >= bounds.y &&
    rect.x + rect.width <= bounds.x + bounds.width &&
    rect.y + rect.height <= bounds.y + bounds.height;
  if (!inside) viewer.viewport.panTo(rect.getCenter());
}

// The line's citation in the "How to cite" box, for copying.
function citeLine(lineId) {
  const line = document.getElementById(`line-${lineId}`);
  const target = document.getElementById("cite-line");
  if (!line || !target) return;
  target.textContent = line.dataset.citation;
  target.closest(".line-citation").hidden = false;
}

function choose(lineId) {
  light(lineId, "current");
  citeLine(lineId);
}

document.addEventListener("mouseover", (event) => light(lineOf(event), "hover"));
document.addEventListener("mouseleave", () => light(null, "hover"));
document.addEventListener("click", (event) => {
  const copy = event.target.closest("button.copy");
  if (copy) {
    copyCitation(copy);
    return;
  }
  const zoom = event.target.closest("[data-zoom]");
  if (zoom && viewer) {
    const by = { in: 1.5, out: 1 / 1.5 }[zoom.dataset.zoom];
    if (by) viewer.viewport.zoomBy(by);
    else viewer.viewport.goHome();
    return;
  }
  const lineId = lineOf(event);
  if (!lineId || event.target.closest("a")) return;
  choose(lineId);
  if (event.target.closest(".zone")) {
    document.getElementById(`line-${lineId}`)?.scrollIntoView?.({ block: "nearest" });
  } else {
    showZone(lineId);
  }
});

// Keyboard: Tab reaches each line's number (a link); the arrow keys move to the line above or below.
document.addEventListener("focusin", (event) => {
  const line = event.target.closest?.(".text-line");
  if (!line) return;
  choose(line.dataset.line);
  showZone(line.dataset.line);
});
document.addEventListener("keydown", (event) => {
  const line = event.target.closest?.(".text-line");
  if (!line || !["ArrowDown", "ArrowUp"].includes(event.key) || event.altKey || event.ctrlKey || event.metaKey) return;
  const next = event.key === "ArrowDown" ? line.nextElementSibling : line.previousElementSibling;
  const link = next?.querySelector("a.number");
  if (!link) return;
  event.preventDefault();
  link.focus();
});

async function copyCitation(button) {
  const text = document.getElementById(button.dataset.copy)?.textContent.trim();
  const status = button.closest(".citation").querySelector(".copied");
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = status.dataset.done;
  } catch {
    // No clipboard (an insecure page, a refused permission): select the text to copy by hand.
    const range = document.createRange();
    range.selectNodeContents(document.getElementById(button.dataset.copy));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    status.textContent = "";
  }
}

function startViewer() {
  const element = document.getElementById("viewer");
  if (!element || !window.OpenSeadragon) return;
  viewer = OpenSeadragon({
    element,
    tileSources: element.dataset.tiles,
    showNavigationControl: false, // our own buttons: translated, and no icon images to serve
    gestureSettingsMouse: { clickToZoom: false }, // a click on a zone chooses its line
    gestureSettingsTouch: { clickToZoom: false },
    drawer: "canvas", // a plain 2D canvas: drawn everywhere, GPU or not
  });
  viewer.canvas.setAttribute("role", "application");
  viewer.canvas.setAttribute("aria-label", element.dataset.label);
  const zones = document.getElementById("facsimile");
  viewer.addHandler("open", () => {
    const width = Number(element.dataset.width);
    const height = Number(element.dataset.height);
    viewer.addOverlay({ element: zones, location: new OpenSeadragon.Rect(0, 0, 1, height / width) });
    const current = document.querySelector("main.reading")?.dataset.current;
    if (current) showZone(current);
  });
  // The viewer takes clicks on its canvas (to tell them from drags, capturing the pointer), so a
  // zone's click comes from it; the zone is what lies under the pointer.
  viewer.addHandler("canvas-click", (event) => {
    const { clientX, clientY } = event.originalEvent;
    const under = event.quick ? document.elementFromPoint(clientX, clientY) : null;
    const lineId = under?.closest("[data-line]")?.dataset.line;
    if (!lineId) return;
    choose(lineId);
    document.getElementById(`line-${lineId}`)?.scrollIntoView?.({ block: "nearest" });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  startViewer();
  const current = document.querySelector("main.reading")?.dataset.current;
  if (!current) return;
  light(current, "current");
  document.getElementById(`line-${current}`)?.scrollIntoView({ block: "center" });
});
