// Confirmation pages (Disarm all, re-arm, a selection) and the maintenance page: the alarm banners stay live
// while someone types the reason.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("#disarm-all-page, #confirm-selection, #maintenance-page");
    if (root) CG.live({ url: root.dataset.statusUrl });
  });
})();
