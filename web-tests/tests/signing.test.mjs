// An approver's path through the web app, in a real Chromium with a
// virtual passkey: the enrolment mail, the first passkey, sign-in, the
// request page, approving, rejecting, step-up, a delegate, a refusal,
// signing out, and a suspended identity's session ending.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { Countersign, Mailbox, launch, device, accessible, screenshot, fitsWidth, eventually, pyWebauthn } from '../lib/harness.mjs';

let mail, cs, browser;

before(async () => {
  mail = await Mailbox.start();
  // A step-up window of two seconds lets a test outwait it.
  cs = await Countersign.start({ mailbox: mail, extra: '[governance]\nstep_up_window_seconds = 2\n' });
  browser = await launch();
  await cs.person('alice', 'Alice Adams');
  await cs.person('dave', 'Dave Doe');
  await cs.person('bob', 'Bob Brown');
  await cs.person('carol', 'Carol Chen');
  await cs.person('frank', 'Frank Fox');
  await cs.document('offer-letter', 'Offer letter\n\nDave Doe joins Acme as Software Engineer on 2027-01-04.\nSalary band E3.\n');
});

after(async () => {
  await browser?.close();
  await cs?.stop();
  await mail?.down();
});

/** Enrol `handle`'s first passkey through the link in their mail; answers the signed-in page. */
async function enrolByMail(handle, o = {}) {
  await cs.cli('identity', 'invite', handle, '--mail');
  const m = await mail.waitFor((x) => x.to.includes(`${handle}@example.com`) && /passkey/i.test(x.subject));
  const link = m.links.find((l) => l.includes('/enrol/'));
  assert.ok(link, `the invitation mail has an enrolment link: ${m.text}`);
  const d = await device(browser, o);
  await d.page.goto(link);
  await assert.doesNotReject(() => d.page.getByRole('heading', { name: /Welcome/ }).waitFor());
  if (o.shoot) {
    await accessible(d.page, 'the enrolment page');
    await screenshot(d.page, 'enrol');
  }
  await d.page.getByLabel(/A name for this passkey/).fill('work laptop');
  await d.page.getByRole('button', { name: 'Create your passkey' }).click();
  await d.page.waitForURL(/\/inbox$/);
  return { ...d, link };
}

test('an approver enrols a passkey from the mailed link, signs in with it and approves', async () => {
  const bob = await enrolByMail('bob', { shoot: true });
  // The link worked once: using it again is refused.
  const again = await bob.context.newPage();
  const r = await again.goto(bob.link);
  assert.equal(r.status(), 404);
  await assert.doesNotReject(() => again.getByText(/already used/).waitFor());
  await again.close();

  const empty = bob.page;
  await assert.doesNotReject(() => empty.getByText('Nothing waits for you.').waitFor());
  await accessible(empty, 'the empty inbox');
  await screenshot(empty, 'inbox-empty');

  const req = await cs.request(['--event', 'onboarding', '--purpose', 'Onboard Dave as engineer', '--impact', 'medium',
    '--doc', 'offer-letter', '--action', 'github:dave:grant:org/acme/team/eng', '--requester', 'alice',
    '--beneficiary', 'dave', '--approver', 'bob', '--approver', 'carol', '--sequential']);

  // The mail names the request in plain words and links to its page.
  const m = await mail.waitFor((x) => x.to.includes('bob@example.com') && x.subject.includes('Approval needed'));
  assert.match(m.subject, /Onboard Dave as engineer/);
  assert.match(m.text, /grant dave .org\/acme\/team\/eng. on github/);
  const link = m.links.find((l) => l.endsWith(`/requests/${req}`));
  assert.ok(link, m.text);

  // A new browser session (a new device context, the same passkey
  // authenticator is gone): bob signs in with the passkey he has.
  await bob.page.goto(`${cs.origin}/inbox`);
  await assert.doesNotReject(() => bob.page.getByRole('link', { name: 'Onboard Dave as engineer' }).waitFor());
  await accessible(bob.page, 'the inbox');
  await screenshot(bob.page, 'inbox');

  await bob.page.goto(link);
  await bob.page.getByRole('heading', { name: 'Onboard Dave as engineer' }).waitFor();
  const page = bob.page;
  await assert.doesNotReject(() => page.getByText('grant dave “org/acme/team/eng” on github').first().waitFor());
  await assert.doesNotReject(() => page.getByText('all 2 approvers, in the order listed').waitFor());
  // The document is shown inline, with its digest.
  await assert.doesNotReject(() => page.locator('pre[data-doc-text]').getByText(/Dave Doe joins Acme/).waitFor());
  await assert.doesNotReject(() => page.getByText('You can approve or reject this request with your passkey.').waitFor());
  await accessible(page, 'the request page');
  await screenshot(page, 'request');

  await page.getByRole('button', { name: 'Approve' }).click();
  await assert.doesNotReject(() => page.getByText(/Approved\. Your signature is entry \d+/).waitFor());
  await page.waitForLoadState('load');
  await assert.doesNotReject(() => page.getByText(/Approved/, { exact: false }).first().waitFor());
  // The log holds the passkey signature.
  const shown = await cs.api('GET', `/v1/requests/${req}`);
  assert.equal(shown.body.signatures.length, 1);
  assert.equal(shown.body.signatures[0].actor, 'bob');
  const entry = await cs.api('GET', `/v1/log/entries/${shown.body.signatures[0].log_index}`);
  const logged = JSON.parse(entry.body.entry);
  assert.equal(logged.type, 'signature.accepted');
  // The log holds a salted commitment to the signed statement, and the
  // auditor's view the opening; the commitment is recomputed here,
  // independently of Countersign.
  const commitment = logged.envelope.payload;
  assert.match(commitment, /^commitment:sha256:[0-9a-f]{64}$/);
  const opening = entry.body.openings[commitment];
  const recomputed = createHash('sha256')
    .update('countersign personal-data commitment v1\n')
    .update(Buffer.from(opening.salt, 'base64'))
    .update(opening.value, 'utf8')
    .digest('hex');
  assert.equal(`commitment:sha256:${recomputed}`, commitment);
  logged.envelope.payload = opening.value;
  assert.equal(logged.envelope.signatures[0].extension.kind, 'application/vnd.countersign.webauthn-assertion;version=1');
  assert.match(logged.auth.method, /passkey\+uv/);
  // Chromium's assertion over the statement verifies with an independent
  // WebAuthn implementation too (py_webauthn), from the log alone.
  const py = await pyWebauthn(cs, logged);
  assert.equal(py.code, 0, py.out);

  // Carol is told it is her turn.
  await mail.waitFor((x) => x.to.includes('carol@example.com') && x.subject.includes('Approval needed'));
  await bob.context.close();
});

test('a rejection needs a reason, and is recorded with it', async () => {
  const carol = await enrolByMail('carol');
  const req = await cs.request(['--event', 'contract', '--purpose', 'Sign the Initech reseller contract', '--impact', 'low',
    '--doc', 'offer-letter', '--requester', 'alice', '--beneficiary', 'alice', '--approver', 'carol']);
  const page = carol.page;
  await page.goto(`${cs.origin}/requests/${req}`);
  await page.locator('pre[data-doc-text]').getByText(/Dave Doe joins Acme/).first().waitFor();
  await page.getByRole('button', { name: 'Reject' }).click();
  await assert.doesNotReject(() => page.getByText('Give a reason for rejecting').waitFor());
  await page.getByLabel(/Reason/).fill('The reseller terms were not reviewed by legal.');
  await page.getByRole('button', { name: 'Reject' }).click();
  await assert.doesNotReject(() => page.getByText(/Rejected\. Your signature is entry/).waitFor());
  const shown = await eventually(async () => {
    const r = await cs.api('GET', `/v1/requests/${req}`);
    return r.body.state === 'rejected' && r.body;
  });
  assert.equal(shown.signatures[0].reason, 'The reseller terms were not reviewed by legal.');
  // The requester is told.
  await mail.waitFor((x) => x.to.includes('alice@example.com') && /was rejected/.test(x.subject));
  await carol.context.close();
});

test('a high-impact approval asks for user verification, which counts as the step-up', async () => {
  await cs.person('hana', 'Hana Hill');
  const hana = await enrolByMail('hana');
  await cs.document('prod-access', 'Grant dave admin on prod-db for incident INC-7\n');
  const req = await cs.request(['--event', 'privileged_access', '--purpose', 'prod-db admin for INC-7', '--impact', 'high',
    '--doc', 'prod-access', '--action', 'aws:dave:grant:prod-db/admin', '--requester', 'alice', '--beneficiary', 'dave', '--approver', 'hana']);
  const page = hana.page;
  // Longer after sign-in than the step-up window (the policy counts whole
  // seconds, so an age of 2.9 s is still 2): the page says, before she
  // tries, what the policy needs and that her passkey provides it.
  await new Promise((r) => setTimeout(r, 3500));
  await page.goto(`${cs.origin}/requests/${req}`);
  await page.locator('pre[data-doc-text]').getByText(/INC-7/).first().waitFor();
  const outlook = page.locator('[data-outlook]').first();
  assert.equal(await outlook.getAttribute('data-outlook'), 'step_up');
  assert.match(await outlook.textContent(), /needs a sign-in from the last 2 seconds or a hardware passkey\. Your passkey will ask for your fingerprint, face or PIN/);
  await accessible(page, 'a request that needs step-up');
  await screenshot(page, 'request-high-impact');
  await page.getByRole('button', { name: 'Approve' }).click();
  await assert.doesNotReject(() => page.getByText(/Approved\. Your signature is entry \d+/).waitFor());
  const r = await cs.api('GET', `/v1/requests/${req}`);
  assert.equal(r.body.state, 'approved');
  const e = JSON.parse((await cs.api('GET', `/v1/log/entries/${r.body.signatures[0].log_index}`)).body.entry);
  assert.deepEqual(e.policy.effect, 'allow');
  assert.ok(e.auth.auth_time, 'the fresh verification is the authentication time');
  await hana.context.close();
});

test('a delegate signs in the approver\'s slot, and the page says whose', async () => {
  await cs.person('gus', 'Gus Grant');
  await cs.person('ivy', 'Ivy Iles');
  const gus = await enrolByMail('gus');
  const ivy = await enrolByMail('ivy');
  // Gus delegates to Ivy in the web app.
  await gus.page.goto(`${cs.origin}/delegations`);
  await accessible(gus.page, 'the delegations page');
  await gus.page.getByLabel(/Who may sign for you/).fill('ivy');
  await gus.page.getByLabel(/Why/).fill('on leave until Monday');
  await gus.page.getByRole('button', { name: 'Delegate' }).click();
  await assert.doesNotReject(() => gus.page.getByText('The delegation is in force').waitFor());
  await screenshot(gus.page, 'delegations');

  const req = await cs.request(['--event', 'onboarding', '--purpose', 'Onboard Erin in finance', '--impact', 'medium',
    '--doc', 'offer-letter', '--requester', 'alice', '--beneficiary', 'dave', '--approver', 'gus']);
  // The delegate is told too, and sees it in her inbox.
  await mail.waitFor((x) => x.to.includes('ivy@example.com') && x.text.includes('on behalf of Gus Grant'));
  await ivy.page.goto(`${cs.origin}/inbox`);
  await assert.doesNotReject(() => ivy.page.getByText('for Gus Grant (delegated to you)').waitFor());
  await ivy.page.goto(`${cs.origin}/requests/${req}`);
  await ivy.page.locator('pre[data-doc-text]').getByText(/Dave Doe joins Acme/).first().waitFor();
  await assert.doesNotReject(() => ivy.page.getByText(/You sign on behalf of/).waitFor());
  await ivy.page.getByRole('button', { name: 'Approve' }).click();
  await assert.doesNotReject(() => ivy.page.getByText(/Approved\. Your signature is entry/).waitFor());
  const r = await cs.api('GET', `/v1/requests/${req}`);
  assert.equal(r.body.signatures[0].actor, 'ivy');
  assert.equal(r.body.signatures[0].principal, 'gus');
  assert.ok(r.body.signatures[0].delegation);
  await ivy.page.reload();
  await assert.doesNotReject(() => ivy.page.getByText(/signed by Ivy Iles on their behalf/).waitFor());
  await gus.context.close();
  await ivy.context.close();
});

test('a refusal is shown with its reason and policy, with the way to ask for an exception', async () => {
  await cs.person('jo', 'Jo Jones');
  await cs.person('pat', 'Pat Park');
  const jo = await enrolByMail('jo');
  // Jo requests an access change that Pat approves, and Pat, away, has
  // delegated to Jo: Jo signing for Pat is separation of duties refused.
  // (A request naming Jo as its own approver is refused when made.)
  await cs.cli('delegation', 'grant', '--principal', 'pat', '--delegate', 'jo', '--max-impact', 'high',
    '--duration', '7d', '--reason', 'on leave');
  const req = await cs.request(['--event', 'role_change', '--purpose', 'Give Jo the billing role', '--impact', 'medium',
    '--doc', 'offer-letter', '--action', 'stripe:dave:grant:billing', '--requester', 'jo', '--beneficiary', 'dave', '--approver', 'pat']);
  const page = jo.page;
  await page.goto(`${cs.origin}/requests/${req}`);
  await page.locator('pre[data-doc-text]').getByText(/Dave Doe joins Acme/).first().waitFor();
  await assert.doesNotReject(() => page.getByText(/break-glass exception/).first().waitFor());
  await page.getByRole('button', { name: 'Approve' }).click();
  const refusal = page.locator('#refusal');
  await refusal.waitFor({ state: 'visible' });
  assert.match(await refusal.textContent(), /sod-requester/);
  assert.match(await refusal.textContent(), /separation of duties/);
  await accessible(page, 'a refused signature');
  await screenshot(page, 'refusal');
  await page.getByLabel('Why it cannot wait').fill('Billing outage: nobody else with the role is on call tonight.');
  await page.getByRole('button', { name: 'Request an exception' }).click();
  await assert.doesNotReject(() => page.getByText('Your exception request was recorded').waitFor());
  const ex = await cs.api('GET', `/v1/exceptions?request=${req}`);
  assert.equal(ex.body.exceptions.length, 1);
  assert.equal(ex.body.exceptions[0].actor, 'jo');
  await jo.context.close();
});

test('signing out ends the session; a suspended identity\'s session ends at once', async () => {
  await cs.person('kim', 'Kim Kay');
  const kim = await enrolByMail('kim');
  await kim.page.goto(`${cs.origin}/account`);
  await accessible(kim.page, 'the account page');
  await screenshot(kim.page, 'account');
  const cookie = async () => (await kim.context.cookies()).find((c) => c.name === 'countersign');
  const before = await cookie();
  assert.ok(before && before.httpOnly && before.sameSite === 'Lax', JSON.stringify(before));
  const asOld = (path) => fetch(`${cs.origin}${path}`, { redirect: 'manual', headers: { cookie: `countersign=${before.value}` } });
  assert.equal((await asOld('/inbox')).status, 200);
  await kim.page.getByRole('button', { name: 'Sign out' }).click();
  await kim.page.waitForURL(/\/sign-in/);
  await assert.doesNotReject(() => kim.page.getByText('You are signed out.').waitFor());
  // The old cookie no longer opens anything: the session ended on the server.
  const after = await asOld('/inbox');
  assert.equal(after.status, 303);
  assert.match(after.headers.get('location'), /^\/sign-in/);

  // Signing in again with the passkey (a discoverable credential; the
  // virtual authenticator answers the autofill request at once).
  // (The navigation is replaced by the sign-in's own, so only its start is awaited.)
  await kim.page.goto(`${cs.origin}/inbox`, { waitUntil: 'commit' }).catch(() => {});
  await kim.page.getByRole('heading', { name: 'Inbox' }).waitFor();
  const again = await eventually(cookie, 5000, 'a new session cookie');
  assert.notEqual(again.value, before.value, 'a new sign-in is a new session');
  // Suspension ends the session at once.
  await cs.cli('identity', 'suspend', 'kim', '--reason', 'left the company');
  const ended = await fetch(`${cs.origin}/inbox`, { redirect: 'manual', headers: { cookie: `countersign=${again.value}` } });
  assert.equal(ended.status, 303);
  // And her passkey no longer signs her in.
  await kim.page.goto(`${cs.origin}/account`, { waitUntil: 'commit' }).catch(() => {});
  await kim.page.waitForURL(/\/sign-in/);
  await assert.doesNotReject(() => kim.page.getByText(/kim is suspended/).waitFor());
  await kim.context.close();
});

test('a forged CSRF token and a cross-site post are refused', async () => {
  await cs.person('lee', 'Lee Lane');
  const lee = await enrolByMail('lee');
  const status = await lee.page.evaluate(async () => {
    const r = await fetch('/account/passkeys/options', { method: 'POST', headers: { 'x-csrf-token': 'forged', 'content-type': 'application/json' }, body: '{}' });
    return [r.status, (await r.json()).code];
  });
  assert.deepEqual(status, [403, 'csrf_failed']);
  const form = await lee.page.evaluate(async () => {
    const r = await fetch('/sign-out', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'csrf=forged' });
    return r.status;
  });
  assert.equal(form, 403);
  // Still signed in: nothing changed.
  await lee.page.goto(`${cs.origin}/inbox`);
  await assert.doesNotReject(() => lee.page.getByRole('heading', { name: 'Inbox' }).waitFor());
  // A post from another origin never reaches a handler.
  const cross = await fetch(`${cs.origin}/sign-out`, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, body: 'csrf=x' });
  assert.equal(cross.status, 403);
  await lee.context.close();
});

test('pages work at phone width', async () => {
  await cs.person('max', 'Max Moore');
  const max = await enrolByMail('max', { viewport: { width: 390, height: 844 } });
  const req = await cs.request(['--event', 'payment', '--purpose', 'Pay the Q4 cloud invoice', '--impact', 'low',
    '--doc', 'offer-letter', '--requester', 'alice', '--beneficiary', 'alice', '--approver', 'max']);
  for (const path of ['/inbox', `/requests/${req}`, '/requests', '/requests/new', '/delegations', '/account']) {
    await max.page.goto(`${cs.origin}${path}`);
    await fitsWidth(max.page, path);
  }
  await max.page.goto(`${cs.origin}/requests/${req}`);
  await screenshot(max.page, 'request-phone');
  await max.context.close();
});
