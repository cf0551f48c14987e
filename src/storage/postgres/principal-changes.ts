/**
 * When a principal may have changed, as this node learns it on PostgreSQL: the principals stamp
 * (`Logins.principalsStamp`, kept by ../../domain/principals.ts).
 *
 * Every statement that changes a user, a grant or a tenant notifies channel `tokenkeep_principals` from its own
 * transaction (the triggers of migration 9), and PostgreSQL delivers the notification at commit to every session
 * that listens. This node listens on one connection of its own, opened on first use. The stamp is a generation that
 * goes up with each notification, with each such write this node commits itself, and whenever the connection comes or
 * goes.
 *
 * Delivery takes its time: the listening backends send notifications when the operating system schedules them,
 * which on a loaded machine was 17–22 ms after the commit, later than a client's next request to another node. So a
 * write that changed a principal (the triggers' NOTICE tells its session: ./db.ts) is answered only once it has been
 * seen everywhere (`committed()`): its node sends `sync` behind it on the channel, and every other node that listens
 * (by its connection's application_name in pg_stat_activity) answers `ack` once it has read everything before it —
 * notifications arrive in commit order. A node that does not answer within UNCONFIRMED_MS has by then gone without a
 * stamp on its own, see below; the write is answered then.
 *
 * There is no stamp — every principal is read afresh — while the connection is down or lags: the listener sends
 * itself a ping every PING_MS through the same queue; one not back within LAG_MS means notifications may be held up
 * (a ping that came back proves every change committed before it was seen), and so does a ping timer that fired
 * LAG_MS late (the event loop stood still); the stamp is back with the next ping that returns. A lost connection is opened again on the
 * first use after RETRY_MS.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

export const PRINCIPALS_CHANNEL = 'tokenkeep_principals';
/** What the triggers of migration 9 say to the session that changed a principal. */
export const PRINCIPALS_NOTICE = 'tokenkeep_principals_changed';
/** application_name of every node's listening connection, followed by the node's id */
export const LISTENER_NAME = 'tokenkeep-principals:';
const PING_MS = 500;
const LAG_MS = 1_000;
/** Long enough for a node whose notifications are held up to notice its unanswered ping and drop its stamp. */
const UNCONFIRMED_MS = PING_MS + LAG_MS + 200;
const RETRY_MS = 1_000;

interface Sync {
  waitingFor: Set<string>;
  done: () => void;
}

export class PrincipalChanges {
  private client: pg.Client | undefined;
  private listening: Promise<boolean> | undefined;
  private up = false;
  private generation = 0;
  private closed = false;
  private retryAfter = 0;
  private pinger: NodeJS.Timeout | undefined;
  /** the ping on its way: its payload and when it was sent */
  private ping: { payload: string; sentAt: number } | undefined;
  private lagging = false;
  private lastTick = 0;
  private readonly id = randomBytes(8).toString('hex');
  private sent = 0;
  private readonly syncs = new Map<string, Sync>();

  constructor(private readonly url: string) {}

  /** The generation while notifications are known to arrive in time; undefined otherwise (and it starts listening). */
  stamp(): number | undefined {
    if (!this.client && !this.closed && Date.now() >= this.retryAfter) void this.listen();
    return this.up && !this.lagging ? this.generation : undefined;
  }

  /** A write of this node that changed a principal is committed: this node's next request sees it, and so do the others'. */
  async committed(): Promise<void> {
    this.generation++;
    if (this.closed) return;
    // A write is rare enough to open the connection at once (a `users` command's first and only write, too).
    const listening = await (this.listening ?? this.listen());
    if (!listening || this.client === undefined) return void (await sleep(UNCONFIRMED_MS));
    const others = await this.client
      .query<{ name: string }>('SELECT application_name AS name FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE $1', [
        `${LISTENER_NAME}%`,
      ])
      .then(
        ({ rows }) => new Set(rows.map((r) => r.name.slice(LISTENER_NAME.length)).filter((id) => id !== this.id)),
        () => undefined,
      );
    if (others === undefined) return void (await sleep(UNCONFIRMED_MS));
    if (others.size === 0) return;
    const key = `${this.id}:${++this.sent}`;
    let timer: NodeJS.Timeout | undefined;
    const seen = new Promise<void>((resolve) => {
      this.syncs.set(key, { waitingFor: others, done: resolve });
      timer = setTimeout(resolve, UNCONFIRMED_MS);
    });
    this.notify(`sync:${key}`);
    await seen;
    clearTimeout(timer);
    this.syncs.delete(key);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const sync of this.syncs.values()) sync.done();
    const client = this.client;
    if (!client) return;
    this.lost(client);
    await client.end().catch(() => {});
  }

  /** Opens the listening connection; resolves whether it listens. */
  private listen(): Promise<boolean> {
    const client = new pg.Client({ connectionString: this.url, application_name: `${LISTENER_NAME}${this.id}`, keepAlive: true });
    this.client = client;
    client.on('notification', (n) => this.notified(n.payload ?? ''));
    // An error of an idle client is a lost connection (without a listener it would end the process).
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    this.listening = client
      .connect()
      .then(() => client.query(`LISTEN ${PRINCIPALS_CHANNEL}`))
      .then(() => {
        if (this.client !== client) return false;
        this.generation++;
        this.up = true;
        this.lastTick = Date.now();
        this.pinger = setInterval(() => this.tick(), PING_MS).unref();
        return true;
      })
      .catch(() => {
        this.lost(client);
        return false;
      });
    return this.listening;
  }

  /** What arrives on the channel, in commit order: a change (empty), a ping, a sync to answer, an answer to a sync. */
  private notified(payload: string): void {
    if (payload === '') {
      this.generation++;
      return;
    }
    // ping:<node>:<n>, sync:<node>:<n>, ack:<node that synced>:<n>:<node that answers>
    const [kind, from, n, by] = payload.split(':');
    if (kind === 'ping' && payload === this.ping?.payload) {
      this.ping = undefined;
      if (this.lagging) {
        this.lagging = false;
        this.generation++;
      }
    } else if (kind === 'sync' && from !== this.id) {
      // Everything committed before the sync has been read here: answer.
      this.notify(`ack:${from}:${n}:${this.id}`);
    } else if (kind === 'ack' && from === this.id) {
      const sync = this.syncs.get(`${from}:${n}`);
      sync?.waitingFor.delete(by);
      if (sync?.waitingFor.size === 0) sync.done();
    }
    // Another node's ping, a change of another kind: nothing here.
  }

  private tick(): void {
    // A tick that comes late is an event loop that stood still: what arrived meanwhile is not read yet.
    const late = Date.now() - this.lastTick > LAG_MS;
    this.lastTick = Date.now();
    if (late && !this.lagging) {
      this.lagging = true;
      this.generation++;
    }
    if (this.ping) {
      if (!this.lagging && Date.now() - this.ping.sentAt > LAG_MS) {
        this.lagging = true;
        this.generation++;
      }
      return;
    }
    const payload = `ping:${this.id}:${++this.sent}`;
    this.ping = { payload, sentAt: Date.now() };
    this.notify(payload);
  }

  private notify(payload: string): void {
    const client = this.client;
    client?.query('SELECT pg_notify($1, $2)', [PRINCIPALS_CHANNEL, payload]).catch(() => this.lost(client));
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.listening = undefined;
    this.up = false;
    this.lagging = false;
    this.ping = undefined;
    this.generation++;
    clearInterval(this.pinger);
    this.retryAfter = Date.now() + RETRY_MS;
    if (!this.closed) client.end().catch(() => {});
  }
}
