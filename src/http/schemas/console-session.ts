/** Schemas of console sessions (api.md §10): signing in, and what a session tells the console. */
import { Type } from '@sinclair/typebox';
import { strictObject } from './common.js';

/**
 * Exactly the two fields (another field is a 400, as a wrong type is). Empty or unknown credentials are not a 400 but
 * the authenticator's 401, as with Basic auth; the bounds are Basic auth's.
 */
export const SignInBody = strictObject(
  {
    userName: Type.String({ maxLength: 256 }),
    password: Type.String({ maxLength: 1024 }),
  },
  'The user name and password, as for HTTP Basic',
);

export const SessionInfo = strictObject(
  {
    userName: Type.String({ description: 'The signed-in user, as stored (its case may differ from what was typed)' }),
    csrfToken: Type.String({ description: 'Send it as X-CSRF-Token with every request other than GET/HEAD; keep it in memory only' }),
  },
  'The signed-in user and the session’s CSRF token',
);
