/** Schemas of consent (api.md §9): starting one; the callback answers a page and has no schema of its own. */
import { Type } from '@sinclair/typebox';
import { Id, Nullable, strictObject } from './common.js';

/**
 * One object with every field optional: a new profile is `oauthAppId` + `name` (+ `description`), new tokens for an
 * existing one `profileId`; which of the two (and never both) is the flow's check, with a message that says so.
 */
export const ConsentStartBody = Type.Object(
  {
    oauthAppId: Type.Optional(Id),
    name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_]{1,128}$', description: 'The new profile’s name (as a profile’s)' })),
    description: Type.Optional(Nullable(Type.String({ maxLength: 1024, pattern: '^[^\\u0000]*$' }))),
    profileId: Type.Optional(Id),
    returnTo: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description: 'A path on this server (`/…`, never `//` or another site) that the browser is sent back to, with the outcome in its query',
      }),
    ),
  },
  { description: 'A new profile: `oauthAppId`, `name`, `description`?; or new tokens for an existing one: `profileId`. `returnTo`? in both.' },
);

export const ConsentStarted = strictObject(
  {
    authorizationUrl: Type.String({ description: "The app's authorization URL to open in the user's browser" }),
    expiresAt: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$', description: 'When the consent must be completed by' }),
  },
  'A started consent',
);
