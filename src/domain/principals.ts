/**
 * Who a user name is, for every request (Basic auth, a console session, `?user=`): the store's principal, kept in
 * memory between requests while the store's principals stamp stays the same (issue 16). (The consent callback's check
 * of its user reads the store: it is not on the hot path.)
 *
 * The stamp changes, on this node and by its next request, with every change of a user, its grants or its tenant
 * that any node or process commits (SQLite: a version that triggers raise in the writing transaction; PostgreSQL:
 * LISTEN/NOTIFY from the writing transaction, this node's own writes at once, and such a write answered only once
 * every other node has acknowledged it). While the store cannot vouch for
 * the stamp (PostgreSQL's notification connection down or lagging) there is none, and every request reads the row,
 * as before the cache. A row read while the stamp moved is answered but not kept: it may be older than the change
 * that moved it.
 *
 * Only what authentication reads is kept — the user's row with its password hash, status, lock and grants — never
 * a token or a secret. Unknown names are not kept (their refusals go through the lockout's own rows every time).
 */
import type { Logins, Principal } from './ports/index.js';

const DEFAULT_SIZE = 10_000;

interface Entry {
  stamp: number;
  principal: Principal;
}

export class Principals {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly logins: Logins,
    private readonly size = DEFAULT_SIZE,
  ) {}

  /** The principal of a name, or undefined. No user name holds a control character: such a name is never looked up. */
  async byName(userName: string): Promise<Principal | undefined> {
    if (userName === '' || /\p{Cc}/u.test(userName)) return undefined;
    const stamp = this.logins.principalsStamp();
    if (stamp === undefined) {
      this.entries.clear();
      return this.logins.principal(userName);
    }
    const entry = this.entries.get(userName);
    if (entry?.stamp === stamp) return entry.principal;
    const principal = await this.logins.principal(userName);
    if (principal && this.logins.principalsStamp() === stamp) this.keep(userName, { stamp, principal });
    else this.entries.delete(userName);
    return principal;
  }

  private keep(userName: string, entry: Entry): void {
    this.entries.delete(userName);
    this.entries.set(userName, entry);
    if (this.entries.size > this.size) this.entries.delete(this.entries.keys().next().value!);
  }
}
