/**
 * Optimistic concurrency beyond HDP (optional for clients): responses carry `ETag: "<row version>"`; a PUT or DELETE
 * with `If-Match` acts only on that version (412 otherwise). Without `If-Match`, HDP's last-writer-wins stands.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export function setEtag(reply: FastifyReply, version: number): void {
  reply.header('etag', `"${version}"`);
}

/**
 * The version an `If-Match` header demands: undefined when there is none or it is `*` (any current version);
 * -1, which no row has, for a header naming no strong version of ours (weak tags never match, RFC 9110 §13.1.1).
 */
export function ifMatchVersion(request: FastifyRequest): number | undefined {
  const header = request.headers['if-match'];
  if (header === undefined) return undefined;
  const tags = header.split(',').map((t) => t.trim());
  if (tags.includes('*')) return undefined;
  for (const tag of tags) {
    const m = /^"([1-9][0-9]{0,15})"$/.exec(tag);
    if (m) return Number(m[1]);
  }
  return -1;
}
