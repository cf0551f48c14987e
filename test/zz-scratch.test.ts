import { test } from 'node:test';
import { harness, basic, ADMIN_PASSWORD } from './helpers.js';
test('scratch', async () => {
  const h = await harness();
  const auth = basic('d2cadmin', ADMIN_PASSWORD);
  for (const o of [
    { method: 'GET' as const, url: '/api/%zz', headers: { authorization: auth } },
    { method: 'GET' as const, url: '/api/admin/users/%zz', headers: { authorization: auth } },
    { method: 'OPTIONS' as const, url: '/api/admin/users', headers: { authorization: auth } },
    { method: 'GET' as const, url: '/api/nothing', headers: { authorization: auth } },
    { method: 'GET' as const, url: '/api/admin/users/', headers: { authorization: auth } },
    { method: 'POST' as const, url: '/api/healthcheck', headers: { authorization: auth } },
    { method: 'GET' as const, url: '/api/admin/users/99999999999999999999', headers: { authorization: auth } },
    { method: 'POST' as const, url: '/api/admin/roles', headers: { authorization: auth, 'content-type': 'application/json', 'content-length': '999999' }, payload: '{}' },
  ]) {
    const r = await h.app.inject(o); console.log(o.method, o.url, r.statusCode, JSON.stringify(r.headers), r.body.slice(0, 200));
  }
  await h.store.close();
  for (const o of [
    { method: 'GET' as const, url: '/api/healthcheck' },
    { method: 'HEAD' as const, url: '/api/healthcheck' },
    { method: 'GET' as const, url: '/api/admin/users', headers: { authorization: auth } },
  ]) {
    const r = await h.app.inject(o); console.log(o.method, o.url, r.statusCode, JSON.stringify(r.headers), r.body.slice(0, 200));
  }
  await h.close();
});
