// The board: keeps the page's rows, the pager, the status tiles and the budget gauges in step with the status
// JSON (which carries the page's rows only), and ticks every countdown from the server's deadline.
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
    var pager = document.getElementById("pager");
    var rowAction = document.getElementById("row-action");

    function url(pattern, id) {
      return pattern.replace("ID", String(id));
    }

    function cell(tr, name) {
      return tr.querySelector('[data-cell="' + name + '"]');
    }

    function newRow(p) {
      var tr = template.content.firstElementChild.cloneNode(true);
      tr.id = "p-" + p.id;
      tr.dataset.policyId = String(p.id);
      cell(tr, "symbol").href = url(root.dataset.policyUrl, p.id);
      var select = cell(tr, "select");
      if (select) {
        select.value = String(p.id);
        select.setAttribute("aria-label", "Select " + (p.switch || p.symbol) + " of " + p.account);
      }
      var arm = tr.querySelector('[data-form="arm"]');
      var disarm = tr.querySelector('[data-form="disarm"]');
      if (arm) arm.setAttribute("formaction", url(root.dataset.armUrl, p.id));
      if (disarm) disarm.setAttribute("formaction", url(root.dataset.disarmUrl, p.id));
      return tr;
    }

    function fill(tr, p) {
      var cls = "policy-row row-" + p.status + (p.at_risk ? " row-risk" : "");
      if (tr.className !== cls) tr.className = cls;
      tr.dataset.expiresAtMs = p.expires_at_ms === null ? "" : String(p.expires_at_ms);
      tr.dataset.countdownMs = String(p.countdown_ms);
      // The whole label on hover, where the column cuts a long one short.
      ["account", "account-inline"].forEach(function (name) {
        var c = cell(tr, name);
        text(c, p.account);
        if (c && c.title !== p.account) c.title = p.account;
      });
      text(cell(tr, "venue"), p.venue);
      text(cell(tr, "venue-inline"), p.venue); // beside the symbol where the Venue column is left out
      // An OKX or Kraken Futures switch covers the whole account (or an OKX order tag): said in words.
      var symbol = cell(tr, "symbol");
      text(symbol, p.switch || p.symbol);
      var whole = p.covers === "account";
      symbol.classList.toggle("whole", whole);
      if (whole && !symbol.title) symbol.title = symbol.dataset.wholeTitle || "";
      if (!whole && symbol.title) symbol.removeAttribute("title");
      // An Options switch covers an underlying (every option on it): said beside the symbol.
      var covers = cell(tr, "covers");
      if (covers) covers.hidden = p.covers !== "underlying";
      text(cell(tr, "desired"), p.armed ? "Armed" : "Disarmed");
      var status = cell(tr, "status");
      if (status.className !== "status status-" + p.status) status.className = "status status-" + p.status;
      text(status, p.status_label);
      text(cell(tr, "detail"), p.detail);
      var lapse = cell(tr, "lapse");
      lapse.hidden = p.lapsed_at_ms === null;
      text(lapse, p.lapsed_at_ms === null ? "" : "Orders cancelled " + CG.fmtTime(p.lapsed_at_ms));
      var held = cell(tr, "held");
      held.hidden = !p.strategy;
      held.classList.toggle("held-on", Boolean(p.strategy && p.strategy.held));
      text(held, p.strategy_text || "");
      var stake = cell(tr, "stake");
      stake.hidden = !p.stake_text;
      text(stake, p.stake_text || "");
      var gone = p.orders && p.orders.gone_at_ms;
      if (gone) {
        lapse.hidden = false;
        text(lapse, "Orders cancelled: " + p.orders.gone_count + " gone at " + CG.fmtTime(gone) + " (the exchange's answer)");
      }
      text(cell(tr, "confirmed"), CG.fmtTime(p.confirmed_at_ms));
      text(cell(tr, "interval"), p.interval_s + " s / " + Math.round(p.countdown_ms / 1000) + " s");
      // A failing row's detail is its last error already: the column shows only what the detail does not.
      text(cell(tr, "error"), p.last_error === p.detail ? "" : p.last_error);
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
      if (data.page) showPage(data.page);

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

    // "101–200 of 1000 shown", the pager's page numbers and links; rows beyond this page are not sent.
    function showPage(page) {
      text(rowCount, (page.pages > 1 ? page.first + "–" + page.last + " of " : "") + page.total + " shown");
      text(document.querySelector('#selection [data-field="matching"]'), String(page.total));
      if (!pager) return;
      pager.hidden = page.pages <= 1;
      text(pager.querySelector('[data-field="page-number"]'), String(page.number));
      text(pager.querySelector('[data-field="page-count"]'), String(page.pages));
      var query = pager.dataset.query;
      var targets = { first: 1, previous: page.number - 1, next: page.number + 1, last: page.pages };
      Object.keys(targets).forEach(function (name) {
        var link = pager.querySelector('[data-page="' + name + '"]');
        if (!link) return;
        var backwards = name === "first" || name === "previous";
        link.hidden = backwards ? page.number <= 1 : page.number >= page.pages;
        var href = "?" + (query ? query + "&" : "") + "page=" + targets[name];
        if (link.getAttribute("href") !== href) link.setAttribute("href", href);
      });
    }

    function onTick(now) {
      Array.prototype.forEach.call(tbody.rows, function (tr) {
        var expires = tr.dataset.expiresAtMs;
        var remaining = expires === "" || expires === undefined ? null : Number(expires) - now;
        text(cell(tr, "remaining"), CG.fmtRemaining(remaining));
        var countdown = Number(tr.dataset.countdownMs) || 0;
        var pct = remaining === null || !countdown ? 0 : Math.max(0, Math.min(100, (100 * remaining) / countdown));
        var bar = cell(tr, "bar");
        var width = pct.toFixed(1);
        if (bar.getAttribute("width") !== width) bar.setAttribute("width", width);
      });
    }

    // A row's Arm or Disarm submits the page's one form; coming back, the browser scrolls to that row.
    if (rowAction) {
      tbody.addEventListener("click", function (event) {
        var button = event.target.closest("button[form='row-action']");
        var tr = button && button.closest("tr");
        if (!tr) return;
        var back = window.location.pathname + window.location.search + "#p-" + tr.dataset.policyId;
        rowAction.querySelector("input[name='next']").value = back;
      });
    }

    // The header's box ticks or clears every row of this page (rows keep their boxes across polls).
    var selectPage = document.getElementById("select-page");
    if (selectPage) {
      selectPage.addEventListener("change", function () {
        tbody.querySelectorAll('[data-cell="select"]').forEach(function (box) { box.checked = selectPage.checked; });
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
