// The reading room's IIIF viewer (/read/<manuscript>/viewer): Mirador on the manuscript's own
// manifest, with the line annotations shown and the search panel at hand.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const element = document.getElementById("mirador");
  if (!element || !window.Mirador) return;
  // Mirador's own words in the page's language (Mirador 4 ships Bulgarian and English), with
  // the catalogue's words where Mirador's are missing (read_viewer.html).
  const language = document.documentElement.lang === "bg" ? "bg" : "en";
  const words = document.getElementById("mirador-words");
  window.miradorInstance = window.Mirador.viewer({
    id: "mirador",
    language,
    translations: words ? { [language]: JSON.parse(words.textContent) } : {},
    window: { allowClose: false, allowMaximize: false, sideBarOpen: true, defaultSideBarPanel: "annotations", panels: { search: true, annotations: true } },
    // The lines are "supplementing" annotations (a transcription), which Mirador hides unless told.
    annotations: {
      htmlSanitizationRuleSet: "iiif",
      filteredMotivations: ["oa:commenting", "oa:tagging", "sc:painting", "commenting", "tagging", "supplementing"],
    },
    windows: [{ manifestId: element.dataset.manifest }],
    workspace: { type: "mosaic" },
    workspaceControlPanel: { enabled: false },
  });
});
