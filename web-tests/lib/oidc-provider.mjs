// A real OpenID provider for tests: panva's oidc-provider, configured for
// the authorization-code flow with PKCE (S256) and nonce, as an identity
// provider of Countersign's callers would be.
//
// Use it as a module:
//
//   import { startProvider } from './lib/oidc-provider.mjs';
//   const op = await startProvider({ port: 0, clients: [...], accounts: [...] });
//   ... op.issuer, op.port ...
//   await op.close();
//
// or as a script, which prints one JSON line `{"issuer": ..., "port": ...}`
// on standard output once it listens on 127.0.0.1, and exits on SIGTERM:
//
//   node web-tests/lib/oidc-provider.mjs --port 0 --client-id X \
//     --client-secret Y --redirect-uri Z \
//     [--account email=alice@example.com,name=Alice,amr=pwd+otp,acr=urn:x]
//
// Script options (each may be given once unless said otherwise):
//   --port N             port on 127.0.0.1 (default 0: any free port)
//   --issuer URL         the issuer (default http://127.0.0.1:<port>)
//   --client-id ID       the client (required)
//   --client-secret S    its secret; without it the client is public
//   --token-auth M       client_secret_basic (default with a secret),
//                        client_secret_post, or none (default without)
//   --redirect-uri URI   an allowed redirect URI (repeatable, at least one)
//   --id-token-alg A     RS256 (default) or EdDSA
//   --account SPEC       an account (repeatable; default alice@example.com)
//
// An account SPEC is comma-separated key=value pairs: email (required),
// sub (default: the email), name, email_verified (true or false, default
// true), acr, and amr with several methods joined by `+` (default pwd).
//
// The login interaction is a plain HTML form at /interaction/<uid>: a
// "Login name" text field (the account's email or sub; no password), two
// optional fields "Authentication methods" (`amr`, such as hwk+pin) and
// "Authentication context" (`acr`) that override the account's for this
// login (a step-up), a "Sign in" button, and a "Cancel" button that
// answers access_denied. A program completes it with a POST of
// `login=<email>` (and optionally `amr=...`, `acr=...`) to the same URL,
// carrying the provider's cookies; a browser test fills the fields and
// presses the button. The acr and amr go into the login result, so they
// appear in the ID token with auth_time. An unknown login name shows the
// form again with an alert (HTTP 401). Consent is not asked: the test
// client is treated as first-party and every requested scope is granted.
// Signing in as another account while a session exists makes the provider
// end that session first with a self-submitting form (JavaScript), which
// a browser follows and a plain HTTP client must not expect.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

import Provider from 'oidc-provider';

/** Largest login form body accepted, in bytes. */
const MAX_FORM_BYTES = 16 * 1024;

/**
 * Starts an OpenID provider on 127.0.0.1.
 *
 * @param {object} options
 * @param {number} [options.port=0] port to listen on (0: any free port)
 * @param {string} [options.issuer] the issuer (default http://127.0.0.1:<port>)
 * @param {object[]} options.clients oidc-provider client metadata, such as
 *   `{ client_id, client_secret, redirect_uris, token_endpoint_auth_method }`
 * @param {object[]} [options.accounts] `{ email, sub?, name?, email_verified?,
 *   acr?, amr? }`; the default is one account alice@example.com (amr pwd)
 * @returns {Promise<{issuer: string, port: number, provider: Provider, close: () => Promise<void>}>}
 */
export async function startProvider({ port = 0, issuer, clients, accounts } = {}) {
  if (!Array.isArray(clients) || clients.length === 0) {
    throw new TypeError('startProvider needs at least one client');
  }
  const known = normalizeAccounts(accounts ?? [{ email: 'alice@example.com' }]);

  // The issuer names the port, which is only known once listening, so the
  // server listens first and serves the provider once it exists.
  let handle = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = createServer((req, res) => handle(req, res));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const actualPort = server.address().port;
  const actualIssuer = issuer ?? `http://127.0.0.1:${actualPort}`;

  const provider = new Provider(actualIssuer, configuration(clients, known));
  provider.on('server_error', (_ctx, error) => {
    console.error('oidc-provider server_error:', error);
  });
  const callback = provider.callback();
  handle = (req, res) => {
    const { pathname } = new URL(req.url, actualIssuer);
    const match = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(pathname);
    if (!match) {
      callback(req, res);
      return;
    }
    interaction(provider, known, req, res, match[1]).catch((error) => {
      // An expired or unknown interaction ends here; the page says so
      // instead of hanging the browser.
      if (!res.headersSent) {
        sendPage(res, 400, 'Sign-in failed', `<p role="alert">${escapeHtml(error.message)}</p>`);
      } else {
        res.end();
      }
    });
  };

  return {
    issuer: actualIssuer,
    port: actualPort,
    provider,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** The oidc-provider configuration for these clients and accounts. */
function configuration(clients, accounts) {
  const bySub = new Map(accounts.map((account) => [account.sub, account]));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ed25519 = generateKeyPairSync('ed25519').privateKey;
  return {
    clients,
    jwks: {
      keys: [
        { ...rsa.export({ format: 'jwk' }), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
        { ...ed25519.export({ format: 'jwk' }), kid: 'ed25519-1', alg: 'EdDSA', use: 'sig' },
      ],
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    async findAccount(_ctx, sub) {
      const account = bySub.get(sub);
      if (!account) {
        return undefined;
      }
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: account.email,
            email_verified: account.email_verified,
            ...(account.name === undefined ? {} : { name: account.name }),
          };
        },
      };
    },
    // acr, amr and auth_time come with the openid scope: oidc-provider
    // otherwise puts them in the ID token only when the claims parameter
    // (or acr_values, or max_age) asks, and an organisation's provider
    // that Countersign derives AAL from sends them on every sign-in.
    claims: {
      iss: null,
      sid: null,
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // The email and name go into the ID token itself, which is what
    // Countersign reads; it never calls the userinfo endpoint.
    conformIdTokenClaims: false,
    acrValues: [...new Set(accounts.map((a) => a.acr).filter(Boolean))],
    features: {
      devInteractions: { enabled: false },
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    // The test client is first-party: every requested scope is granted
    // without a consent screen, as an organisation's provider does for its
    // own applications.
    async loadExistingGrant(ctx) {
      const { provider, client, session } = ctx.oidc;
      const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      const grant = (grantId && await provider.Grant.find(grantId))
        || new provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
      await grant.save();
      return grant;
    },
    pkce: { required: () => true },
    responseTypes: ['code'],
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Sign-in failed', `<p role="alert">${escapeHtml(out.error)}: ${escapeHtml(out.error_description ?? '')}</p>`);
    },
  };
}

/** Serves the login page (GET) and its submission (POST). */
async function interaction(provider, accounts, req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    throw new Error('this sign-in has expired; start again');
  }
  if (details.prompt.name !== 'login') {
    // Consent is granted by loadExistingGrant, so any other prompt means
    // the request asked for something this fixture does not offer.
    throw new Error(`prompt ${details.prompt.name} is not supported`);
  }
  if (req.method === 'GET') {
    sendLogin(res, 200, uid, details.params.login_hint ?? '', '');
    return;
  }
  if (req.method !== 'POST') {
    res.statusCode = 405;
    res.setHeader('Allow', 'GET, POST');
    res.end();
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  if (form.get('action') === 'cancel') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }
  const login = (form.get('login') ?? '').trim();
  const account = accounts.find((a) => a.email === login || a.sub === login);
  if (!account) {
    sendLogin(res, 401, uid, login, `No account is named ${login || '(empty)'}.`);
    return;
  }
  // The optional fields stand for how the person authenticated this time
  // (a step-up with a security key, say); empty means the account's own.
  const amr = (form.get('amr') ?? '').split(/[+\s]+/).filter(Boolean);
  const acr = (form.get('acr') ?? '').trim();
  await provider.interactionFinished(req, res, {
    login: {
      accountId: account.sub,
      acr: acr || account.acr,
      amr: amr.length ? amr : account.amr,
      remember: false,
    },
  }, { mergeWithLastSubmission: false });
}

function sendLogin(res, status, uid, login, error) {
  const alert = error ? `<p role="alert" id="login-error">${escapeHtml(error)}</p>` : '';
  const body = `
<main>
  <h1>Sign in</h1>
  ${alert}
  <form method="post" action="/interaction/${escapeHtml(uid)}">
    <p>
      <label for="login">Login name</label>
      <input id="login" name="login" type="text" autocomplete="username" required
        value="${escapeHtml(login)}"${error ? ' aria-describedby="login-error"' : ''}>
    </p>
    <p>
      <label for="amr">Authentication methods (optional)</label>
      <input id="amr" name="amr" type="text" aria-describedby="amr-help">
      <span id="amr-help">RFC 8176 amr values joined by +, such as hwk+pin; empty for the account's own.</span>
    </p>
    <p>
      <label for="acr">Authentication context (optional)</label>
      <input id="acr" name="acr" type="text">
    </p>
    <p>
      <button type="submit" name="action" value="login">Sign in</button>
      <button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
    </p>
  </form>
</main>`;
  sendPage(res, status, 'Sign in', body);
}

function sendPage(res, status, title, body) {
  const html = page(title, body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(html));
  res.end(html);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} – test identity provider</title>
</head>
<body>${body}
</body>
</html>
`;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) {
        reject(new Error('the form is too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function escapeHtml(value) {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function normalizeAccounts(accounts) {
  return accounts.map((account) => {
    if (!account.email) {
      throw new TypeError('every account needs an email');
    }
    return {
      email: account.email,
      sub: account.sub ?? account.email,
      name: account.name,
      email_verified: account.email_verified ?? true,
      acr: account.acr,
      amr: account.amr ?? ['pwd'],
    };
  });
}

/** Parses an account SPEC: `email=...,name=...,amr=pwd+otp,acr=...`. */
export function parseAccount(spec) {
  const account = {};
  for (const pair of spec.split(',')) {
    const at = pair.indexOf('=');
    if (at < 1) {
      throw new TypeError(`account ${JSON.stringify(spec)}: ${JSON.stringify(pair)} is not key=value`);
    }
    const key = pair.slice(0, at);
    const value = pair.slice(at + 1);
    switch (key) {
      case 'email':
      case 'sub':
      case 'name':
      case 'acr':
        account[key] = value;
        break;
      case 'amr':
        account.amr = value.split('+').filter(Boolean);
        break;
      case 'email_verified':
        if (value !== 'true' && value !== 'false') {
          throw new TypeError(`account ${JSON.stringify(spec)}: email_verified is true or false`);
        }
        account.email_verified = value === 'true';
        break;
      default:
        throw new TypeError(`account ${JSON.stringify(spec)}: unknown key ${JSON.stringify(key)}`);
    }
  }
  return account;
}

async function main() {
  const { values } = parseArgs({
    strict: true,
    options: {
      port: { type: 'string', default: '0' },
      issuer: { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'token-auth': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'id-token-alg': { type: 'string', default: 'RS256' },
      account: { type: 'string', multiple: true },
    },
  });
  const port = Number.parseInt(values.port, 10);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`--port ${values.port} is not a port number`);
  }
  if (!values['client-id']) {
    throw new TypeError('--client-id is required');
  }
  if (!values['redirect-uri']?.length) {
    throw new TypeError('--redirect-uri is required');
  }
  if (!['RS256', 'EdDSA'].includes(values['id-token-alg'])) {
    throw new TypeError('--id-token-alg is RS256 or EdDSA');
  }
  const secret = values['client-secret'];
  const tokenAuth = values['token-auth'] ?? (secret ? 'client_secret_basic' : 'none');
  if (!['client_secret_basic', 'client_secret_post', 'none'].includes(tokenAuth)) {
    throw new TypeError('--token-auth is client_secret_basic, client_secret_post or none');
  }
  if ((tokenAuth === 'none') !== (secret === undefined)) {
    throw new TypeError('--client-secret goes with --token-auth client_secret_basic or client_secret_post');
  }
  const client = {
    client_id: values['client-id'],
    redirect_uris: values['redirect-uri'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: tokenAuth,
    id_token_signed_response_alg: values['id-token-alg'],
    // Countersign's session carries auth_time, so it is always asked for.
    require_auth_time: true,
    ...(secret === undefined ? {} : { client_secret: secret }),
  };
  const accounts = (values.account ?? []).map(parseAccount);
  const op = await startProvider({
    port,
    issuer: values.issuer,
    clients: [client],
    accounts: accounts.length ? accounts : undefined,
  });
  const stop = () => {
    op.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`${JSON.stringify({ issuer: op.issuer, port: op.port })}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error) => {
    console.error(`oidc-provider.mjs: ${error.message}`);
    process.exit(2);
  });
}
