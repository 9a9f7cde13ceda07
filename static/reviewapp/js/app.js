// reviewapp: small progressive enhancements. Pages work without this file.
"use strict";

// The server answers a refused htmx request (400/403/404/409/429) with a readable panel and
// says where it goes (HX-Retarget): swap it in rather than dropping it, which is what htmx
// does with error responses by default. 5xx and network failures keep htmx's handling.
document.addEventListener("htmx:beforeSwap", function (ev) {
  var status = ev.detail.xhr.status;
  if (status >= 400 && status < 500 && ev.detail.xhr.responseText) {
    ev.detail.shouldSwap = true;
    ev.detail.isError = false;
  }
});

// Busy state of htmx actions: the target says aria-busy while the request is in flight and
// the pressed button shows a spinner (app.css); hx-disabled-elt disables the buttons.
document.addEventListener("htmx:beforeRequest", function (ev) {
  var target = ev.detail.target;
  if (target && target.setAttribute) target.setAttribute("aria-busy", "true");
  var config = ev.detail.requestConfig || {};
  var submitter = config.triggeringEvent && config.triggeringEvent.submitter;
  if (submitter && submitter.classList) {
    submitter.classList.add("is-busy");
    ev.detail.elt.__rvSubmitter = submitter;
  }
});
document.addEventListener("htmx:afterRequest", function (ev) {
  var target = ev.detail.target;
  if (target && target.removeAttribute) target.removeAttribute("aria-busy");
  var submitter = ev.detail.elt && ev.detail.elt.__rvSubmitter;
  if (submitter) {
    submitter.classList.remove("is-busy");
    ev.detail.elt.__rvSubmitter = null;
  }
});

// The top bar's menu is a <details> (it works without this file). Browsers that cannot
// style ::details-content get it opened on wide screens, where the menu button is hidden;
// Escape closes it on small screens.
(function () {
  var menu = document.querySelector("[data-topnav]");
  if (!menu) return;
  var wide = window.matchMedia("(min-width: 761px)");
  var styled = window.CSS && CSS.supports && CSS.supports("selector(::details-content)");
  function fit() {
    if (!styled && wide.matches) menu.open = true;
  }
  fit();
  if (wide.addEventListener) wide.addEventListener("change", fit);
  menu.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && menu.open && !wide.matches) {
      menu.open = false;
      menu.querySelector("summary").focus();
      ev.stopPropagation();
    }
  });
})();
