// Shared by the live pages. Polls a JSON view (every second while the tab is visible, every five when it is
// hidden), estimates the server's clock from each answer, ticks countdowns from the server's deadlines, and
// raises the alarm banners. Statuses come from the server as they are; nothing here re-derives them.
(function () {
  "use strict";

  var FAST_MS = 1000;
  var SLOW_MS = 5000;
  var TICK_MS = 200;
  var STALE_DATA_MS = 3500; // a visible page that has not heard from the server for this long says so
  var OFFSET_SAMPLES = 10;

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  // m:ss (h:mm:ss past an hour), rounded up so 0:00 means run out; the server formats the same way.
  function fmtRemaining(ms) {
    if (ms === null || ms === undefined || ms === "") return "—";
    var s = Math.max(0, Math.ceil(ms / 1000));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    return h ? h + ":" + pad(m) + ":" + pad(sec) : m + ":" + pad(sec);
  }

  function fmtTime(ms) {
    if (ms === null || ms === undefined) return "—";
    return new Date(ms).toISOString().slice(11, 19);
  }

  function fmtDateTime(ms) {
    if (ms === null || ms === undefined) return "—";
    return new Date(ms).toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  function schedule(fn) {
    return setTimeout(fn, document.hidden ? SLOW_MS : FAST_MS);
  }

  // Poll `url` and hand each JSON answer to onData. Returns {pollNow, lastOk, stop}.
  function poll(url, onData, onSignedOut) {
    var timer = null;
    var busy = false;
    var stopped = false;
    var state = { lastOk: Date.now() }; // the page itself was rendered from fresh data

    function run() {
      clearTimeout(timer);
      if (busy || stopped) return;
      busy = true;
      var sent = Date.now();
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (resp) {
          if (resp.redirected || resp.status === 401 || resp.status === 403) {
            // Signed out or role removed: the reload shows the sign-in or refusal page.
            stopped = true;
            (onSignedOut || function () { window.location.reload(); })();
            return null;
          }
          if (!resp.ok) throw new Error("HTTP " + resp.status);
          return resp.json();
        })
        .then(function (body) {
          if (!body) return;
          var received = Date.now();
          state.lastOk = received;
          onData(body, sent, received);
        })
        .catch(function () { /* the data-stale banner reports it */ })
        .then(function () {
          busy = false;
          if (!stopped) timer = schedule(run);
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) run();
    });
    run();
    return {
      state: state,
      pollNow: run,
      stop: function () { stopped = true; clearTimeout(timer); },
    };
  }

  function banner(name) {
    return document.querySelector('[data-banner="' + name + '"]');
  }

  function show(name, on) {
    var el = banner(name);
    if (el && el.hidden === on) el.hidden = !on;
  }

  function setField(name, text) {
    var el = document.querySelector('[data-field="' + name + '"]');
    if (el && el.textContent !== text) el.textContent = text;
  }

  // The "Orders cancelled" banner: a line per countdown that ran out in the last hour, the newest few.
  var LAPSES_LISTED = 5;
  var shownLapses = null;
  function showLapses(lapses) {
    var key = JSON.stringify(lapses);
    if (key === shownLapses) return;
    shownLapses = key;
    show("lapsed", lapses.length > 0);
    var list = document.querySelector('[data-field="lapses"]');
    if (!list) return;
    var policyUrl = list.dataset.policyUrl;
    while (list.firstChild) list.removeChild(list.firstChild);
    lapses.slice(0, LAPSES_LISTED).forEach(function (l) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = policyUrl.replace("ID", String(l.policy));
      link.textContent = l.account + " " + (l.switch || l.symbol);
      li.appendChild(link);
      var resumed = l.resumed_at_ms === null
        ? "not beaten since."
        : (l.resumed_by === "arm" ? "armed again" : "disarmed") + " at " + fmtTime(l.resumed_at_ms) + " UTC.";
      li.appendChild(document.createTextNode(" ran out at " + fmtTime(l.expired_at_ms) + " UTC; " + resumed));
      list.appendChild(li);
    });
    if (lapses.length > LAPSES_LISTED) {
      var more = document.createElement("li");
      more.textContent = "and " + (lapses.length - LAPSES_LISTED) + " more, each marked on the board.";
      list.appendChild(more);
    }
  }

  // The maintenance banners: a line per running window and per scheduled one, in the words the server
  // renders, each with a link to its window.
  var shownMaintenance = {};
  function showMaintenance(banner, windows) {
    var key = JSON.stringify(windows);
    if (key === shownMaintenance[banner]) return;
    shownMaintenance[banner] = key;
    show(banner, windows.length > 0);
    var list = document.querySelector('[data-field="' + banner + '"]');
    if (!list) return;
    while (list.firstChild) list.removeChild(list.firstChild);
    windows.forEach(function (w) {
      var li = document.createElement("li");
      li.appendChild(document.createTextNode(w.text + " "));
      var link = document.createElement("a");
      link.href = w.url;
      link.textContent = "Window #" + w.id;
      li.appendChild(link);
      list.appendChild(li);
    });
  }

  // Alert channels that did not take their latest message, in the words the server renders.
  var shownAlertFailures = null;
  function showAlertFailures(failures) {
    var key = JSON.stringify(failures);
    if (key === shownAlertFailures) return;
    shownAlertFailures = key;
    show("alerts-failing", failures.length > 0);
    var list = document.querySelector('[data-field="alert-failures"]');
    if (!list) return;
    while (list.firstChild) list.removeChild(list.firstChild);
    failures.forEach(function (f) {
      var li = document.createElement("li");
      li.textContent = f.channel + ": " + (f.status === "failed" ? "given up" : "retrying") + " since " +
        fmtTime(f.at_ms) + " UTC" + (f.error ? " (" + f.error + ")" : "");
      list.appendChild(li);
    });
  }

  // Duties whose runs keep failing (heartbeats.duties), in the words the server renders.
  var shownDutyFailures = null;
  function showDutyFailures(failures) {
    var key = JSON.stringify(failures);
    if (key === shownDutyFailures) return;
    shownDutyFailures = key;
    show("duties-failing", failures.length > 0);
    var list = document.querySelector('[data-field="duty-failures"]');
    if (!list) return;
    while (list.firstChild) list.removeChild(list.firstChild);
    failures.forEach(function (d) {
      var li = document.createElement("li");
      li.textContent = d.name + ": " + d.failures + " run" + (d.failures === 1 ? "" : "s") + " in a row since " +
        fmtTime(d.since_ms) + " UTC (" + d.error + ")";
      list.appendChild(li);
    });
  }

  // The live picture: opts.url (the status JSON), opts.onData(data), opts.onTick(serverNowMs).
  function live(opts) {
    var samples = []; // {rtt, offset}
    var offset = 0; // server clock − browser clock, ms
    var data = null;
    var visibleSince = Date.now();

    function serverNow() {
      return Date.now() + offset;
    }

    function onData(body, sent, received) {
      // The server read its clock about halfway through the round trip; the sample with the shortest round
      // trip among the last few is the most trustworthy.
      samples.push({ rtt: received - sent, offset: body.server_time_ms - (sent + received) / 2 });
      if (samples.length > OFFSET_SAMPLES) samples.shift();
      var best = samples[0];
      samples.forEach(function (s) { if (s.rtt < best.rtt) best = s; });
      offset = best.offset;
      data = body;
      if (body.lapses) showLapses(body.lapses);
      if (body.maintenance) showMaintenance("maintenance", body.maintenance);
      if (body.upcoming_maintenance) showMaintenance("maintenance-upcoming", body.upcoming_maintenance);
      if (body.alert_failures) showAlertFailures(body.alert_failures);
      if (body.duty_failures) showDutyFailures(body.duty_failures);
      if (opts.onData) opts.onData(body);
      tick();
    }

    var poller = poll(opts.url, onData);

    function tick() {
      var now = serverNow();
      if (data) {
        var e = data.engine;
        // Re-evaluated on every tick, not only on every poll: if polls stop arriving, the engine's last sign of
        // life still ages and the banner still goes up.
        var engineDown = !e.alive || e.seen_at_ms === null || now - e.seen_at_ms > e.stale_after_ms;
        // An engine alive but unable to read the database has a banner of its own.
        var deaf = e.deaf_since_ms !== null && e.seen_at_ms !== null && now - e.seen_at_ms <= e.stale_after_ms;
        show("engine-deaf", deaf);
        if (deaf) setField("engine-deaf-since", fmtTime(e.deaf_since_ms) + " UTC");
        show("engine-down", engineDown && !deaf);
        show("engine-note", !!e.note);
        if (e.note) setField("engine-note", e.note);
        setField("engine-seen", e.seen_at_ms ? fmtTime(e.seen_at_ms) + " UTC" : "never");
        show("banned", e.banned_until !== null && e.banned_until > now);
        if (e.banned_until) setField("banned-until", fmtTime(e.banned_until) + " UTC");
        show("rate-limited", e.rate_limited_until !== null && e.rate_limited_until > now);
        if (e.rate_limited_until) setField("rate-limited-until", fmtTime(e.rate_limited_until) + " UTC");
        var clockOff = e.clock_offset_ms !== null && Math.abs(e.clock_offset_ms) > e.clock_offset_warn_ms;
        show("clock", clockOff);
        if (e.clock_offset_ms !== null) setField("clock-offset", e.clock_offset_ms + " ms");
      }
      var age = Date.now() - poller.state.lastOk;
      var stale = !document.hidden && age > STALE_DATA_MS && Date.now() - visibleSince > STALE_DATA_MS;
      show("data-stale", stale);
      if (stale) setField("data-age", Math.round(age / 1000) + " s");
      var clock = document.getElementById("server-clock");
      if (clock) clock.textContent = fmtTime(now) + " UTC";
      if (opts.onTick) opts.onTick(now);
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) visibleSince = Date.now();
    });
    setInterval(tick, TICK_MS);
    tick();
    return { serverNow: serverNow };
  }

  // Large type for wall screens, remembered per browser; ?size=large does the same from the server.
  function largeTypeToggle() {
    var button = document.getElementById("toggle-large");
    if (!button) return;
    var stored = null;
    try { stored = window.localStorage.getItem("cg-large"); } catch (err) { /* private mode */ }
    if (stored === "1") document.body.classList.add("large");
    button.hidden = false;
    button.addEventListener("click", function () {
      var on = document.body.classList.toggle("large");
      try { window.localStorage.setItem("cg-large", on ? "1" : "0"); } catch (err) { /* private mode */ }
    });
  }

  window.CG = {
    live: live,
    poll: poll,
    fmtRemaining: fmtRemaining,
    fmtTime: fmtTime,
    fmtDateTime: fmtDateTime,
  };
  document.addEventListener("DOMContentLoaded", largeTypeToggle);
})();
