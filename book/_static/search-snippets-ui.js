// Adds a readable snippet to each search result, from _static/search-snippets.js (see
// _ext/search_snippets.py). It works over file:// too: nothing is downloaded.
(() => {
  "use strict";
  const WIDTH = 240;  // characters of context shown

  const terms = () =>
    (new URLSearchParams(window.location.search).get("q") || "")
      .toLowerCase().split(/\s+/).filter((t) => t.length > 1);

  // Where the first term (or, failing that, its first five letters, as Sphinx stems) occurs.
  const find = (text, words) => {
    const lower = text.toLowerCase();
    for (const candidates of [words, words.map((w) => w.slice(0, 5))]) {
      for (const word of candidates) {
        const at = lower.indexOf(word);
        if (at > -1) return at;
      }
    }
    return -1;
  };

  const sectionText = (href) => {
    const data = window.ONEBYONE_SEARCH_SNIPPETS || {};
    const url = new URL(href, window.location.href);
    const root = new URL(document.documentElement.dataset.content_root || "./", window.location.href);
    const docname = decodeURIComponent(url.pathname.slice(root.pathname.length)).replace(/\.html$/, "");
    const sections = data[docname] || [];
    const words = terms();
    const own = sections.find(([anchor]) => anchor && anchor === url.hash);
    if (own && find(own[1], words) > -1) return own[1];
    const hit = sections.find(([, text]) => find(text, words) > -1);
    return hit ? hit[1] : (sections[0] || ["", ""])[1];
  };

  const snippet = (text, words) => {
    const at = Math.max(find(text, words), 0);
    const start = Math.max(at - WIDTH / 2, 0);
    const cut = text.slice(start, start + WIDTH).trim();
    const paragraph = document.createElement("p");
    paragraph.classList.add("context");
    const shown = (start > 0 ? "… " : "") + cut + (start + WIDTH < text.length ? " …" : "");
    // Highlight the terms with text nodes only (no HTML is parsed).
    const pattern = new RegExp(`(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`, "ig");
    for (const part of shown.split(pattern)) {
      if (words.includes(part.toLowerCase())) {
        const span = paragraph.appendChild(document.createElement("span"));
        span.classList.add("highlighted");
        span.textContent = part;
      } else {
        paragraph.appendChild(document.createTextNode(part));
      }
    }
    return paragraph;
  };

  const annotate = (item) => {
    const link = item.querySelector("a");
    if (!link || item.querySelector("p.context")) return;
    const text = sectionText(link.getAttribute("href"));
    if (text) item.appendChild(snippet(text, terms()));
  };

  const start = () => {
    const results = document.getElementById("search-results");
    if (!results) return;
    new MutationObserver(() => results.querySelectorAll("ul.search > li").forEach(annotate))
      .observe(results, { childList: true, subtree: true });
  };
  if (document.readyState !== "loading") start();
  else document.addEventListener("DOMContentLoaded", start);
})();
