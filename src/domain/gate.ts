/**
 * A counting semaphore with a bounded queue: at most `concurrency` tasks run at once and at most `queue` wait.
 * Used to keep password hashing from taking every core under a flood of logins.
 */
export class Gate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly queue: number,
  ) {}

  hasRoom(): boolean {
    return this.running < this.concurrency || this.waiting.length < this.queue;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
