// intake console: small enhancements over server-rendered pages. Every page works without
// this script except the live parts (counts, new rows, copy); nothing here builds markup
// from payload text: it only moves nodes the server rendered (and escaped).
"use strict";

const POLL_MS = 3000;

function parse(html) {
  return new DOMParser().parseFromString(html, "text/html");
}

async function fetchText(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (!response.ok) throw new Error(url + ": " + response.status);
  return response.text();
}

// Facet counts: loaded once the page shows, and again when new incidents arrive.
async function loadCounts() {
  const aside = document.getElementById("facets");
  if (!aside) return;
  try {
    const fragment = parse(await fetchText(aside.dataset.src));
    aside.replaceChildren(...Array.from(fragment.body.childNodes));
  } catch (e) {
    aside.textContent = "Counts are unavailable right now.";
  }
}

// Selection: the count of selected rows, and "select all on this page".
function selectedBoxes() {
  return Array.from(document.querySelectorAll('#incident-rows input[name="id"]:checked'));
}
function showSelection() {
  const label = document.getElementById("selected-count");
  if (!label) return;
  const n = selectedBoxes().length;
  label.textContent = n === 0 ? "Select incidents to change them" : n + " selected";
}
function wireSelectAll() {
  const all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", () => {
    document.querySelectorAll('#incident-rows input[name="id"]').forEach((box) => { box.checked = all.checked; });
    showSelection();
  });
}
function wireSelection() {
  wireSelectAll();
  document.addEventListener("change", (event) => {
    if (event.target.matches && event.target.matches('#incident-rows input[name="id"]')) showSelection();
  });
}

// Live feed: on the first page, ask every few seconds (while the tab is visible) whether a
// newer incident matches; if so, take the list from a fresh copy of this page, keeping the
// selection and marking the new rows.
function wireLive() {
  const list = document.getElementById("feed-list");
  const live = list && list.dataset.live;
  if (!live) return;
  let busy = false;
  async function check() {
    if (busy || document.visibilityState !== "visible") return;
    busy = true;
    try {
      const response = await fetch(live, { credentials: "same-origin" });
      if (!response.ok) return;
      const { newest } = await response.json();
      const shown = Number(document.getElementById("feed-list").dataset.newest);
      if (newest !== null && newest > shown) await refresh(shown);
    } catch (e) {
      // The next check tries again.
    } finally {
      busy = false;
    }
  }
  setInterval(check, POLL_MS);
  document.addEventListener("visibilitychange", check);
}

async function refresh(shownNewest) {
  const page = parse(await fetchText(location.href));
  const fresh = page.getElementById("feed-list");
  if (!fresh) return;
  const checked = new Set(selectedBoxes().map((box) => box.value));
  fresh.querySelectorAll("#incident-rows tr").forEach((row) => {
    if (Number(row.dataset.id) > shownNewest) row.classList.add("fresh");
    const box = row.querySelector('input[name="id"]');
    if (box && checked.has(box.value)) box.checked = true;
  });
  document.getElementById("feed-list").replaceWith(document.adoptNode(fresh));
  const pager = page.querySelector(".pager");
  if (pager) document.querySelector(".pager").replaceWith(document.adoptNode(pager));
  wireSelectAll();
  localTimes();
  showSelection();
  loadCounts();
}

// Times: the reader's local time and how long ago, beside the stored UTC time.
function localTimes() {
  const now = Date.now();
  document.querySelectorAll("time[datetime]:not([data-local])").forEach((el) => {
    const at = new Date(el.getAttribute("datetime"));
    if (isNaN(at)) return;
    el.dataset.local = "1";
    el.title = el.textContent;
    const seconds = Math.round((now - at.getTime()) / 1000);
    // Only past times get "ago" (a certificate's expiry is in the future).
    const ago = seconds < 0 ? null
      : seconds < 60 ? "just now"
      : seconds < 3600 ? Math.floor(seconds / 60) + " min ago"
      : seconds < 86400 ? Math.floor(seconds / 3600) + " h ago"
      : null;
    const local = at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
    el.textContent = ago ? local + " · " + ago : local;
  });
}

// Copy buttons copy the text of the element they name.
function wireCopy() {
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = "Copied";
      } catch (e) {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
  });
}

// Live fragments: an element with data-live is replaced, every few seconds while the tab is
// visible, by the same element of the server's fresh rendering of its URL.
function wireLiveFragments() {
  document.querySelectorAll("[data-live]:not(#feed-list)").forEach((box) => {
    let busy = false;
    let last = null;
    async function check() {
      if (busy || document.visibilityState !== "visible") return;
      busy = true;
      try {
        const html = await fetchText(box.dataset.live);
        // Unchanged: leave the nodes (and any text the admin is selecting) alone.
        if (html === last) return;
        last = html;
        const fragment = parse(html);
        box.replaceChildren(...Array.from(fragment.body.childNodes).map((n) => document.adoptNode(n)));
        localTimes();
      } catch (e) {
        // The next check tries again.
      } finally {
        busy = false;
      }
    }
    setInterval(check, POLL_MS);
    document.addEventListener("visibilitychange", check);
  });
}

// A file chosen in <input type=file data-fills=ID> is read into the text field ID, so the
// form sends text (pasting works the same without this script).
function wireFileFills() {
  document.querySelectorAll("input[type=file][data-fills]").forEach((input) => {
    input.addEventListener("change", async () => {
      const file = input.files && input.files[0];
      if (file) document.getElementById(input.dataset.fills).value = await file.text();
    });
  });
}

// Mapping preview: as the admin types, the draft runs over the stored samples on the server
// and the preview panel is replaced by its answer (the newest answer wins).
function wirePreview() {
  const form = document.getElementById("mapping-form");
  const body = document.getElementById("preview-body");
  if (!form || !body) return;
  let timer = null;
  let asked = 0;
  async function run() {
    const mine = ++asked;
    try {
      const response = await fetch(form.dataset.preview, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(new FormData(form)),
      });
      if (!response.ok || mine !== asked) return;
      const fragment = parse(await response.text());
      if (mine !== asked) return;
      body.replaceChildren(...Array.from(fragment.body.childNodes).map((n) => document.adoptNode(n)));
    } catch (e) {
      // The next edit tries again.
    }
  }
  const later = () => { clearTimeout(timer); timer = setTimeout(run, 300); };
  form.addEventListener("input", later);
  form.addEventListener("change", later);
}

document.addEventListener("DOMContentLoaded", () => {
  wireLiveFragments();
  wirePreview();
  wireFileFills();
  loadCounts();
  wireSelection();
  wireLive();
  localTimes();
  wireCopy();
});
