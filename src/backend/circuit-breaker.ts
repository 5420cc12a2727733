/**
 * Redis circuit breaker (SPEC.md §7): closed → (CB_ERROR_THRESHOLD consecutive failures) →
 * open for CB_OPEN_MS → half-open, where one operation is a trial: success closes, failure
 * reopens.
 *
 * Hand-written rather than cockatiel/opossum: those wrap an awaited call (`execute(fn)`), while
 * here most outcomes come from fire-and-forget publishes and background timers, and the state
 * must be read synchronously on every upgrade (admission) and /readyz. cockatiel also only
 * leaves "open" when a call is attempted, which admission (refusing while open) would never do.
 * The whole state machine is the forty lines below, with an injected clock for tests; a library
 * would add an adapter of the same size plus a dependency outside the project's fixed list.
 */

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  threshold: number;
  /** How long it stays open before a trial is allowed. */
  openMs: number;
  now?: () => number;
  /** Called on every change between open and not open (metrics, logs). */
  onChange?: (state: CircuitState) => void;
}

export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private opened = false;
  /** A half-open trial is in flight since then: others wait for its verdict (fail fast). */
  private trialSince: number | undefined;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  /** Called once at the next close (`onceClosed`): few, one per waiting background task. */
  private closedListeners: (() => void)[] = [];

  constructor(private readonly opts: CircuitBreakerOptions) {
    this.now = opts.now ?? Date.now;
  }

  get state(): CircuitState {
    if (!this.opened) return 'closed';
    return this.now() - this.openedAt >= this.opts.openMs ? 'half-open' : 'open';
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /**
   * May an operation run now? Closed: yes. Open: no. Half-open: the first caller gets the trial
   * (and must report success or failure); the others are refused until the verdict.
   */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open') return false;
    // A trial whose outcome never came back (every command has a timeout, so only a bug could
    // do that) expires after one open period rather than wedging the circuit.
    const now = this.now();
    if (this.trialSince !== undefined && now - this.trialSince < this.opts.openMs) return false;
    this.trialSince = now;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.trialSince = undefined;
    if (this.opened) {
      this.opened = false;
      clearTimeout(this.timer);
      this.opts.onChange?.('closed');
      const listeners = this.closedListeners;
      this.closedListeners = [];
      for (const fn of listeners) fn();
    }
  }

  /**
   * Call fn once when the circuit is next closed (at once if it is): for background work whose
   * reads were refused while it was open and that should not wait for its next timer. fn runs
   * inside `success()`, so it should only schedule its work.
   */
  onceClosed(fn: () => void): void {
    if (!this.opened) fn();
    else this.closedListeners.push(fn);
  }

  failure(): void {
    this.trialSince = undefined;
    if (this.opened) {
      // A failed trial (or a late failure of an operation started before opening) reopens.
      if (this.state !== 'open') this.open();
      return;
    }
    if (++this.failures >= this.opts.threshold) this.open();
  }

  private open(): void {
    this.opened = true;
    this.openedAt = this.now();
    this.failures = 0;
    this.opts.onChange?.('open');
    // Tell observers when the open period ends (the gauge drops to 0 in half-open).
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.state === 'half-open') this.opts.onChange?.('half-open');
    }, this.opts.openMs);
    this.timer.unref();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.closedListeners = [];
  }
}
