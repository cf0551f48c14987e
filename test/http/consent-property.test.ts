/**
 * The consent callback (api.md §9) never reflects its query unescaped: for any query string — arbitrary parameters and
 * values, a real state of a started consent or none, an AS `error`, a code the scripted AS accepts — the answer is
 * either a 303 to the start's returnTo carrying only the outcome, or the page made of the template's own tags, with
 * the strict headers, in which no value of the query that holds an HTML-special character appears, and no code.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { harness, type Harness } from '../helpers.js';
import { startBadAuthorizationServer, type BadAuthorizationServer } from '../engine/bad-as.js';
import { FAST, unique } from '../engine/engine-support.js';
import { PUBLIC_URL, callback, consentApp, start, started, stateOf } from '../engine/consent-support.js';
import { withEnoughSuccesses } from '../property-support.js';

/** PROP_RUNS=2000 searches harder than CI does. */
const RUNS = Number(process.env.PROP_RUNS ?? 80);

/** Every tag the page template writes; anything else between < and > came from somewhere else. */
const TEMPLATE_TAGS = new Set([
  '<!DOCTYPE html>',
  '<html lang="en">',
  '</html>',
  '<head>',
  '</head>',
  '<meta charset="utf-8">',
  '<meta name="viewport" content="width=device-width, initial-scale=1">',
  '<meta name="referrer" content="no-referrer">',
  '<title>',
  '</title>',
  '<body>',
  '</body>',
  '<main>',
  '</main>',
  '<h1>',
  '</h1>',
  '<p>',
  '</p>',
]);

const CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const RETURN_TO = '/back/here?from=consent';

/** Text that tries hard to be markup, mixed with anything else. */
const hostile = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom('<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>", '&lt;b&gt;', '</p><h1>x', 'access_denied'),
  fc.string({ unit: fc.constantFrom('<', '>', '&', '"', "'", '/', '=', 'a', ' ', '\u0000', '\n'), maxLength: 30 }),
);
const name = fc.oneof(fc.constantFrom('state', 'code', 'iss', 'error', 'error_description', 'error_uri', 'returnTo', 'user'), fc.string({ maxLength: 10 }));

describe('consent callback: nothing of the query is reflected unescaped', () => {
  let h: Harness;
  let bad: BadAuthorizationServer;
  let appId: number;

  before(async () => {
    bad = await startBadAuthorizationServer();
    h = await harness({ allowLoopbackHttpUris: true, engine: FAST, publicUrl: PUBLIC_URL });
    appId = await consentApp(h, bad);
  });
  after(async () => {
    await h?.close();
    await bad?.close();
  });

  test('any query: a 303 to the returnTo with the outcome only, or the template page with the strict headers', async () => {
    let connected = 0;
    const property = fc.asyncProperty(
      fc.array(fc.tuple(name, hostile), { maxLength: 6 }),
      fc.constantFrom('none', 'page', 'returnTo'),
      fc.boolean(),
      async (pairs, real, withCode) => {
        const query = new URLSearchParams(pairs);
        if (real !== 'none') {
          const body = { oauthAppId: appId, name: unique('prop_'), ...(real === 'returnTo' ? { returnTo: RETURN_TO } : {}) };
          query.set('state', stateOf(started(await start(h, body))));
          if (withCode) query.set('code', `code-${unique('')}`);
        }
        const res = await callback(h, `/hdpui/oauth2callback?${query.toString()}`);
        assert.equal(res.headers['content-security-policy'], CSP);
        assert.equal(res.headers['cache-control'], 'no-store');
        assert.equal(res.headers['referrer-policy'], 'no-referrer');
        if (res.statusCode === 303) {
          assert.equal(real, 'returnTo', 'only a start that named a returnTo redirects');
          assert.match(String(res.headers.location), /^\/back\/here\?from=consent&consent=(connected&profileId=\d+|error&error=\d{9})$/);
          if (String(res.headers.location).includes('connected')) connected++;
          return;
        }
        assert.match(String(res.headers['content-type']), /^text\/html; charset=utf-8$/);
        if (res.statusCode === 200) connected++;
        const tags = res.body.match(/<[^>]*>/g) ?? [];
        for (const tag of tags) assert.ok(TEMPLATE_TAGS.has(tag), `a tag the template does not write: ${tag}`);
        // Between the template's tags: text only, every special character escaped.
        const text = res.body.replace(/<[^>]*>/g, '\n');
        assert.ok(!/[<>"']/.test(text), `an unescaped special character in the text: ${text}`);
        assert.ok(!/&(?!(?:amp|lt|gt|quot|#39);)/.test(text), `a bare & in the text: ${text}`);
        for (const [, value] of query) {
          if (/[<>"']/.test(value)) assert.ok(!text.includes(value), `the page reflects ${JSON.stringify(value)}`);
        }
        const code = query.get('code');
        if (code?.startsWith('code-')) assert.ok(!res.body.includes(code), 'the code is never shown');
      },
    );
    await withEnoughSuccesses(
      'consent callbacks that connected',
      () => connected,
      () => fc.assert(property, { numRuns: RUNS }),
    );
  });
});
