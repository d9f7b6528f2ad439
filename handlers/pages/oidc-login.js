// The hosted login page follows its QR login by long-poll: on confirm or
// cancel it continues to /oidc/login/continue, on expiry it shows a fresh code.
(function () {
  "use strict";
  var authID = document.getElementById("login").dataset.authorizationId;
  var img = document.getElementById("qr"), link = document.getElementById("qr-url");
  var status = document.getElementById("status"), fresh = document.getElementById("fresh");
  var qr = img.dataset.qrId, known = "PENDING", round = 0;
  function say(t) { status.textContent = t; }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
  function go(path) { window.location.assign(path + "?id=" + encodeURIComponent(authID) + "&qr=" + encodeURIComponent(qr)); }
  async function follow(mine) {
    while (mine === round) {
      var r;
      try {
        r = await fetch("/oidc/login/wait?qr=" + encodeURIComponent(qr) + "&known=" + known, {credentials: "same-origin", cache: "no-store"});
      } catch (e) { await sleep(1000); continue; }
      if (mine !== round) return;
      if (!r.ok) { say("This QR code can no longer be used."); fresh.hidden = false; return; }
      var st = await r.json();
      known = st.state;
      switch (st.state) {
      case "SCANNED":
        say("Scanned" + (st.scanned_by && st.scanned_by.display_name ? " by " + st.scanned_by.display_name : "") + ": confirm on your phone.");
        break;
      case "CONFIRMED":
        say("Confirmed. Signing you in…"); go("/oidc/login/continue"); return;
      case "CANCELLED":
        say("Cancelled on the phone."); go("/oidc/login/continue"); return;
      case "EXPIRED":
        say("The QR code expired."); await renew(); return;
      case "CONSUMED":
        say("This QR code was already used."); fresh.hidden = false; return;
      }
    }
  }
  async function renew() {
    fresh.hidden = true;
    var r = await fetch("/oidc/login/qr?id=" + encodeURIComponent(authID), {method: "POST", credentials: "same-origin"});
    if (!r.ok) { say("This sign-in expired. Go back to the web app and start again."); return; }
    var q = await r.json();
    qr = q.qr_id; known = "PENDING"; round++;
    img.src = q.image_url; img.dataset.qrId = q.qr_id;
    link.href = q.qr_url; link.textContent = q.qr_url;
    say("Waiting for a scan…");
    follow(round);
  }
  fresh.addEventListener("click", renew);
  follow(round);
})();
