// The second factor page: once a passkey is added (django-otp-webauthn's script says so with an event), show
// the page again, with the new passkey and, for a first one, the recovery codes.
(function () {
  "use strict";

  document.addEventListener("otp_webauthn.register_complete", function () {
    var page = document.getElementById("second-factor-page");
    if (page) window.location.assign(page.dataset.afterPasskey);
  });
})();
