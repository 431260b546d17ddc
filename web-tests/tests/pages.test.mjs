// Every page, for each kind of user: a requester creating a request with
// an upload, an auditor's search, timeline and completion certificate, a
// compliance officer resolving a control exception with a passkey, and an
// administrator's read-only views. Each page is checked with axe-core and
// photographed for the README.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Countersign, Mailbox, launch, device, accessible, screenshot, eventually, SCREENSHOTS } from '../lib/harness.mjs';

let mail, cs, browser;

before(async () => {
  mail = await Mailbox.start();
  cs = await Countersign.start({ mailbox: mail });
  browser = await launch();
  await cs.person('alice', 'Alice Adams');
  await cs.person('dave', 'Dave Doe');
  await cs.person('pat', 'Pat Park');
  await cs.person('quinn', 'Quinn Quist', ['--role', 'auditor']);
  await cs.person('rita', 'Rita Ross', ['--role', 'compliance']);
  await cs.person('sam', 'Sam Stone', ['--role', 'admin']);
  await cs.person('ned', 'Ned Nye');
  await cs.person('olga', 'Olga Ortiz');
});

after(async () => {
  await browser?.close();
  await cs?.stop();
  await mail?.down();
});

async function enrol(handle, o = {}) {
  const url = await cs.invite(handle);
  const d = await device(browser, o);
  await d.page.goto(url);
  await d.page.getByRole('button', { name: 'Create your passkey' }).click();
  await d.page.waitForURL(/\/inbox$/);
  return d;
}

/** A page is reachable, accessible and photographed. */
async function visit(page, path, name, heading, shot = {}) {
  const r = await page.goto(`${cs.origin}${path}`);
  assert.ok(r.status() < 400, `${path} answered ${r.status()}`);
  if (heading) await page.getByRole('heading', { name: heading }).first().waitFor();
  await accessible(page, path);
  if (name) await screenshot(page, name, shot);
  assert.deepEqual(page.__errors || [], [], `script errors on ${path}`);
}

test('a requester creates a request with an upload; the approver approves; the auditor reads and prints the certificate', async () => {
  const alice = await enrol('alice');
  const pat = await enrol('pat');
  await visit(alice.page, '/requests', 'my-requests-empty', 'My requests');
  await visit(alice.page, '/requests/new', 'request-new', 'New request');
  const file = join(cs.dir, 'offer-dave.txt');
  writeFileSync(file, 'Offer letter for Dave Doe\nRole: Software Engineer\nStart: 2027-01-04\n');
  const p = alice.page;
  await p.getByLabel(/What is it for/).fill('Onboard Dave as engineer');
  await p.getByLabel(/Business event/).selectOption('onboarding');
  await p.getByLabel(/Document name/).fill('offer-dave');
  await p.getByLabel(/^File/).setInputFiles(file);
  await p.getByLabel(/Who it is for/).fill('dave');
  await p.getByLabel(/^Approvers/).fill('pat');
  await p.getByLabel('Target system').fill('github');
  await p.getByLabel('Whose access').fill('dave');
  await p.getByLabel('Entitlement').fill('org/acme/team/eng');
  await p.getByRole('button', { name: 'Create the request' }).click();
  await p.waitForURL(/\/requests\/req_[0-9a-f]+\?notice=created$/);
  const id = p.url().match(/(req_[0-9a-f]+)/)[1];
  await assert.doesNotReject(() => p.getByText('Your request was created').waitFor());
  await visit(p, '/requests', 'my-requests', 'My requests');
  await assert.doesNotReject(() => p.getByRole('link', { name: 'Onboard Dave as engineer' }).waitFor());

  // A bad form is answered with the form again and what is wrong.
  await p.goto(`${cs.origin}/requests/new`);
  await p.getByLabel(/What is it for/).fill('No approvers');
  await p.getByLabel(/Document name/).fill('offer-dave');
  await p.getByLabel(/^File/).setInputFiles(file);
  await p.getByLabel(/Who it is for/).fill('dave');
  await p.getByLabel(/^Approvers/).fill('nobody-by-this-name');
  await p.getByRole('button', { name: 'Create the request' }).click();
  await assert.doesNotReject(() => p.getByText('The request was not created').waitFor());

  // Pat was told, and approves from the mail's link.
  const m = await mail.waitFor((x) => x.to.includes('pat@example.com') && x.subject.includes('Onboard Dave'));
  await pat.page.goto(m.links.find((l) => l.includes(id)));
  await pat.page.locator('pre[data-doc-text]').getByText(/Software Engineer/).waitFor();
  await pat.page.getByRole('button', { name: 'Approve' }).click();
  await pat.page.getByText(/Approved\. Your signature is entry/).waitFor();
  await mail.waitFor((x) => x.to.includes('alice@example.com') && /was approved/.test(x.subject));
  await visit(pat.page, '/notifications', 'notifications', 'Notifications');

  // The auditor.
  const quinn = await enrol('quinn');
  await visit(quinn.page, `/audit?q=onboard`, 'audit', 'Audit');
  await assert.doesNotReject(() => quinn.page.getByRole('link', { name: 'Onboard Dave as engineer' }).waitFor());
  await visit(quinn.page, `/audit?q=pat`, null, 'Audit');
  await visit(quinn.page, '/identities/pat', 'identity', 'Pat Park');
  await visit(quinn.page, `/requests/${id}`, 'request-approved', 'Onboard Dave as engineer');
  await visit(quinn.page, `/requests/${id}/timeline`, 'timeline', 'Timeline');
  await assert.doesNotReject(() => quinn.page.getByText(/pat approved; the request is now approved/).waitFor());
  await visit(quinn.page, `/requests/${id}/certificate`, 'certificate', 'Completion certificate', { fullPage: false });
  await assert.doesNotReject(() => quinn.page.getByText(/Verified: \d+ checks passed/).first().waitFor());
  await assert.doesNotReject(() => quinn.page.getByText(/a passkey \(synced, user verified/).first().waitFor());
  // It prints to PDF.
  const pdf = await quinn.page.pdf({ format: 'A4', printBackground: true });
  assert.ok(pdf.length > 20000 && pdf.subarray(0, 5).toString() === '%PDF-', 'a PDF');
  writeFileSync(join(SCREENSHOTS, 'certificate.pdf'), pdf);
  // The evidence bundle downloads, and verifies offline.
  const [download] = await Promise.all([
    quinn.page.waitForEvent('download'),
    quinn.page.evaluate((u) => { const a = document.createElement('a'); a.href = u; a.download = ''; document.body.appendChild(a); a.click(); }, `/requests/${id}/evidence`),
  ]);
  const bundle = join(cs.dir, `${id}.evidence.json`);
  await download.saveAs(bundle);
  const key = (await cs.api('GET', '/v1/log/key')).body;
  const out = await cs.cli('verify', bundle, '--log-key', key.trim());
  assert.match(out, /VERIFIED: \d+ checks passed/);
  assert.match(out, /signed with a passkey \(synced, user verified/);

  // A requester who is not a party sees nothing of it.
  const dave = await enrol('dave');
  const r = await dave.page.goto(`${cs.origin}/requests/${id}`);
  assert.equal(r.status(), 200, 'dave is the beneficiary, a party');
  const stranger = await enrol('ned');
  const hidden = await stranger.page.goto(`${cs.origin}/requests/${id}`);
  assert.equal(hidden.status(), 404, 'ned is no party to it');
  // Nor can a second enrolment link add a passkey to an enrolled account.
  await assert.rejects(() => cs.invite('ned'), /passkey_exists/);
  for (const d of [alice, pat, quinn, dave, stranger]) await d.context.close();
});

test('a compliance officer resolves a control exception with a passkey', async () => {
  await cs.cli('entitlements', 'report', '--system', 'github', '--subject', 'dave', '--operation', 'grant',
    '--entitlement', 'org/acme/admins', '--changed-by', 'connector', '--source-event-id', 'gh-1');
  const list = JSON.parse(await cs.cli('cx', 'list', '--json'));
  const cx = (list.exceptions || list)[0].id;
  const rita = await enrol('rita');
  await visit(rita.page, '/controls', 'controls', 'Control exceptions');
  await visit(rita.page, `/controls/${cx}`, 'control', null);
  await rita.page.getByRole('button', { name: 'Acknowledge' }).click();
  await rita.page.waitForLoadState('load');
  await rita.page.getByLabel('Resolution').selectOption('remediated');
  await rita.page.getByLabel(/Justification/).fill('The admin grant was removed in GitHub the same day.');
  await rita.page.getByRole('button', { name: 'Sign the resolution' }).click();
  await assert.doesNotReject(() => rita.page.getByText('Resolved and signed.').waitFor());
  const shown = await eventually(async () => {
    const e = await cs.api('GET', `/v1/control-exceptions/${cx}`);
    return e.body.state === 'resolved' && e.body;
  });
  assert.equal(shown.resolution.resolver, 'rita');
  await rita.page.reload();
  await assert.doesNotReject(() => rita.page.getByText(/Resolved: remediated by rita/).waitFor());
  await rita.context.close();
});

test('an administrator\'s read-only views, and the pages everyone reaches', async () => {
  await cs.cli('webhook', 'create', '--url', 'http://hook:pass-in-url@127.0.0.1:9/hook?token=secret-in-url');
  const sam = await enrol('sam');
  await visit(sam.page, '/admin/identities', 'admin-identities', 'Administration');
  await visit(sam.page, '/admin/credentials', null, 'Administration');
  await visit(sam.page, '/admin/tokens', null, 'Administration');
  await visit(sam.page, '/admin/webhooks', null, 'Administration');
  // A webhook URL's query (often a secret) is not shown.
  const admin = await sam.page.content();
  assert.ok(!admin.includes('secret-in-url') && !admin.includes('pass-in-url'), 'no secret of a webhook URL is shown');
  assert.ok(admin.includes('http://127.0.0.1:9'), 'its origin is');
  await visit(sam.page, '/account', null, 'Your account');
  await visit(sam.page, '/delegations', null, 'Delegations');
  // A requester is not an administrator.
  const pat = await enrol('olga');
  const r = await pat.page.goto(`${cs.origin}/admin/identities`);
  assert.equal(r.status(), 403);
  await accessible(pat.page, 'the forbidden page');
  const nf = await pat.page.goto(`${cs.origin}/no/such/page`);
  assert.equal(nf.status(), 404);
  await accessible(pat.page, 'the not-found page');
  await screenshot(pat.page, 'not-found');
  // The sign-in page.
  const anon = await browser.newContext();
  const page = await anon.newPage();
  await visit(page, '/sign-in', 'sign-in', 'Sign in to Countersign');
  await anon.close();
  await sam.context.close();
  await pat.context.close();
});
