/* Live refresh of the reception dashboard.
 * Every data-interval seconds it fetches the server-rendered figures (fragment/) and swaps
 * them in. A failed refresh keeps the last figures and shows "hors ligne". It pauses while the
 * tab is hidden or the browser offline and refreshes at once when back. Changed figures are
 * announced politely to screen readers. A wall screen (data-forbidden="reload") that gets 403
 * was revoked: it reloads, and is asked for a pairing code. No build step, no dependency. */
(function () {
  "use strict";

  function start() {
    var live = document.getElementById("rs-live");
    if (!live) { return; }
    var url = live.dataset.refreshUrl;
    var interval = Math.max(parseInt(live.dataset.interval, 10) || 30, 10) * 1000;
    var updated = document.getElementById("rs-updated");
    var offline = document.getElementById("rs-offline");
    var announce = document.getElementById("rs-announce");
    var timer = null;
    var inFlight = false;

    // Submitting the controls on change keeps the choice in the URL.
    var controls = document.getElementById("rs-controls");
    if (controls) {
      controls.addEventListener("change", function () { controls.submit(); });
    }

    function values(root) {
      var found = {};
      root.querySelectorAll(".rs-card-value").forEach(function (node) {
        found[node.dataset.label] = node.textContent.trim();
      });
      return found;
    }

    function setOffline(isOffline) {
      offline.hidden = !isOffline;
      var figures = live.querySelector(".rs-figures");
      if (figures) { figures.classList.toggle("rs-offline-figures", isOffline); }
      live.dataset.offline = isOffline ? "true" : "false";
    }

    function apply(html) {
      var before = values(live);
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var figures = holder.querySelector(".rs-figures");
      if (!figures) { throw new Error("unexpected answer"); }
      live.replaceChildren(figures);
      if (figures.dataset.updated) {
        updated.textContent = live.dataset.updatedTemplate.replace("%(time)s", figures.dataset.updated);
      }
      var after = values(live);
      var changes = Object.keys(after).filter(function (label) {
        return label in before && before[label] !== after[label];
      }).map(function (label) {
        return live.dataset.changedTemplate.replace("%(label)s", label).replace("%(value)s", after[label]);
      });
      if (changes.length) { announce.textContent = changes.join(" ; "); }
    }

    function refresh() {
      if (inFlight || document.hidden || !navigator.onLine) { return; }
      inFlight = true;
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "XMLHttpRequest" } })
        .then(function (response) {
          // A wall screen revoked meanwhile: the page itself then asks for a pairing code.
          if (response.status === 403 && live.dataset.forbidden === "reload") {
            window.location.reload();
            return new Promise(function () {});
          }
          // 503 means no figures at all: keep the last ones on screen.
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.text();
        })
        .then(function (html) { apply(html); setOffline(false); })
        .catch(function () { setOffline(true); })
        .finally(function () { inFlight = false; });
    }

    function schedule() {
      window.clearInterval(timer);
      timer = window.setInterval(refresh, interval);
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { refresh(); schedule(); }
    });
    window.addEventListener("online", function () { refresh(); schedule(); });
    window.addEventListener("offline", function () { setOffline(true); });
    schedule();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
