/** The storage contract in one import: every port and record (types only; see ./store.ts). */
export type * from './apps.js';
export type * from './consent-states.js';
export type * from './data-sources.js';
export type * from './keys.js';
export type * from './logins.js';
export type * from './profiles.js';
export type * from './refusal.js';
export type * from './revocations.js';
export type * from './roles.js';
export type * from './sessions.js';
export type * from './rules.js';
export type * from './store.js';
export type * from './tenants.js';
export type * from './tokens.js';
export type * from './users.js';
