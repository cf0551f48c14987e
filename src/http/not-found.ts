/**
 * 404 for unknown paths and 405 (with `Allow`) for a known path with the wrong method. Fastify answers both with
 * 404, so every route is remembered as it is added and matched here.
 */
import type { FastifyInstance } from 'fastify';
import { fail } from '../errors.js';

export function installNotFound(app: FastifyInstance): void {
  const routes: { source: string; pattern: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (route) => {
    const source = '^' + route.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+') + '/?$';
    // Compared by the text it was built from: RegExp#source escapes '/', so it never equals `source`.
    let entry = routes.find((r) => r.source === source);
    if (!entry) routes.push((entry = { source, pattern: new RegExp(source), methods: new Set() }));
    for (const m of [route.method].flat()) entry.methods.add(m);
  });
  app.setNotFoundHandler((request) => {
    const path = request.url.split('?')[0];
    const known = routes.find((r) => r.pattern.test(path));
    if (known) throw fail('methodNotAllowed', request.method, { allow: [...known.methods].sort().join(', ') });
    throw fail('notFound', path.slice(0, 200));
  });
}
