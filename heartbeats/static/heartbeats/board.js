// The board: keeps the rows, the status tiles and the budget gauges in step with the status JSON, and ticks
// every countdown from the server's deadline once a second.
(function () {
  "use strict";

  function text(el, value) {
    if (el && el.textContent !== value) el.textContent = value;
  }

  function start() {
    var root = document.getElementById("board");
    if (!root) return;
    var tbody = document.getElementById("policy-rows");
    var template = document.getElementById("policy-row-template");
    var emptyNote = document.getElementById("no-rows");
    var rowCount = document.getElementById("row-count");

    function url(pattern, id) {
      return pattern.replace("ID", String(id));
    }

    function cell(tr, name) {
      return tr.querySelector('[data-cell="' + name + '"]');
    }

    function newRow(p) {
      var tr = template.content.firstElementChild.cloneNode(true);
      tr.dataset.policyId = String(p.id);
      cell(tr, "symbol").href = url(root.dataset.policyUrl, p.id);
      var arm = tr.querySelector('[data-form="arm"]');
      var disarm = tr.querySelector('[data-form="disarm"]');
      if (arm) arm.action = url(root.dataset.armUrl, p.id);
      if (disarm) disarm.action = url(root.dataset.disarmUrl, p.id);
      return tr;
    }

    function fill(tr, p) {
      var cls = "policy-row row-" + p.status + (p.at_risk ? " row-risk" : "");
      if (tr.className !== cls) tr.className = cls;
      tr.dataset.expiresAtMs = p.expires_at_ms === null ? "" : String(p.expires_at_ms);
      tr.dataset.countdownMs = String(p.countdown_ms);
      text(cell(tr, "account"), p.account);
      text(cell(tr, "account-inline"), p.account);
      text(cell(tr, "venue"), p.venue);
      text(cell(tr, "symbol"), p.symbol);
      text(cell(tr, "desired"), p.armed ? "Armed" : "Disarmed");
      var status = cell(tr, "status");
      if (status.className !== "status status-" + p.status) status.className = "status status-" + p.status;
      text(status, p.status_label);
      text(cell(tr, "detail"), p.detail);
      var lapse = cell(tr, "lapse");
      lapse.hidden = p.lapsed_at_ms === null;
      text(lapse, p.lapsed_at_ms === null ? "" : "Orders cancelled " + CG.fmtTime(p.lapsed_at_ms));
      cell(tr, "detail").title = p.detail;
      text(cell(tr, "confirmed"), CG.fmtTime(p.confirmed_at_ms));
      text(cell(tr, "interval"), p.interval_s + " s / " + Math.round(p.countdown_ms / 1000) + " s");
      var error = cell(tr, "error");
      text(error, p.last_error);
      error.title = p.last_error;
      var arm = tr.querySelector('[data-form="arm"]');
      var disarm = tr.querySelector('[data-form="disarm"]');
      var failing = p.status === "failing";
      if (arm) arm.hidden = p.armed && !failing;
      if (disarm) disarm.hidden = !p.armed && !failing;
    }

    function onData(data) {
      var existing = {};
      Array.prototype.forEach.call(tbody.rows, function (tr) { existing[tr.dataset.policyId] = tr; });
      var wanted = data.policies.map(function (p) {
        var tr = existing[String(p.id)] || newRow(p);
        delete existing[String(p.id)];
        fill(tr, p);
        return tr;
      });
      Object.keys(existing).forEach(function (id) { existing[id].remove(); });
      // Move rows only when the order changed, so a button under the pointer stays put between polls.
      var same = wanted.length === tbody.rows.length && wanted.every(function (tr, i) { return tbody.rows[i] === tr; });
      if (!same) wanted.forEach(function (tr) { tbody.appendChild(tr); });
      emptyNote.hidden = wanted.length > 0;
      text(rowCount, wanted.length + " shown");

      Object.keys(data.counts).forEach(function (status) {
        var tile = document.querySelector('[data-tile="' + status + '"]');
        if (!tile) return;
        text(tile.querySelector('[data-field="count"]'), String(data.counts[status]));
        tile.classList.toggle("tile-nonzero", data.counts[status] > 0);
      });

      data.budget.forEach(function (b) {
        var gauge = document.querySelector('.gauge[data-egress="' + CSS.escape(b.egress) + '"]');
        if (!gauge) return;
        ["projected", "measured", "reserve", "limit", "available"].forEach(function (k) {
          text(gauge.querySelector('[data-field="' + k + '"]'), b[k] === null ? "—" : String(b[k]));
        });
        var pct = function (v) { return b.limit && v !== null ? Math.min(100, (100 * v) / b.limit) : 0; };
        gauge.querySelector('[data-field="projected-bar"]').setAttribute("width", pct(b.projected).toFixed(1));
        gauge.querySelector('[data-field="measured-bar"]').setAttribute("x", pct(b.measured).toFixed(1));
        var reserveStart = pct(b.limit - b.reserve);
        gauge.querySelector('[data-field="reserve-bar"]').setAttribute("x", reserveStart.toFixed(1));
        gauge.querySelector('[data-field="reserve-bar"]').setAttribute("width", (100 - reserveStart).toFixed(1));
        gauge.classList.toggle("gauge-over", b.available !== null && b.available < 0);
      });
    }

    function onTick(now) {
      Array.prototype.forEach.call(tbody.rows, function (tr) {
        var expires = tr.dataset.expiresAtMs;
        var remaining = expires === "" || expires === undefined ? null : Number(expires) - now;
        text(cell(tr, "remaining"), CG.fmtRemaining(remaining));
        var countdown = Number(tr.dataset.countdownMs) || 0;
        var pct = remaining === null || !countdown ? 0 : Math.max(0, Math.min(100, (100 * remaining) / countdown));
        cell(tr, "bar").setAttribute("width", pct.toFixed(1));
      });
    }

    // Filters apply as soon as they change; the Apply button remains for pages without JavaScript.
    var filters = document.getElementById("filters");
    if (filters) {
      filters.addEventListener("change", function () { filters.submit(); });
    }

    CG.live({ url: root.dataset.statusUrl, onData: onData, onTick: onTick });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
