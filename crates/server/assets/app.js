// Countersign: the little JavaScript the web app needs. Pages that only
// show things work without it; signing and passkey ceremonies need it,
// because only the browser can talk to an authenticator (WebAuthn).
"use strict";

(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function b64urlToBytes(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function bytesToB64url(bytes) {
    const b = new Uint8Array(bytes);
    let bin = "";
    for (let i = 0; i < b.length; i++) bin += String.fromCharCode(b[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function b64ToBytes(s) {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // The WebAuthn JSON forms, for browsers without parse*OptionsFromJSON.
  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    const o = Object.assign({}, json);
    o.challenge = b64urlToBytes(json.challenge);
    o.user = Object.assign({}, json.user, { id: b64urlToBytes(json.user.id) });
    o.excludeCredentials = (json.excludeCredentials || []).map((c) => Object.assign({}, c, { id: b64urlToBytes(c.id) }));
    return o;
  }
  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    const o = Object.assign({}, json);
    o.challenge = b64urlToBytes(json.challenge);
    o.allowCredentials = (json.allowCredentials || []).map((c) => Object.assign({}, c, { id: b64urlToBytes(c.id) }));
    return o;
  }
  function credentialJSON(cred) {
    if (cred.toJSON) return cred.toJSON();
    const r = cred.response;
    const out = { id: cred.id, rawId: bytesToB64url(cred.rawId), type: cred.type, clientExtensionResults: cred.getClientExtensionResults(), response: { clientDataJSON: bytesToB64url(r.clientDataJSON) } };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = bytesToB64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = bytesToB64url(r.authenticatorData);
      out.response.signature = bytesToB64url(r.signature);
      if (r.userHandle) out.response.userHandle = bytesToB64url(r.userHandle);
    }
    return out;
  }

  async function post(url, body) {
    const res = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf(), accept: "application/json" },
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const err = new Error((data && data.detail) || ("The server answered " + res.status));
      err.problem = data;
      throw err;
    }
    return data;
  }

  function say(el, text, kind) {
    if (!el) return;
    el.textContent = text;
    el.className = "notice" + (kind ? " " + kind : "");
    el.hidden = false;
  }

  function ceremonyError(e) {
    if (e && e.name === "NotAllowedError") return "The passkey prompt was closed or timed out. Nothing was signed; you can try again.";
    if (e && e.name === "InvalidStateError") return "This passkey is already registered here.";
    return (e && e.message) || String(e);
  }

  // ---------------------------------------------------------------- sign-in
  // The pending conditional (autofill) request, aborted when the person
  // presses the button instead: a browser runs one WebAuthn request at a time.
  let conditionalRequest = null;

  async function passkeySignIn(conditional, status) {
    const start = await post("/sign-in/passkey/options", {});
    const opts = { publicKey: requestOptions(start.options) };
    if (conditional) {
      conditionalRequest = new AbortController();
      opts.mediation = "conditional";
      opts.signal = conditionalRequest.signal;
    } else if (conditionalRequest) {
      conditionalRequest.abort();
      conditionalRequest = null;
    }
    const cred = await navigator.credentials.get(opts);
    if (!cred) return;
    say(status, "Checking your passkey…");
    const next = new URLSearchParams(window.location.search).get("next");
    const done = await post("/sign-in/passkey", { challenge: start.challenge, credential: credentialJSON(cred), next: next });
    window.location.assign(done.next || "/");
  }

  function setupSignIn() {
    const button = document.querySelector("[data-passkey-signin]");
    if (!button) return;
    const status = document.getElementById("signin-status");
    if (!window.PublicKeyCredential) {
      say(status, "This browser cannot use passkeys. Use a current browser, or sign in with your organisation's account.", "warn");
      button.disabled = true;
      return;
    }
    button.addEventListener("click", async () => {
      button.disabled = true;
      try { await passkeySignIn(false, status); }
      catch (e) { say(status, ceremonyError(e), "bad"); }
      finally { button.disabled = false; }
    });
    // Conditional UI: the browser offers passkeys in the username field's
    // autofill. Not right after signing out: that person just chose to leave.
    const signedOut = new URLSearchParams(window.location.search).get("reason") === "signed-out";
    if (!signedOut && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then((ok) => {
        if (ok) {
          passkeySignIn(true, status).catch((e) => {
            if (e && e.name !== "AbortError" && e.problem) say(status, e.message, "bad");
          });
        }
      });
    }
  }

  // ---------------------------------------------------------------- register
  function setupRegister() {
    document.querySelectorAll("[data-passkey-register]").forEach((button) => {
      const status = document.getElementById(button.dataset.status || "register-status");
      button.addEventListener("click", async () => {
        if (!window.PublicKeyCredential) { say(status, "This browser cannot create passkeys.", "bad"); return; }
        button.disabled = true;
        try {
          const labelInput = document.getElementById("passkey-label");
          const start = await post(button.dataset.optionsUrl, {});
          say(status, "Follow your browser's prompt to create the passkey…");
          const cred = await navigator.credentials.create({ publicKey: creationOptions(start.options) });
          const done = await post(button.dataset.finishUrl, {
            challenge: start.challenge,
            credential: credentialJSON(cred),
            label: labelInput && labelInput.value ? labelInput.value : null,
          });
          say(status, done.message || "Your passkey is ready.", "ok");
          window.location.assign(done.next || window.location.href);
        } catch (e) {
          say(status, ceremonyError(e), "bad");
          button.disabled = false;
        }
      });
    });
  }

  // ---------------------------------------------------------------- signing
  function pae(type, payload) {
    const enc = new TextEncoder();
    const t = enc.encode(type);
    const head = enc.encode("DSSEv1 " + t.length + " " + type + " " + payload.length + " ");
    const out = new Uint8Array(head.length + payload.length);
    out.set(head, 0);
    out.set(payload, head.length);
    return out;
  }

  async function signStatement(form, decision, status) {
    const fd = new FormData(form);
    const body = { decision: decision };
    const reason = (fd.get("reason") || "").toString().trim();
    if (reason) body.reason = reason;
    const slot = (fd.get("slot") || "").toString();
    if (slot) body.on_behalf_of = slot;
    const challenge = await post(form.dataset.challengeUrl, body);
    // The challenge must be the digest of exactly the statement shown:
    // check it here rather than trust the server's word for it.
    const payload = b64ToBytes(challenge.payload);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", pae(challenge.payloadType, payload)));
    if (bytesToB64url(digest) !== challenge.challenge) {
      throw new Error("The statement to sign does not match its challenge. Nothing was signed.");
    }
    say(status, challenge.user_verification === "required"
      ? "Confirm with your passkey: this request needs your fingerprint, face or PIN."
      : "Confirm with your passkey…");
    const cred = await navigator.credentials.get({ publicKey: requestOptions(challenge.request_options) });
    say(status, "Recording your signature…");
    return post(form.dataset.signUrl, { nonce: challenge.nonce, credential: credentialJSON(cred) });
  }

  function setupSigning() {
    const form = document.getElementById("decide");
    if (!form) return;
    const status = document.getElementById("decide-status");
    const refusal = document.getElementById("refusal");
    form.querySelectorAll("button[data-decision]").forEach((button) => {
      button.addEventListener("click", async (ev) => {
        ev.preventDefault();
        const decision = button.dataset.decision;
        const reasonField = form.querySelector("[name=reason]");
        if (decision === "reject" && reasonField && !reasonField.value.trim()) {
          say(status, "Give a reason for rejecting: the requester and the auditors will read it.", "bad");
          reasonField.focus();
          return;
        }
        form.querySelectorAll("button").forEach((b) => (b.disabled = true));
        try {
          const receipt = await signStatement(form, decision, status);
          say(status, (decision === "approve" ? "Approved." : "Rejected.") + " Your signature is entry " + receipt.log_index + " of the transparency log; the request is now " + receipt.request_state + ".", "ok");
          setTimeout(() => window.location.reload(), 1200);
        } catch (e) {
          const p = e.problem;
          if (p && refusal && p.code) {
            refusal.hidden = false;
            refusal.querySelector("[data-refusal-text]").textContent = p.detail;
            const ex = refusal.querySelector("[data-exception]");
            if (ex) ex.hidden = !(p.code === "policy_denied" && p.log_index !== undefined && p.log_index !== null);
            say(status, "Not signed: the server refused the signature.", "bad");
            refusal.focus();
          } else {
            say(status, ceremonyError(e), "bad");
          }
          form.querySelectorAll("button").forEach((b) => (b.disabled = false));
        }
      });
    });
  }

  // A resolution of a control exception, signed with a passkey the same way.
  function setupResolve() {
    const form = document.getElementById("resolve");
    if (!form) return;
    const status = document.getElementById("resolve-status");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const fd = new FormData(form);
      const body = { resolution: fd.get("resolution"), justification: (fd.get("justification") || "").toString() };
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const challenge = await post(form.dataset.challengeUrl, body);
        const payload = b64ToBytes(challenge.payload);
        const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", pae(challenge.payloadType, payload)));
        if (bytesToB64url(digest) !== challenge.challenge) throw new Error("The resolution to sign does not match its challenge.");
        say(status, "Confirm with your passkey…");
        const cred = await navigator.credentials.get({ publicKey: requestOptions(challenge.request_options) });
        await post(form.dataset.signUrl, { nonce: challenge.nonce, credential: credentialJSON(cred) });
        say(status, "Resolved and signed.", "ok");
        setTimeout(() => window.location.reload(), 1000);
      } catch (e) {
        say(status, ceremonyError(e), "bad");
        button.disabled = false;
      }
    });
  }

  // Buttons that must not be pressed before a document has been shown.
  function setupDocuments() {
    const views = document.querySelectorAll("[data-doc-view]");
    views.forEach((v) => v.addEventListener("load", () => v.setAttribute("data-loaded", "true")));
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupSignIn();
    setupRegister();
    setupSigning();
    setupResolve();
    setupDocuments();
  });
})();
