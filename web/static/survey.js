// Moves the one-time code from the link's fragment (#token=...) into the survey form and hides
// the field. The fragment never reaches a server, so no access log holds the code; the code is
// also removed from the address bar and history. Without JavaScript, the person pastes it.
"use strict";
(function () {
  function fill() {
    var match = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(window.location.hash || "");
    var input = document.getElementById("token");
    var field = document.getElementById("token-field");
    if (!match || !input || !field) {
      return;
    }
    input.value = match[1];
    field.hidden = true;
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", window.location.pathname);
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fill);
  } else {
    fill();
  }
})();
