/**
 * The seeded values, computed again when verifying: profile names and token plaintexts by profile id (and, for
 * PUT bodies, a generation). Kept apart from seed.ts so the sealing worker loads nothing else.
 */
import { createHash } from 'node:crypto';

/** Deterministic filler, so a token's expected value can be computed again when verifying. */
const FILLER = Array.from({ length: 4 }, (_, i) => createHash('sha512').update(`tokenkeep-bench-${i}`).digest('base64url')).join('');
/** 200 characters, the size of a Google access token */
export const accessToken = (id: number, gen = 0): string => `ya29.${id}.${gen}.${FILLER}`.slice(0, 200);
/** 100 characters */
export const refreshToken = (id: number, gen = 0): string => `1//${id}.${gen}.${FILLER.slice(100)}`.slice(0, 100);
/** Zero-padded so names sort like ids: seeding then appends to the unique (owner, name) index instead of scattering. */
export const profileName = (id: number): string => `bench_${String(id).padStart(8, '0')}`;
