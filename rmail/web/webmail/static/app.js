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

  // Live updates: the account's change stream, GET /users/me/updates (server-sent events of
  // the JSON API, opened with the session cookie). EventSource reconnects by itself and sends
  // Last-Event-ID, so the server resumes where the page stood (also after a restart). Each
  // burst of events refreshes the sidebar's counts from GET /users/me/mailboxes; a change of
  // the folder shown refreshes its list in place (fetched again, never a navigation), unless
  // the reader is paging or has rows checked: then rows are only updated where they stand.
  var compose = document.querySelector("aside.sidebar a.action-compose");
  if (window.EventSource && window.fetch && window.DOMParser && compose) {
    live(compose.href.replace(/\/webmail\/compose.*$/, ""));
  }

  function live(origin) {
    var source = new EventSource(origin + "/users/me/updates");
    var timer = null;
    var refreshList = false;  // the folder shown changed (or the stream said RESYNC)
    var running = false;

    function list() { return document.querySelector("section.message-list[data-live]"); }
    function shown() { var l = list(); return l ? l.getAttribute("data-mailbox") : null; }
    function busy() {
      var l = list();
      return !l || l.getAttribute("data-offset") !== "0" ||
        !!document.querySelector("input.row-check:checked");
    }
    // A burst of events is one refresh, and refreshes are at least a second apart (a flood of
    // mail costs two requests a second, well inside the server's per-IP rate limit).
    var last = 0;
    function soon() {
      if (!timer) timer = setTimeout(refresh, Math.max(250, last + 1000 - Date.now()));
    }

    function row(uid) {
      var l = list();
      return l && l.querySelector('tr.message-row[data-uid="' + Number(uid) + '"]');
    }
    function flagRow(uid, flags) {
      var tr = row(uid);
      if (!tr) return;
      var flagged = flags.indexOf("\\Flagged") >= 0;
      tr.setAttribute("data-flags", flags.join(" "));
      tr.classList.toggle("unread", flags.indexOf("\\Seen") < 0);
      tr.classList.toggle("flagged", flagged);
      var star = tr.querySelector("td.col-star");
      var button = star && star.querySelector("button.star");
      if (star) star.classList.toggle("flagged", flagged);
      if (button) {
        button.title = flagged ? "Unstar" : "Star";
        button.setAttribute("aria-label", flagged ? "Starred" : "Not starred");
      }
    }

    function counts(data) {
      (data.results || []).forEach(function (m) {
        document.querySelectorAll("aside.sidebar li.folder-item").forEach(function (li) {
          if (li.getAttribute("data-folder") !== m.path) return;
          li.setAttribute("data-total", m.total);
          li.setAttribute("data-unread", m.unseen);
          var count = li.querySelector(".count");
          if (count) count.textContent = m.unseen ? String(m.unseen) : "";
        });
        var l = list();
        if (l && m.id === shown() && String(m.total) !== l.getAttribute("data-total")) {
          refreshList = true;  // e.g. mail that came before this page's stream opened
        }
      });
    }

    // The folder page again, as it is now: its list, sidebar and title replace the shown ones.
    function reloadList() {
      return fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) {
          if (!r.ok || r.redirected) return null;  // logged out, or the folder went away
          return r.text();
        })
        .then(function (html) {
          if (!html || busy()) return;
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.querySelector("section.message-list[data-live]");
          var side = doc.querySelector("aside.sidebar");
          var l = list();
          if (!fresh || !l || fresh.getAttribute("data-mailbox") !== shown()) return;
          l.replaceWith(document.importNode(fresh, true));
          var oldSide = document.querySelector("aside.sidebar");
          if (side && oldSide) oldSide.replaceWith(document.importNode(side, true));
          document.title = doc.title;
        });
    }

    function refresh() {
      timer = null;
      if (running) { soon(); return; }
      running = true;
      last = Date.now();
      fetch(origin + "/users/me/mailboxes?counters=true",
            { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data) counts(data);
          if (refreshList && !busy()) {
            refreshList = false;
            return reloadList();
          }
        })
        .catch(function () { /* the next event or reconnect tries again */ })
        .then(function () { running = false; });
    }

    // Opened (again): anything that happened while no stream was open shows in the counts.
    source.addEventListener("open", soon);
    source.addEventListener("message", function (ev) {
      var e;
      try { e = JSON.parse(ev.data); } catch (err) { return; }
      var here = e.mailbox && e.mailbox === shown();
      if (e.command === "RESYNC" || (here && e.command === "EXISTS")) {
        refreshList = true;
      } else if (here && e.command === "EXPUNGE") {
        var tr = row(e.uid);
        if (tr) tr.remove();
        refreshList = true;
      } else if (here && e.command === "FLAGS") {
        flagRow(e.uid, e.flags || []);
      }
      soon();
    });
    // Logged out (or the password changed): the server ends the stream and refuses the
    // reconnection, and EventSource gives up by itself (readyState CLOSED).
  }
})();
