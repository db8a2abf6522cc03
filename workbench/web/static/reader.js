// The reading view: a line of text and its zone on the facsimile light up together,
// on hover and on click; the line named in the URL starts lit and in view.
"use strict";

function light(lineId, className) {
  document.querySelectorAll(`.${className}`).forEach((element) => element.classList.remove(className));
  if (!lineId) return;
  for (const id of [`zone-${lineId}`, `line-${lineId}`]) {
    const element = document.getElementById(id);
    if (element) element.classList.add(className);
  }
}

function lineOf(event) {
  const element = event.target.closest("[data-line]");
  return element ? element.dataset.line : null;
}

document.addEventListener("mouseover", (event) => light(lineOf(event), "hover"));
document.addEventListener("mouseleave", () => light(null, "hover"));
document.addEventListener("click", (event) => {
  const lineId = lineOf(event);
  if (!lineId || event.target.closest("a")) return;
  light(lineId, "current");
  const other = document.getElementById(event.target.closest(".zone") ? `line-${lineId}` : `zone-${lineId}`);
  if (other && other.scrollIntoView) other.scrollIntoView({ block: "nearest" });
});

document.addEventListener("DOMContentLoaded", () => {
  const current = document.querySelector("main.reading")?.dataset.current;
  if (!current) return;
  light(current, "current");
  document.getElementById(`line-${current}`)?.scrollIntoView({ block: "center" });
});
