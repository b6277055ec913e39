// Live preview for the template editor: the page works without this script; with it, the
// preview follows the text as it is typed. Sends the form (with its CSRF token) to
// /templates/NAME/preview and shows the plain-text answer.
(function () {
  "use strict";
  var form = document.getElementById("edit-form");
  var preview = document.getElementById("preview");
  if (!form || !preview) { return; }
  var timer = null;
  var seq = 0;
  function refresh() {
    var mine = ++seq;
    var body = new URLSearchParams(new FormData(form));
    body.set("action", "preview");
    fetch(form.getAttribute("action") + "/preview", {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" }
    }).then(function (r) { return r.text(); }).then(function (text) {
      if (mine === seq) { preview.textContent = text; }
    }).catch(function () {});
  }
  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(refresh, 300);
  }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
})();
