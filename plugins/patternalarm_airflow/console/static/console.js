// patternalarm incident console: auto-refresh of the queue (the filter lives in the URL, so it is kept).
(function () {
  "use strict";
  if (document.body.dataset.page !== "queue") return;
  var box = document.getElementById("auto-refresh");
  var live = document.getElementById("queue-live");
  var stamp = document.getElementById("generated");
  if (!box || !live) return;
  var seconds = Number(box.dataset.seconds) || 15;
  var key = "patternalarm.console.autoRefresh";
  if (window.localStorage && localStorage.getItem(key) === "off") box.checked = false;
  box.addEventListener("change", function () {
    if (window.localStorage) localStorage.setItem(key, box.checked ? "on" : "off");
  });
  function refresh() {
    if (!box.checked || document.hidden) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("queue-live");
        var freshStamp = doc.getElementById("generated");
        if (fresh) live.replaceWith(fresh);
        live = fresh || live;
        if (freshStamp && stamp) stamp.textContent = freshStamp.textContent;
      })
      .catch(function (err) {
        if (stamp) stamp.textContent = "refresh failed (" + err.message + "); retrying";
      });
  }
  window.setInterval(refresh, seconds * 1000);
})();
