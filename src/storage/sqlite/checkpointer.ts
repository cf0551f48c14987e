/**
 * WAL checkpoints on a worker thread. SQLite's automatic checkpoint runs inside the COMMIT that crosses 1 000 WAL
 * pages, on the committing connection: here that is the event loop, blocked while the pages are copied into the
 * database file and that file is fsynced. With writes spread over a large table (a PUT of a random profile out of
 * 1M) that happened every few dozen commits, and every request in flight waited for it (PUT p99 15 → 38 ms).
 *
 * So the server's connection does not checkpoint (`wal_autocheckpoint = 0`); after its commits it nudges this
 * worker, which holds a second connection to the same file and runs `PRAGMA wal_checkpoint(PASSIVE)` — at most one
 * at a time, at most every MIN_INTERVAL_MS. A passive checkpoint never waits for the writer; once it has copied every
 * frame, the writer's next commit starts the WAL over, so the WAL stays small. Durability does not depend on it: a
 * commit is durable in the WAL (synchronous=FULL) before it is acknowledged, checkpointed or not.
 *
 * Should the worker fail, the connection goes back to SQLite's automatic checkpoints (`onFailure`).
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

const MIN_INTERVAL_MS = 1000;

/** The worker: CommonJS, evaluated as a string, so that it runs the same from src/ (tsx) and dist/. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 1000');
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true });
  } catch (error) {
    parentPort.postMessage({ ok: false, message: String(error && error.message) });
  }
});
`;

export class Checkpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private closing = false;
  private running = false;
  private wanted = false;
  private timer: NodeJS.Timeout | undefined;
  private lastStart = 0;
  private failed = false;
  /** checkpoints completed: lets tests see that they happen */
  completed = 0;

  constructor(
    file: string,
    private readonly onFailure: (error: Error) => void,
  ) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver } });
    this.worker.unref();
    this.worker.on('message', (result: { ok: boolean }) => {
      this.running = false;
      if (result.ok) this.completed++;
      if (this.wanted) this.nudge();
    });
    // An error thrown in the worker arrives structured-cloned: a SqliteError as a plain { code } object.
    this.worker.on('error', (error: { code?: unknown; message?: unknown }) =>
      this.stopWith(new Error(`the checkpoint worker failed: ${String(error?.code ?? error?.message ?? error)}`)),
    );
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', () => {
        if (!this.closing) this.stopWith(new Error('the checkpoint worker exited'));
        resolve();
      }),
    );
  }

  /** A commit happened: checkpoint soon. */
  nudge(): void {
    if (this.failed || this.closing) return;
    this.wanted = true;
    if (this.running || this.timer) return;
    const wait = this.lastStart + MIN_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.nudge();
      }, wait).unref();
      return;
    }
    this.wanted = false;
    this.running = true;
    this.lastStart = Date.now();
    this.worker.postMessage('checkpoint');
  }

  /** Stops the worker after the checkpoint in progress, if any; its connection closes. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.timer);
    this.worker.ref(); // an unreferenced worker would not keep the event loop alive until it has exited
    this.worker.postMessage('close');
    await this.exited;
  }

  private stopWith(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    clearTimeout(this.timer);
    this.onFailure(error);
  }
}
