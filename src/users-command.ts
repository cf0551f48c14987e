/**
 * `tokenkeep users unlock NAME` and `tokenkeep users reset-password NAME`: the way back in after a lockout or a lost
 * password, without SQL. Both are safe beside running servers on either backend: servers read the user's row afresh
 * on every request, so the change applies to their next one (and their verified-password cache is keyed by the
 * stored hash, so the old password stops working at once). Neither needs the master key: no sealed value is read or
 * written.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError, type Config } from './config.js';
import { OWASP_SCRYPT, hashPassword } from './crypto/passwords.js';
import { passwordProblem } from './domain/password-policy.js';
import { openStore } from './storage/open.js';
import { integrityRules } from './domain/integrity.js';
import { settle } from './domain/refusals.js';
import { endSessionsOf } from './domain/console-sessions.js';
import type { Store, User } from './domain/ports/index.js';

/** The command could not do what it was asked, for a reason the message gives: exit 1, no stack. */
export class CommandFailed extends Error {}

/** More than any policy-conforming password, in any encoding: the rest of the input is not read. */
const MAX_PASSWORD_INPUT = 4096;

async function withUser<T>(config: Config, name: string, work: (store: Store, user: User) => Promise<T>): Promise<T> {
  // A mistyped path must not leave an empty database behind.
  if (config.db.kind === 'sqlite' && config.db.file !== ':memory:' && !existsSync(config.db.file)) {
    throw new ConfigError('TOKENKEEP_DB', `names no database: ${config.db.file} does not exist (start the server once, or check the path)`);
  }
  const store = openStore(config.db, integrityRules);
  try {
    await store.migrate();
    // No user name holds a control character (and PostgreSQL refuses U+0000 in a query): such a name is no user.
    const user = /\p{Cc}/u.test(name) ? undefined : await store.users.byName(name);
    if (!user) throw new CommandFailed(`no user named ${JSON.stringify(name)}`);
    return await work(store, user);
  } finally {
    await store.close();
  }
}

const lockState = (user: User): string => {
  const locked = user.lockedUntil !== null && user.lockedUntil > Date.now();
  const lock = locked ? `unlocked it (it was locked until ${new Date(user.lockedUntil!).toISOString()})` : 'it was not locked';
  return `${lock}; failed-login count reset (it was ${user.failedCount})`;
};

const inactiveNote = (user: User): string => (user.status === 1 ? '' : '\nnote: the account is inactive; it cannot log in until an administrator activates it');

export async function unlockUser(config: Config, name: string): Promise<number> {
  return withUser(config, name, async (store, user) => {
    await settle(store.users.setLock(user.id, null));
    process.stdout.write(`user ${user.userName} (id ${user.id}): ${lockState(user)}${inactiveNote(user)}\n`);
    return 0;
  });
}

export async function resetPassword(config: Config, name: string, passwordFile: string | undefined): Promise<number> {
  return withUser(config, name, async (store, user) => {
    const password = decodePassword(passwordFile === undefined ? await readStdin() : readPasswordFile(passwordFile));
    const problem = passwordProblem(password, user.userName);
    if (problem) throw new CommandFailed(`the new password does not meet the password policy: ${problem}; nothing was changed`);
    const hash = await hashPassword(password, OWASP_SCRYPT);
    // Replaces the hash only if it is still the one read above, so a concurrent change is never silently undone;
    // no grant or other column is rewritten.
    await store.logins.upgradePasswordHash(user.id, user.passwordHash, hash);
    if ((await store.users.get(user.id))?.passwordHash !== hash) {
      throw new CommandFailed(`the password of ${user.userName} was changed or the user removed while this command ran; nothing was replaced: run it again`);
    }
    await settle(store.users.setLock(user.id, null));
    await endSessionsOf(store, user.id);
    process.stdout.write(`user ${user.userName} (id ${user.id}): password replaced; ${lockState(user)}${inactiveNote(user)}\n`);
    return 0;
  });
}

function readPasswordFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError('--password-file', `cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'} ${path}`);
  }
}

async function readStdin(): Promise<Buffer> {
  // A terminal would echo the password: the operator pipes it in instead (README: `read -rs`).
  if (process.stdin.isTTY) {
    throw new CommandFailed(
      'reads the new password from standard input or --password-file, and standard input is a terminal ' +
        '(which would show it): pipe it in, e.g. read -rs PW && printf \'%s\\n\' "$PW" | tokenkeep users reset-password NAME',
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_PASSWORD_INPUT) throw new CommandFailed(`the password input is longer than ${MAX_PASSWORD_INPUT} bytes; nothing was changed`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The input as text without one trailing line end: it must be one non-empty line of valid UTF-8. */
function decodePassword(input: Buffer): string {
  if (input.length > MAX_PASSWORD_INPUT) throw new CommandFailed(`the password input is longer than ${MAX_PASSWORD_INPUT} bytes; nothing was changed`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    throw new CommandFailed('the new password is not valid UTF-8; nothing was changed');
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new CommandFailed('the new password is empty; nothing was changed');
  if (/[\r\n]/.test(password)) throw new CommandFailed('the new password input holds more than one line; nothing was changed');
  return password;
}
