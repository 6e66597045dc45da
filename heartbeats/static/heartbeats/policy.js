// A policy's page: its status and countdown stay live from the status JSON (filtered to this policy).
(function () {
  "use strict";

  function start() {
    var root = document.getElementById("policy-page");
    if (!root) return;
    var current = null;

    function cell(name) {
      return root.querySelector('[data-cell="' + name + '"]');
    }

    function set(name, value) {
      var el = cell(name);
      if (el && el.textContent !== value) el.textContent = value;
    }

    function onData(data) {
      current = data.policies[0] || null;
      if (!current) return;
      var status = cell("status");
      status.className = "status status-big status-" + current.status;
      set("status", current.status_label);
      set("detail", current.detail);
      set("error", current.last_error || "—");
      set("confirmed", CG.fmtDateTime(current.confirmed_at_ms));
      set("expires", CG.fmtDateTime(current.expires_at_ms));
      set("desired", current.armed ? "Armed" : "Disarmed");
      // Orders at stake follow the exchange's answers (a Cancel orders press, an expiry) without a reload.
      ["stake-label", "stake"].forEach(function (name) {
        var el = cell(name);
        if (el) el.hidden = !current.stake_text;
      });
      set("stake", current.stake_text || "");
      var left = cell("left");
      if (left) left.hidden = current.expires_at_ms === null;
      // The same rule as the board's rows: the button that changes something, both while failing.
      var failing = current.status === "failing";
      var arm = root.querySelector('[data-form="arm"]');
      var disarm = root.querySelector('[data-form="disarm"]');
      if (arm) arm.hidden = current.armed && !failing;
      if (disarm) disarm.hidden = !current.armed && !failing;
    }

    function onTick(now) {
      if (!current) return;
      set("remaining", CG.fmtRemaining(current.expires_at_ms === null ? null : current.expires_at_ms - now));
    }

    CG.live({ url: root.dataset.statusUrl, onData: onData, onTick: onTick });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
