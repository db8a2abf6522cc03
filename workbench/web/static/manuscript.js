// The manuscript page: the second step before segmenting every page, and the export
// links' "preparing…" state (a TEI export validates against tei_all, which takes a while).

document.addEventListener("click", (event) => {
  const cancel = event.target.closest("details.confirm .confirm-cancel");
  if (cancel) {
    const details = cancel.closest("details");
    details.open = false;
    details.querySelector("summary").focus();
    return;
  }
  const link = event.target.closest("a.export");
  if (link?.classList.contains("preparing")) event.preventDefault(); // one download at a time
  else if (link) prepareExport(link);
});

// Once the job has started (or been refused), the question is answered.
document.addEventListener("htmx:afterRequest", (event) => {
  const details = event.target.closest("details.confirm");
  if (details) details.open = false;
});

// The download carries a token; the server answers with a cookie holding it, whatever
// the outcome, and the link is itself again when that cookie arrives.
function prepareExport(link) {
  const token = Math.random().toString(36).slice(2, 14);
  const url = new URL(link.href, document.baseURI);
  url.searchParams.set("ready", token);
  link.href = url.toString();
  link.classList.add("preparing");
  link.setAttribute("aria-busy", "true");
  const note = document.createElement("span");
  note.className = "preparing-note";
  note.setAttribute("role", "status");
  note.textContent = ` ${link.closest(".exports").dataset.preparing}`;
  link.after(note);
  const started = Date.now();
  const timer = setInterval(() => {
    const arrived = document.cookie.split("; ").includes(`export-ready=${token}`);
    if (!arrived && Date.now() - started < 10 * 60 * 1000) return;
    clearInterval(timer);
    document.cookie = "export-ready=; Max-Age=0; path=/";
    link.classList.remove("preparing");
    link.removeAttribute("aria-busy");
    note.remove();
  }, 300);
}
