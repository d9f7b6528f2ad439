// The hosted login page follows its QR login by long-poll: on confirm or
// cancel it continues to /oidc/login/continue, on expiry it shows a fresh code.
// Its alternatives (a password, a one-time code) are JSON calls that answer
// where the browser goes next once signed in.
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

  function byId(id) { return document.getElementById(id); }
  // call posts one of the alternatives; a sign-in goes on to the code.
  async function call(path, body) {
    var r;
    try {
      r = await fetch("/oidc/login/" + path + "?id=" + encodeURIComponent(authID), {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)
      });
    } catch (e) { return {error: "The server could not be reached. Try again."}; }
    var data = {};
    try { data = await r.json(); } catch (e) { /* no body */ }
    if (r.ok && data.redirect) { round++; say("Signed in. Taking you back…"); window.location.assign(data.redirect); }
    if (r.ok) { return {data: data}; }
    return {error: explain(data)};
  }
  function explain(p) {
    switch (p.code) {
    case "invalid_credentials": return "Wrong username or password.";
    case "invalid_otp": return "Wrong or expired code. Check it, or send a new one.";
    case "validation_failed": return p.detail || "Check what you typed.";
    }
    return p.detail || p.title || "That did not work. Try again.";
  }
  function shout(el, msg) { el.textContent = msg || ""; el.hidden = !msg; }
  function busy(form, on) { form.querySelectorAll("button, input").forEach(function (e) { e.disabled = on; }); }

  var pw = byId("password-form");
  if (pw) {
    pw.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      shout(byId("pw-error"), "");
      busy(pw, true);
      var out = await call("password", {username: byId("pw-username").value.trim(), password: byId("pw-password").value});
      if (out.error) { busy(pw, false); byId("pw-password").value = ""; shout(byId("pw-error"), out.error); }
    });
  }
  var send = byId("otp-send-form"), verify = byId("otp-verify-form");
  if (send) {
    var sentTo = "";
    send.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      shout(byId("otp-error"), "");
      var ch = send.querySelector("input[name=otp-channel]:checked");
      sentTo = byId("otp-to").value.trim();
      busy(send, true);
      var out = await call("otp/send", {channel: ch ? ch.value : "sms", to: sentTo});
      busy(send, false);
      if (out.error) { shout(byId("otp-error"), out.error); return; }
      byId("otp-status").textContent = "If an account has this address, a code is on its way (valid " + Math.round(out.data.expires_in / 60) + " minutes).";
      byId("otp-send").textContent = "Send a new code";
      verify.hidden = false;
      byId("otp-code").focus();
    });
    verify.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      shout(byId("otp-error"), "");
      busy(verify, true);
      var out = await call("otp/verify", {to: sentTo, otp: byId("otp-code").value.trim()});
      if (out.error) { busy(verify, false); shout(byId("otp-error"), out.error); }
    });
  }
})();
