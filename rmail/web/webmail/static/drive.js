// rmail drive enhancements: upload progress and copy buttons. Every page works without it.
"use strict";
(function () {
  var bar = document.querySelector("progress.upload-progress");
  document.querySelectorAll("form.upload-files, form.upload-folder").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.XMLHttpRequest || !window.FormData || !bar) return;
      ev.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total);
      });
      xhr.addEventListener("load", function () {
        // The server answers with a redirect to the folder (or an error page): show it.
        if (xhr.responseURL && xhr.status < 400) { window.location.href = xhr.responseURL; return; }
        document.open(); document.write(xhr.responseText); document.close();
      });
      xhr.addEventListener("error", function () { form.submit(); });
      var data = new FormData(form);  // before disabling: disabled fields are not sent
      bar.hidden = false; bar.value = 0;
      form.querySelectorAll("button").forEach(function (el) { el.disabled = true; });
      xhr.send(data);
    });
  });
  document.querySelectorAll("button.action-copy[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = button.getAttribute("data-copy");
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, function () {});
      } else {
        var input = button.parentNode.querySelector("input.share-link");
        if (input) { input.select(); document.execCommand("copy"); done(); }
      }
    });
  });
})();
