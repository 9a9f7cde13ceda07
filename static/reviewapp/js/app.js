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
