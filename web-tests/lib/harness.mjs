// The browser tests' world: a real `countersign serve` (the binary cargo
// built, over a fresh SQLite data directory), a real SMTP server
// (aiosmtpd, interop/smtp_server.py), a real OpenID provider
// (oidc-provider), and Debian's Chromium driven by playwright-core with
// the DevTools WebAuthn virtual authenticator. Everything listens on
// 127.0.0.1; every process is stopped when the test ends.

import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';

import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

import { startProvider } from './oidc-provider.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '..', '..');
export const BIN = process.env.COUNTERSIGN_BIN || join(ROOT, 'target', 'debug', 'countersign');
export const SCREENSHOTS = join(ROOT, 'docs', 'screenshots');
const run = promisify(execFile);

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Wait until `f()` answers something truthy, or fail after `ms`. */
export async function eventually(f, ms = 10000, what = 'the condition') {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    try {
      last = await f();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}: ${last && last.message ? last.message : last}`);
}

/** A real SMTP server writing each message to a maildir. */
export class Mailbox {
  static async start() {
    const dir = mkdtempSync(join(tmpdir(), 'cs-mail-'));
    const m = new Mailbox(dir);
    await m.up();
    return m;
  }
  constructor(dir) {
    this.dir = dir;
    this.port = null;
    this.proc = null;
  }
  /** Start (or restart on the same port) the server. */
  async up() {
    const args = [join(ROOT, 'interop', 'smtp_server.py'), '--maildir', this.dir, '--host', '127.0.0.1', '--port', String(this.port || 0)];
    this.proc = spawn('python3', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    this.port = await new Promise((ok, fail) => {
      let buf = '';
      this.proc.stdout.on('data', (d) => {
        buf += d;
        const m = buf.match(/ready (\d+)/);
        if (m) ok(Number(m[1]));
      });
      this.proc.on('exit', (c) => fail(new Error(`smtp_server.py exited with ${c}; run bash .ci/deps`)));
    });
  }
  async down() {
    if (!this.proc) return;
    const p = this.proc;
    this.proc = null;
    await new Promise((r) => { p.on('exit', r); p.kill('SIGTERM'); });
  }
  /** Every message so far: { file, raw, to, subject, text, links }. */
  messages() {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.eml'))
      .sort((a, b) => parseInt(a) - parseInt(b))
      .map((f) => parseMail(f, readFileSync(join(this.dir, f), 'utf8')));
  }
  /** The first message matching `pred`, waiting for it. */
  async waitFor(pred, ms = 15000) {
    return eventually(() => this.messages().find(pred), ms, 'a mail');
  }
}

function decodeQP(s) {
  return s
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

function decodeHeader(v) {
  return v.replace(/=\?utf-8\?([bq])\?([^?]*)\?=/gi, (_, enc, text) =>
    enc.toLowerCase() === 'b'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(decodeQP(text.replace(/_/g, ' ')), 'latin1').toString('utf8'));
}

/** Just enough MIME to read what Countersign sends. */
function parseMail(file, raw) {
  const [head] = raw.split(/\r?\n\r?\n/);
  const header = (name) => {
    const m = head.replace(/\r?\n[ \t]+/g, ' ').match(new RegExp(`^${name}:\\s*(.*)$`, 'mi'));
    return m ? decodeHeader(m[1].trim()) : '';
  };
  // The text/plain part, decoded.
  let text = raw;
  const part = raw.match(/Content-Type: text\/plain[^]*?\r?\n\r?\n([^]*?)(\r?\n--|$)/i);
  if (part) {
    const enc = (raw.match(/Content-Type: text\/plain[^]*?Content-Transfer-Encoding: (\S+)/i) || [])[1] || '';
    text = /base64/i.test(enc)
      ? Buffer.from(part[1].replace(/\s+/g, ''), 'base64').toString('utf8')
      : Buffer.from(decodeQP(part[1]), 'latin1').toString('utf8');
  }
  const links = [...text.matchAll(/https?:\/\/[^\s<>"]+/g)].map((m) => m[0]);
  return { file, raw, to: header('To'), subject: header('Subject'), messageId: header('Message-ID'), text, links };
}

/** A `countersign serve` over a fresh data directory. */
export class Countersign {
  /**
   * @param {object} o
   * @param {Mailbox} [o.mailbox] send mail through it
   * @param {object} [o.oidc] an oidc-provider to trust for sign-in: { issuer, clientId, clientSecret }
   * @param {string} [o.extra] more TOML for countersign.toml
   * @param {number} [o.port] the port (default: a free one)
   */
  static async start(o = {}) {
    const port = o.port || (await freePort());
    const dir = mkdtempSync(join(tmpdir(), 'cs-web-'));
    const data = join(dir, 'countersign-data');
    mkdirSync(data, { recursive: true });
    const origin = `http://localhost:${port}`;
    let toml = `[server]\nlisten = "127.0.0.1:${port}"\npublic_url = "${origin}"\n\n`;
    // Test receivers listen on loopback over http, which the egress policy refuses by default.
    toml += `[webhooks]\nallow_http = true\nallow_private_destinations = true\n\n`;
    if (o.mailbox) {
      toml += `[smtp]\nhost = "127.0.0.1"\nport = ${o.mailbox.port}\nsecurity = "none"\nfrom = "Countersign <countersign@example.com>"\ntimeout_seconds = 5\n\n`;
      toml += `[notifications]\nreminders = ["1h"]\nretry_base_seconds = 1\nretry_cap_seconds = 2\npoll_ms = 100\n\n`;
    }
    if (o.oidc) {
      writeFileSync(join(dir, 'secret'), o.oidc.clientSecret + '\n');
      toml += `[[oidc.issuers]]\nissuer = "${o.oidc.issuer}"\naudiences = ["${o.oidc.clientId}"]\njwks_url = "${o.oidc.issuer}/jwks"\npurpose = "caller"\n`;
      toml += `[oidc.issuers.sign_in]\nclient_id = "${o.oidc.clientId}"\nclient_secret_file = "${join(dir, 'secret')}"\ndisplay_name = "Acme SSO"\n\n`;
    }
    toml += o.extra || '';
    writeFileSync(join(data, 'countersign.toml'), toml);
    const cs = new Countersign(dir, data, port, origin);
    await cs.up();
    return cs;
  }

  constructor(dir, data, port, origin) {
    this.dir = dir;
    this.data = data;
    this.port = port;
    this.origin = origin;
    this.token = null;
    this.proc = null;
    this.log = '';
  }

  async up() {
    this.proc = spawn(BIN, ['serve'], {
      cwd: this.dir,
      env: { ...process.env, COUNTERSIGN_DATA: this.data, COUNTERSIGN_LOG: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await new Promise((ok, fail) => {
      this.proc.stderr.on('data', (d) => {
        this.log += d;
        if (/countersign listening on/.test(this.log)) ok();
      });
      this.proc.on('exit', (c) => fail(new Error(`countersign serve exited with ${c}:\n${this.log}`)));
    });
    this.proc.removeAllListeners('exit');
    // The first serve leaves the admin token in a 0600 file, never on stderr.
    this.token = readFileSync(join(this.data, 'admin-token'), 'utf8').trim();
    const proc = this.proc;
    proc.on('exit', (code, signal) => {
      if (this.proc === proc) {
        console.error(`countersign serve stopped unexpectedly (${code ?? signal}):\n${this.log}`);
      }
    });
  }

  async stop() {
    if (!this.proc) return;
    const p = this.proc;
    this.proc = null;
    await new Promise((r) => { p.on('exit', r); p.kill('SIGTERM'); });
  }

  /** Run the CLI against this server as the admin; answers stdout. */
  async cli(...args) {
    const { stdout } = await run(BIN, args, {
      cwd: this.dir,
      env: { ...process.env, COUNTERSIGN_URL: `http://127.0.0.1:${this.port}`, COUNTERSIGN_TOKEN: this.token, COUNTERSIGN_DATA: this.data },
    }).catch((e) => { throw new Error(`countersign ${args.join(' ')} failed: ${e.stderr || e.message}`); });
    return stdout.trim();
  }

  /** A JSON API call as the admin. */
  async api(method, path, body) {
    const r = await fetch(`http://127.0.0.1:${this.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { json = text; }
    return { status: r.status, body: json };
  }

  /** A person with an e-mail address. */
  async person(handle, name, extra = []) {
    await this.cli('identity', 'create', handle, '--kind', 'human', '--name', name, '--email', `${handle}@example.com`, ...extra);
  }

  /** An enrolment link for `handle`. */
  async invite(handle, ...extra) {
    const out = await this.cli('identity', 'invite', handle, '--json', ...extra);
    return JSON.parse(out).url;
  }

  /** A document file registered under `name`. */
  async document(name, content, mediaType = 'text/plain') {
    const file = join(this.dir, `${name}.txt`);
    writeFileSync(file, content);
    await this.cli('doc', 'add', name, file, '--media-type', mediaType);
  }

  /** Create a request; answers its id. */
  async request(args) {
    const out = await this.cli('request', 'create', ...args);
    return out.split('\n')[0].trim();
  }
}

/** Launch Debian's Chromium headless, as this machine allows. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/**
 * A fresh browser context (its own cookies) with a virtual passkey
 * authenticator, like a person's phone or laptop.
 * @param {import('playwright-core').Browser} browser
 * @param {object} [o]
 * @param {boolean} [o.userVerification] whether the authenticator verifies the user (PIN, biometrics)
 * @param {object} [o.viewport]
 */
export async function device(browser, o = {}) {
  const context = await browser.newContext({ viewport: o.viewport || { width: 1100, height: 900 }, locale: 'en-GB' });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      ctap2Version: 'ctap2_1',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: o.userVerification !== false,
      automaticPresenceSimulation: true,
      defaultBackupEligibility: o.backupEligible !== false,
      defaultBackupState: o.backupEligible !== false,
    },
  });
  page.on('pageerror', (e) => { page.__errors = (page.__errors || []).concat(String(e)); });
  return { context, page, cdp, authenticatorId };
}

/** No serious or critical accessibility violations on the page. */
export async function accessible(page, what) {
  const results = await new AxeBuilder({ page }).setLegacyMode(true).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`),
    [],
    `accessibility violations on ${what}`,
  );
  return results;
}

/** A screenshot into docs/screenshots/<name>.png (the whole page, unless `fullPage: false`). */
export async function screenshot(page, name, { fullPage = true } = {}) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage });
}

/** The page fits its width: nothing scrolls sideways (phone layouts). */
export async function fitsWidth(page, what) {
  const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scroll <= inner + 1, `${what} is ${scroll}px wide in a ${inner}px viewport`);
}

/**
 * Verify a passkey signature from the log with py_webauthn (an independent
 * implementation): the enrolled COSE key, the logged assertion, and the
 * statement's PAE digest as the challenge. Answers py_webauthn's verdict.
 */
export async function pyWebauthn(cs, signatureEntry) {
  const env = signatureEntry.envelope;
  const sig = env.signatures[0];
  const ext = sig.extension.ext;
  const key = (await cs.api('GET', `/v1/keys/${sig.keyid}`)).body;
  const b64url = (buf) => Buffer.from(buf).toString('base64url');
  const payload = Buffer.from(env.payload, 'base64');
  const type = Buffer.from(env.payloadType);
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} ${env.payloadType} ${payload.length} `), payload]);
  const { createHash } = await import('node:crypto');
  const doc = {
    rp_id: 'localhost',
    origin: cs.origin,
    credential_public_key: b64url(Buffer.from(key.public_key, 'base64')),
    credential_id: ext.credentialId,
    assertion: {
      id: ext.credentialId, rawId: ext.credentialId, type: 'public-key', clientExtensionResults: {},
      response: { clientDataJSON: ext.clientDataJSON, authenticatorData: ext.authenticatorData, signature: b64url(Buffer.from(sig.sig, 'base64')) },
    },
    assertion_challenge: b64url(createHash('sha256').update(pae).digest()),
    require_user_verification: true,
  };
  return new Promise((ok) => {
    const p = spawn('python3', [join(ROOT, 'interop', 'webauthn_verify.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('exit', (code) => ok({ code, out }));
    p.stdin.end(JSON.stringify(doc));
  });
}

export { startProvider, existsSync };
