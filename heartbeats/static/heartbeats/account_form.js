// The account form offers, for the venue chosen, only the key types and environments that venue has: an OKX
// or Kraken Futures account gets HMAC and its own hosts without a refused save (which would ask for the
// secret again). The server checks the same rules (AccountForm.clean); this only spares the round trip.
(function () {
  "use strict";

  function start() {
    var venue = document.getElementById("id_venue");
    if (!venue || !venue.dataset.venues) return;
    var facts = JSON.parse(venue.dataset.venues);
    var keyType = document.getElementById("id_key_type");
    var environment = document.getElementById("id_environment");

    function offer(select, allowed) {
      if (!select) return;
      var first = null;
      Array.prototype.forEach.call(select.options, function (option) {
        var ok = allowed.indexOf(option.value) >= 0;
        option.disabled = !ok;
        option.hidden = !ok;
        if (ok && first === null) first = option.value;
      });
      if (allowed.indexOf(select.value) < 0 && first !== null) select.value = first;
    }

    function apply() {
      var venueFacts = facts[venue.value];
      if (!venueFacts) return;
      offer(keyType, venueFacts.key_types);
      offer(environment, venueFacts.environments);
    }

    venue.addEventListener("change", apply);
    apply();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
