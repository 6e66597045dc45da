// Confirmation pages (Disarm all, re-arm, a selection), the maintenance, alerts and duties pages: the banners
// stay live while someone types the reason.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector(
      "#disarm-all-page, #confirm-selection, #maintenance-page, #alerts-page, #cancel-orders-page, #strategies-page, " +
        "#duties-page"
    );
    if (root) CG.live({ url: root.dataset.statusUrl });
  });
})();
