/**
 * Optimistic concurrency beyond HDP (optional for clients): responses carry `ETag: "<row version>"`; a PUT or DELETE
 * with `If-Match` acts only on a version it lists (412 otherwise). Without `If-Match`, HDP's last-writer-wins stands.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Versions } from '../domain/ports/index.js';

export function setEtag(reply: FastifyReply, version: number): void {
  reply.header('etag', `"${version}"`);
}

/**
 * One element of RFC 9110's `#entity-tag` list (§5.6.1, §8.8.3): optional whitespace, an entity tag or nothing (empty
 * elements are allowed), optional whitespace, then a comma or the end. The opaque tag may itself hold commas.
 */
const ELEMENT = /[ \t]*(?:(W\/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*(,|$)/y;
/** Our tags are the row version in canonical decimal; any other opaque tag names no version of ours. */
const VERSION = /^[1-9][0-9]{0,14}$/;

/**
 * The versions an `If-Match` header accepts (RFC 9110 §13.1.1): undefined when there is no header or it is `*` (any
 * current version: the object must exist, which every route checks anyway); otherwise the versions of the strong
 * tags it lists — the write goes on when the row has any of them. Weak tags never match (strong comparison). A value
 * that is not a valid `If-Match` (junk, an unterminated tag, `*` inside a list) matches nothing: the empty list, 412.
 * The store checks the list in the write's own transaction (`store.profiles.update` etc.), so nothing slips between.
 */
export function ifMatchVersions(request: FastifyRequest): Versions | undefined {
  const header = request.headers['if-match'];
  if (header === undefined) return undefined;
  if (/^[ \t]*\*[ \t]*$/.test(header)) return undefined;
  const versions: number[] = [];
  for (let pos = 0; pos < header.length;) {
    ELEMENT.lastIndex = pos;
    const m = ELEMENT.exec(header);
    if (!m) return [];
    const [, weak, opaque, separator] = m;
    if (opaque !== undefined && !weak && VERSION.test(opaque)) versions.push(Number(opaque));
    if (separator === '') break;
    pos = ELEMENT.lastIndex;
  }
  return versions;
}
