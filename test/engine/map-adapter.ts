/**
 * A storage adapter for oidc-provider over plain Maps, one per model, for the test authorization server.
 *
 * oidc-provider's own memory adapter is an LRU of 1,000 entries shared by every model: under load (each rotating
 * refresh writes a refresh token and an access token) it evicts live grants and refresh tokens, and the AS then
 * answers `invalid_grant` for a grant nobody revoked — a failure the engine under test did not cause. Nothing here is
 * evicted; an entry goes when it expires (checked when read), is destroyed, or its grant is revoked.
 *
 * `find` returns a copy, as a database would: a caller that changes what it read does not change what is stored.
 */

/** The interface oidc-provider calls (its docs: "adapter"); `expiresIn` is in seconds. */
export interface OidcAdapter {
  upsert(id: string, payload: Payload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<Payload | undefined>;
  findByUid(uid: string): Promise<Payload | undefined>;
  findByUserCode(userCode: string): Promise<Payload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

type Payload = Record<string, unknown>;

interface Entry {
  payload: Payload;
  /** epoch milliseconds; Infinity when the provider gave no lifetime */
  expiresAt: number;
}

/** Everything one server stores: a Map of entries per model name, with the indexes the adapter interface asks for. */
export class MapStore {
  readonly models = new Map<string, Map<string, Entry>>();
  /** grantId → "model id" keys of the tokens and codes issued under it, for revokeByGrantId */
  readonly grants = new Map<string, Set<string>>();
  readonly uids = new Map<string, string>();
  readonly userCodes = new Map<string, string>();

  entriesOf(model: string): Map<string, Entry> {
    let entries = this.models.get(model);
    if (!entries) this.models.set(model, (entries = new Map()));
    return entries;
  }

  /** How many live and not yet collected entries a model holds (tests use it to show nothing was evicted). */
  size(model: string): number {
    return this.models.get(model)?.size ?? 0;
  }
}

export class MapAdapter implements OidcAdapter {
  private readonly entries: Map<string, Entry>;

  constructor(
    private readonly model: string,
    private readonly store: MapStore,
  ) {
    this.entries = store.entriesOf(model);
  }

  async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    this.entries.set(id, { payload: structuredClone(payload), expiresAt });
    if (typeof payload.grantId === 'string') {
      let members = this.store.grants.get(payload.grantId);
      if (!members) this.store.grants.set(payload.grantId, (members = new Set()));
      members.add(`${this.model} ${id}`);
    }
    // Only a session is found by its uid (other models may carry a `uid` field of their own, which must not win).
    if (this.model === 'Session' && typeof payload.uid === 'string') this.store.uids.set(payload.uid, id);
    if (typeof payload.userCode === 'string') this.store.userCodes.set(payload.userCode, id);
  }

  async find(id: string): Promise<Payload | undefined> {
    const entry = this.live(id);
    return entry ? structuredClone(entry.payload) : undefined;
  }

  async findByUid(uid: string): Promise<Payload | undefined> {
    const id = this.store.uids.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode: string): Promise<Payload | undefined> {
    const id = this.store.userCodes.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id: string): Promise<void> {
    const entry = this.live(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    if (!entry) return;
    const { grantId, uid, userCode } = entry.payload;
    if (typeof grantId === 'string') this.store.grants.get(grantId)?.delete(`${this.model} ${id}`);
    if (this.model === 'Session' && typeof uid === 'string' && this.store.uids.get(uid) === id) this.store.uids.delete(uid);
    if (typeof userCode === 'string' && this.store.userCodes.get(userCode) === id) this.store.userCodes.delete(userCode);
  }

  /** Called once per token model when a grant is revoked: destroys this model's members of the grant. */
  async revokeByGrantId(grantId: string): Promise<void> {
    const members = this.store.grants.get(grantId);
    if (!members) return;
    const prefix = `${this.model} `;
    for (const key of [...members]) {
      if (key.startsWith(prefix)) await this.destroy(key.slice(prefix.length));
    }
    if (members.size === 0) this.store.grants.delete(grantId);
  }

  /** The entry under `id` unless it expired; an expired one is dropped on the way. */
  private live(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (entry && entry.expiresAt <= Date.now()) {
      void this.destroy(id);
      return undefined;
    }
    return entry;
  }
}

/** The factory oidc-provider's `adapter` setting takes: it calls it once per model name. */
export const mapAdapterFactory =
  (store: MapStore): ((model: string) => OidcAdapter) =>
  (model) =>
    new MapAdapter(model, store);
