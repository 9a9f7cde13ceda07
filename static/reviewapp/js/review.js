// reviewapp: the reviewer's page. Keyboard shortcuts (a accept, o override, s skip,
// e escalate, n next case; Enter saves the open override, Ctrl+Enter the escalation note,
// Escape closes) and htmx niceties. Without this file every action is a plain form.
"use strict";

(function () {
  function panel() {
    return document.getElementById("case-panel");
  }

  function isTyping(el) {
    if (!el || !el.tagName) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function drawers(root) {
    return Array.prototype.slice.call(root.querySelectorAll("details[data-drawer]"));
  }

  function closeDrawers(root, except) {
    drawers(root).forEach(function (d) {
      if (d !== except) d.open = false;
    });
  }

  function focusFirstField(drawer) {
    var field = drawer.querySelector("select, textarea, input:not([type=hidden])");
    if (field) field.focus();
  }

  function openDrawer(root, drawer) {
    closeDrawers(root, drawer);
    drawer.open = true;
    focusFirstField(drawer);
  }

  function submitDrawer(drawer) {
    var button = drawer.querySelector("[data-submit]");
    // click() (not requestSubmit) so that htmx sends the button's name=value.
    if (button) button.click();
  }

  document.addEventListener("keydown", function (ev) {
    var root = panel();
    if (!root || ev.defaultPrevented || ev.isComposing) return;
    var target = ev.target;
    var drawer = target && target.closest ? target.closest("details[data-drawer]") : null;

    if (ev.key === "Escape") {
      var open = drawers(root).filter(function (d) { return d.open; });
      if (open.length) {
        ev.preventDefault();
        closeDrawers(root, null);
        var summary = open[0].querySelector("summary");
        if (summary) summary.focus();
      }
      return;
    }

    if (ev.key === "Enter" && drawer && drawer.open && root.contains(drawer)) {
      var tag = target.tagName;
      if (tag === "SELECT" && !ev.shiftKey) {
        ev.preventDefault();
        submitDrawer(drawer);
      } else if (tag === "TEXTAREA" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        submitDrawer(drawer);
      }
      return;
    }

    if (ev.ctrlKey || ev.metaKey || ev.altKey || isTyping(target)) return;
    if (!ev.key || ev.key.length !== 1) return;
    var el = root.querySelector('[data-key="' + ev.key.toLowerCase() + '"]');
    if (!el) return;
    ev.preventDefault();
    if (el.tagName === "DETAILS") {
      openDrawer(root, el);
    } else if (!el.disabled) {
      el.click();
    }
  });

  // Opening a drawer by mouse also focuses its first field, and closes the other drawer.
  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (!d || !d.matches || !d.matches("details[data-drawer]") || !d.open) return;
    var root = panel();
    if (root) closeDrawers(root, d);
    focusFirstField(d);
  }, true);

  // 4xx panels are swapped in by app.js (every page).

  // A network failure or a server error: say so instead of silently doing nothing.
  function showFailure() {
    var root = panel();
    if (!root || root.querySelector(".rv-failure")) return;
    var p = document.createElement("p");
    p.className = "msg msg-error rv-failure";
    p.setAttribute("role", "alert");
    p.textContent = "The server did not answer. Your last action may not have been saved; reload the page to check.";
    root.insertBefore(p, root.firstChild);
  }
  document.addEventListener("htmx:sendError", showFailure);
  document.addEventListener("htmx:responseError", function (ev) {
    if (ev.detail.xhr.status >= 500) showFailure();
  });

  // After a new panel arrives (next case, queue list, problem): back to the top, and focus
  // its heading (or the field that needs fixing) so keyboard and screen-reader users follow.
  var shownPanel = null;
  document.addEventListener("DOMContentLoaded", function () { shownPanel = panel(); });
  document.addEventListener("htmx:afterSettle", function () {
    var root = panel();
    if (!root || root === shownPanel) return;
    shownPanel = root;
    window.scrollTo(0, 0);
    var invalid = root.querySelector("details[open] [aria-invalid=true], [aria-invalid=true]");
    var heading = root.querySelector("h1");
    if (invalid) {
      invalid.focus();
    } else if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
  });
})();
