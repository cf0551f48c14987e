/**
 * In-memory counting per key (a remote address) in a fixed window, bounded in size: the oldest key is forgotten
 * first. Per process by design: it throttles floods of bad logins at this node. Lockouts, of accounts and of unknown
 * user names alike, are in the database, where every node and every restart sees them.
 */

interface Entry {
  count: number;
  since: number;
}

export class WindowCounter {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly clock: () => number,
    private readonly maxKeys: number,
  ) {}

  count(key: string, windowMs: number): number {
    const e = this.entries.get(key);
    return e && this.clock() - e.since < windowMs ? e.count : 0;
  }

  add(key: string, windowMs: number): number {
    const now = this.clock();
    let e = this.entries.get(key);
    this.entries.delete(key);
    if (!e || now - e.since >= windowMs) e = { count: 0, since: now };
    // Re-inserted, so the key is the most recently used; the least recently used goes first when full.
    this.entries.set(key, e);
    if (this.entries.size > this.maxKeys) this.entries.delete(this.entries.keys().next().value!);
    return ++e.count;
  }
}
