// The moderation desk: keyboard shortcuts, the help overlay, bulk selection and
// the "live" indicator. Everything also works without this script.
"use strict";

(function () {
  function entries() { return Array.from(document.querySelectorAll("li.entry, article.entry.current")); }
  let current = -1;

  function select(index) {
    const list = entries();
    if (!list.length) return;
    current = Math.max(0, Math.min(index, list.length - 1));
    list.forEach(function (el, i) { el.classList.toggle("selected", i === current); });
    list[current].scrollIntoView({ block: "nearest" });
  }

  function selected() {
    const list = entries();
    if (current < 0 && list.length === 1) select(0);
    return list[current] || null;
  }

  function press(action) {
    const entry = selected();
    if (!entry) return;
    const target = entry.querySelector('[data-key-action="' + action + '"]');
    if (!target) return;
    if (target.tagName === "A") {
      window.location.assign(target.href);
    } else {
      target.click();
    }
  }

  function toggleHelp(force) {
    const help = document.getElementById("help");
    if (!help) return;
    help.hidden = force === undefined ? !help.hidden : !force;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    switch (event.key) {
      case "j": select(current + 1); break;
      case "k": select(current - 1); break;
      case "a": press("approve"); break;
      case "s": press("spam"); break;
      case "d": press("trash"); break;
      case "o": case "Enter": press("open"); break;
      case "r": {
        const reply = document.getElementById("reply-body");
        if (reply && entries().length === 1) { reply.focus(); break; }
        press("reply");
        break;
      }
      case "x": {
        const entry = selected();
        const box = entry && entry.querySelector('input[type="checkbox"]');
        if (box) box.checked = !box.checked;
        break;
      }
      case "?": toggleHelp(); break;
      case "Escape": toggleHelp(false); break;
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    const toggle = event.target.closest("[data-help-toggle]");
    if (toggle) toggleHelp();
  });

  const all = document.querySelector("[data-select-all]");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = all.checked; });
    });
  }

  // Focus the reply box after the browser has scrolled to the fragment (which
  // would otherwise take the focus away again).
  if (window.location.hash === "#reply-body") {
    window.addEventListener("load", function () {
      window.setTimeout(function () {
        const reply = document.getElementById("reply-body");
        if (reply) reply.focus();
      }, 0);
    });
  }

  const live = document.getElementById("live");
  if (live && live.dataset.liveUrl) {
    let tries = 0;
    const poll = function () {
      fetch(live.dataset.liveUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (state) {
          const text = live.querySelector("[data-live-text]");
          if (state.live) {
            text.textContent = live.dataset.textLive;
            const link = document.getElementById("live-link");
            if (link) link.hidden = false;
            live.classList.add("is-live");
            live.dataset.state = "live";
            return;
          }
          if (state.error) {
            text.textContent = live.dataset.textFailed + " (" + state.error + ")";
            live.classList.add("failed");
          }
          tries += 1;
          window.setTimeout(poll, tries < 20 ? 250 : 2000);
        })
        .catch(function () { window.setTimeout(poll, 2000); });
    };
    poll();
  }
})();
