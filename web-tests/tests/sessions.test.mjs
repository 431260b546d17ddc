// Signing in with a real OpenID provider (panva's oidc-provider, code
// flow with PKCE and nonce), and sessions that end when idle.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';

import { Countersign, launch, device, accessible, freePort, startProvider, sleep } from '../lib/harness.mjs';

const cleanup = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test('a person signs in through their organisation\'s OpenID provider; acr/amr/auth_time reach the session', async () => {
  const port = await freePort();
  const clientSecret = `secret-${Math.random().toString(36).slice(2)}`;
  const op = await startProvider({
    clients: [{
      client_id: 'countersign',
      client_secret: clientSecret,
      redirect_uris: [`http://localhost:${port}/auth/oidc/callback`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    accounts: [{ email: 'alice@example.com', name: 'Alice Adams', amr: ['pwd', 'otp'] }],
  });
  cleanup.push(() => op.close());
  const cs = await Countersign.start({ port, oidc: { issuer: op.issuer, clientId: 'countersign', clientSecret } });
  cleanup.push(() => cs.stop());
  await cs.person('alice', 'Alice Adams');
  const browser = await launch();
  cleanup.push(() => browser.close());
  const { page, context } = await device(browser);

  await page.goto(`${cs.origin}/requests`);
  await page.waitForURL(/\/sign-in\?next=\/requests/);
  await accessible(page, 'the sign-in page with a provider');
  await page.getByRole('link', { name: 'Sign in with Acme SSO' }).click();
  // The provider's own login page.
  await page.waitForURL(new RegExp(`^${op.issuer}/interaction/`));
  await page.getByLabel('Login name').fill('alice@example.com');
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Back at Countersign, signed in, where she wanted to go.
  await page.waitForURL(`${cs.origin}/requests`);
  await page.getByRole('heading', { name: 'My requests' }).waitFor();
  await page.goto(`${cs.origin}/account`);
  const signedIn = await page.locator('dt:has-text("Signed in") + dd').textContent();
  assert.match(signedIn, new RegExp(`with oidc:${op.issuer.replace(/[.]/g, '\\.')} \\(AAL2\\)`), signedIn);
  // The state cookie of the round trip is gone; the session cookie is HttpOnly and Lax.
  const cookies = await context.cookies();
  assert.ok(!cookies.some((c) => c.name === 'countersign-oidc' && c.value), JSON.stringify(cookies));
  const s = cookies.find((c) => c.name === 'countersign');
  assert.ok(s && s.httpOnly && s.sameSite === 'Lax');

  // A callback that this browser did not start is refused.
  const forged = await page.goto(`${cs.origin}/auth/oidc/callback?code=abc&state=xyz`);
  assert.equal(forged.status(), 400);
  await context.close();
});

test('a session unused for longer than the idle timeout ends', async () => {
  const cs = await Countersign.start({ extra: '[web]\nsession_idle_seconds = 2\n' });
  cleanup.push(() => cs.stop());
  await cs.person('nia', 'Nia North');
  const browser = await launch();
  cleanup.push(() => browser.close());
  const { page, context } = await device(browser);
  await page.goto(await cs.invite('nia'));
  await page.getByRole('button', { name: 'Create your passkey' }).click();
  await page.waitForURL(/\/inbox$/);
  const token = (await context.cookies()).find((c) => c.name === 'countersign').value;
  const open = (path) => fetch(`${cs.origin}${path}`, { redirect: 'manual', headers: { cookie: `countersign=${token}` } });
  // Activity keeps it alive...
  for (let i = 0; i < 3; i++) {
    await sleep(1000);
    assert.equal((await open('/inbox')).status, 200);
  }
  // ... idleness ends it, for good.
  await sleep(3000);
  const r = await open('/inbox');
  assert.equal(r.status, 303);
  assert.match(r.headers.get('location'), /^\/sign-in/);
  assert.equal((await open('/inbox')).status, 303);
  await context.close();
});
