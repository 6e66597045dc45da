// Disarm all's confirmation: the alarm banners stay live while someone types the reason.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("disarm-all-page");
    if (root) CG.live({ url: root.dataset.statusUrl });
  });
})();
