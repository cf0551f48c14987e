/**
 * When a principal may have changed, as this node learns it on PostgreSQL: the principals stamp
 * (`Logins.principalsStamp`, kept by ../../domain/principals.ts).
 *
 * Every statement that changes a user, a grant or a tenant notifies channel `tokenkeep_principals` from its own
 * transaction (the triggers of migration 9), and PostgreSQL delivers the notification at commit to every session
 * that listens. This node listens on one connection of its own, opened on first use. The stamp is a generation that
 * goes up with each notification, with each write this node commits itself (PgDb calls `changed()` before the write's
 * promise resolves, so this node's next request never depends on its own notification's arrival), and whenever the
 * connection comes or goes.
 *
 * There is no stamp — every principal is read afresh — while the connection is down or lags: the listener sends
 * itself a ping every PING_MS through the same queue; one not back within LAG_MS means notifications may be held up
 * (PostgreSQL delivers them in commit order, so a ping that came back proves every change committed before it was
 * seen). A lost connection is opened again on the first use after RETRY_MS.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PRINCIPALS_CHANNEL = 'tokenkeep_principals';
const PING_MS = 500;
const LAG_MS = 1_000;
const RETRY_MS = 1_000;

export class PrincipalChanges {
  private client: pg.Client | undefined;
  private listening = false;
  private generation = 0;
  private closed = false;
  private retryAfter = 0;
  private pinger: NodeJS.Timeout | undefined;
  /** the ping on its way: its payload and when it was sent */
  private ping: { payload: string; sentAt: number } | undefined;
  private lagging = false;
  private readonly pingPrefix = `ping:${randomBytes(8).toString('hex')}:`;
  private pings = 0;

  constructor(private readonly url: string) {}

  /** The generation while notifications are known to arrive in time; undefined otherwise (and it starts listening). */
  stamp(): number | undefined {
    if (!this.client && !this.closed && Date.now() >= this.retryAfter) this.listen();
    return this.listening && !this.lagging ? this.generation : undefined;
  }

  /** A write this node committed may have changed a principal. */
  changed(): void {
    this.generation++;
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    if (!client) return;
    this.lost(client);
    await client.end().catch(() => {});
  }

  private listen(): void {
    const client = new pg.Client({ connectionString: this.url, application_name: 'tokenkeep-principals', keepAlive: true });
    this.client = client;
    client.on('notification', (n) => this.notified(n.payload ?? ''));
    // An error of an idle client is a lost connection (without a listener it would end the process).
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client
      .connect()
      .then(() => client.query(`LISTEN ${PRINCIPALS_CHANNEL}`))
      .then(() => {
        if (this.client !== client) return;
        this.generation++;
        this.listening = true;
        this.pinger = setInterval(() => this.tick(client), PING_MS).unref();
      })
      .catch(() => this.lost(client));
  }

  private notified(payload: string): void {
    if (!payload.startsWith('ping:')) {
      this.generation++;
    } else if (payload === this.ping?.payload) {
      this.ping = undefined;
      if (this.lagging) {
        this.lagging = false;
        this.generation++;
      }
    }
    // Another node's ping: nothing changed.
  }

  private tick(client: pg.Client): void {
    if (this.ping) {
      if (!this.lagging && Date.now() - this.ping.sentAt > LAG_MS) {
        this.lagging = true;
        this.generation++;
      }
      return;
    }
    const payload = `${this.pingPrefix}${++this.pings}`;
    this.ping = { payload, sentAt: Date.now() };
    client.query('SELECT pg_notify($1, $2)', [PRINCIPALS_CHANNEL, payload]).catch(() => this.lost(client));
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.listening = false;
    this.lagging = false;
    this.ping = undefined;
    this.generation++;
    clearInterval(this.pinger);
    this.retryAfter = Date.now() + RETRY_MS;
    if (!this.closed) client.end().catch(() => {});
  }
}
