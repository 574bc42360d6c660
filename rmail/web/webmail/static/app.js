// rmail webmail enhancements. Every page works without this file.
"use strict";
(function () {
  // Keyboard: "c" compose, "/" search, "j"/"k" move between rows, "Enter" opens.
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    var rows = Array.prototype.slice.call(document.querySelectorAll("tr.message-row"));
    var cur = document.querySelector("tr.message-row.cursor");
    var i = rows.indexOf(cur);
    if (ev.key === "/") {
      var q = document.querySelector(".search-form input[name=q]");
      if (q) { q.focus(); ev.preventDefault(); }
    } else if (ev.key === "c") {
      var c = document.querySelector("a.action-compose");
      if (c) window.location.href = c.href;
    } else if ((ev.key === "j" || ev.key === "k") && rows.length) {
      if (cur) cur.classList.remove("cursor");
      i = ev.key === "j" ? Math.min(rows.length - 1, i + 1) : Math.max(0, i < 0 ? 0 : i - 1);
      rows[i].classList.add("cursor");
      rows[i].scrollIntoView({ block: "nearest" });
    } else if (ev.key === "Enter" && cur) {
      var link = cur.querySelector("a.message-link");
      if (link) window.location.href = link.href;
    } else if (ev.key === "x" && cur) {
      var box = cur.querySelector("input.row-check");
      if (box) box.checked = !box.checked;
    }
  });

  // Sandboxed message frames (same origin, no scripts inside): size them to their content.
  function fit(frame) {
    try {
      var doc = frame.contentDocument;
      if (doc && doc.documentElement) {
        frame.style.height = (doc.documentElement.scrollHeight + 24) + "px";
      }
    } catch (e) { /* not same-origin: keep the CSS height */ }
  }
  document.querySelectorAll("iframe.msg-frame").forEach(function (frame) {
    frame.addEventListener("load", function () { fit(frame); });
    fit(frame);
  });

  // Live updates: the server-sent event stream says that a folder changed.
  var list = document.querySelector("section.message-list[data-live]");  // folder pages only
  if (window.EventSource && document.querySelector("aside.sidebar")) {
    var base = document.querySelector("a.action-compose");
    if (!base) return;
    var url = base.href.replace(/\/webmail\/compose.*$/, "/webmail/events");
    var source = new EventSource(url);
    var pending = null;
    source.addEventListener("folders", function (ev) {
      var data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      (data.folders || []).forEach(function (f) {
        document.querySelectorAll("li.folder-item").forEach(function (li) {
          if (li.getAttribute("data-folder") !== f.name) return;
          li.setAttribute("data-total", f.total);
          li.setAttribute("data-unread", f.unread);
          var count = li.querySelector(".count");
          if (count) count.textContent = f.unread ? String(f.unread) : "";
        });
        if (list && list.getAttribute("data-folder") === f.name &&
            String(f.total) !== list.getAttribute("data-total")) {
          var offset = document.querySelector(".page-info");
          var atTop = !offset || offset.getAttribute("data-offset") === "0";
          var busy = document.querySelector("input.row-check:checked");
          if (atTop && !busy && !pending) {
            pending = setTimeout(function () { window.location.reload(); }, 300);
          }
        }
      });
    });
  }
})();
