// reviewapp: the reviewer's page. Keyboard shortcuts (a accept, o override, s skip,
// e escalate, n next case, z undo the last decision while its window lasts, g guidelines
// panel, f feedback box, y / u explanation helpful yes / no; in the open override drawer
// 1-9 pick a label in the order shown, then, with the reason select focused, a reason;
// Enter saves the open override, Ctrl+Enter the escalation note, Escape closes) and htmx
// niceties. Without this file every action is a plain form.
//
// No unseen decisions: for GUARD_MS after a panel showing another case appears, the decision
// keys (a, and Enter saving the override or label) are ignored, so that a double press
// decides one case only. The panel gets data-keys-armed once they work again.
"use strict";

(function () {
  var GUARD_MS = 400;
  var guardUntil = 0;
  var armedCaseId = null;
  var armedPanel = null;

  function panel() {
    return document.getElementById("case-panel");
  }

  // A panel appeared: when it shows another case than before, hold the decision keys back.
  function arm(root) {
    if (!root) return;
    armedPanel = root;
    var caseId = root.getAttribute("data-case-id");
    if (caseId && caseId !== armedCaseId) {
      guardUntil = Date.now() + GUARD_MS;
      window.setTimeout(function () {
        if (root.isConnected) root.setAttribute("data-keys-armed", "");
      }, GUARD_MS);
    } else {
      root.setAttribute("data-keys-armed", "");
    }
    armedCaseId = caseId;
    var undo = root.querySelector("[data-undo-ms]");
    if (undo) {
      // The undo window closes on the server; take the button away when it does.
      window.setTimeout(function () {
        if (undo.isConnected) undo.remove();
      }, parseInt(undo.getAttribute("data-undo-ms"), 10) || 0);
    }
  }

  function guarded() {
    return Date.now() < guardUntil;
  }

  function isDecision(el) {
    return !!(el && el.closest && el.closest("#decide-form"));
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

  // Pick the Nth non-empty option of SELECT (1-based); false when there is none.
  function pickOption(select, n) {
    var options = Array.prototype.filter.call(select.options, function (o) {
      return o.value !== "";
    });
    var option = options[n - 1];
    if (!option) return false;
    select.value = option.value;
    select.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  // Keys that act from the override drawer's selects too (their letters are not typeahead).
  var DRAWER_LETTERS = "fgyu";

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
      if (isDecision(drawer) && guarded()) {
        ev.preventDefault();
        return;
      }
      if (tag === "SELECT" && !ev.shiftKey) {
        ev.preventDefault();
        submitDrawer(drawer);
      } else if (tag === "TEXTAREA" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        submitDrawer(drawer);
      }
      return;
    }

    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var inOverride = !!(drawer && drawer.open && drawer.id === "override-drawer" &&
      root.contains(drawer) && target.tagName !== "TEXTAREA");
    if (inOverride && /^[1-9]$/.test(ev.key)) {
      // Number keys: a label (then on to the reason), or a reason once its select has focus.
      ev.preventDefault();
      var reason = drawer.querySelector("#id_reason_code");
      var labelSelect = drawer.querySelector("#id_final_label");
      var n = parseInt(ev.key, 10);
      if (target === reason) {
        pickOption(reason, n);
      } else if (labelSelect && pickOption(labelSelect, n) && reason) {
        reason.focus();
      }
      return;
    }
    var fromDrawer = inOverride && target.tagName === "SELECT" &&
      DRAWER_LETTERS.indexOf(ev.key) !== -1;
    if (isTyping(target) && !fromDrawer) return;
    if (!ev.key || ev.key.length !== 1) return;
    var el = root.querySelector('[data-key="' + ev.key.toLowerCase() + '"]');
    if (!el) return;
    ev.preventDefault();
    if (el.tagName !== "DETAILS" && isDecision(el) && guarded()) return;
    if (el.tagName === "DETAILS" && !el.hasAttribute("data-drawer")) {
      el.open = !el.open; // the guidelines panel: a toggle that leaves focus where it is
    } else if (el.tagName === "DETAILS") {
      openDrawer(root, el);
    } else if (el.tagName === "TEXTAREA") {
      el.focus();
    } else if (!el.disabled) {
      el.click();
    }
  });

  // The override drawer marks the chosen reason's definition.
  document.addEventListener("change", function (ev) {
    var select = ev.target;
    if (!select || select.id !== "id_reason_code") return;
    var defs = select.parentNode.querySelectorAll("[data-reason]");
    Array.prototype.forEach.call(defs, function (d) {
      d.classList.toggle("rv-current", d.getAttribute("data-reason") === select.value);
    });
  });

  // Opening a drawer by mouse also focuses its first field, and closes the other drawer.
  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (!d || !d.matches || !d.matches("details[data-drawer]") || !d.open) return;
    var root = panel();
    if (root) closeDrawers(root, d);
    // The toggle event comes after the key that opened the drawer, maybe after the next key
    // too (a number picking a label moves focus on to the reason): keep focus inside.
    if (!d.contains(document.activeElement)) focusFirstField(d);
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
  document.addEventListener("DOMContentLoaded", function () {
    shownPanel = panel();
    arm(shownPanel);
  });
  // Swaps inside the panel (the lease) keep it; a new panel element is armed once.
  document.addEventListener("htmx:afterSwap", function () {
    var root = panel();
    if (root && root !== armedPanel) arm(root);
  });
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
