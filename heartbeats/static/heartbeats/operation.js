// An operation's results: per-policy rows (disarmed, retrying, failed with the error) fill in as they arrive.
(function () {
  "use strict";

  function start() {
    var root = document.getElementById("operation-page");
    if (!root) return;
    var tbody = document.getElementById("result-rows");
    var progress = document.getElementById("progress");

    CG.live({ url: root.dataset.statusUrl });
    if (root.dataset.done === "1" || !tbody) return;

    var poller = CG.poll(root.dataset.resultsUrl, function (data) {
      data.results.forEach(function (r) {
        var tr = tbody.querySelector('tr[data-policy-id="' + r.policy + '"]');
        if (!tr) return;
        var result = tr.querySelector('[data-cell="result"]');
        result.className = "result result-" + r.result;
        result.textContent = r.result_label;
        tr.querySelector('[data-cell="error"]').textContent = r.error;
        tr.querySelector('[data-cell="now"]').textContent = r.now;
        tr.querySelector('[data-cell="attempts"]').textContent = String(r.attempts);
        tr.querySelector('[data-cell="at"]').textContent = r.at || "—";
      });
      Object.keys(data.counts).forEach(function (k) {
        var el = document.querySelector('[data-count="' + k + '"]');
        if (!el) return;
        el.textContent = String(data.counts[k]);
        el.parentNode.classList.toggle("tile-nonzero", data.counts[k] > 0);
      });
      // "Sending" turns "Retrying" once a first attempt failed (operations._tile_label).
      (data.tiles || []).forEach(function (t) {
        var el = document.querySelector('[data-count="' + t.result + '"]');
        if (el) el.parentNode.querySelector(".tile-label").textContent = t.label;
      });
      if (data.done) {
        progress.textContent = data.done_text;
        poller.stop();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
