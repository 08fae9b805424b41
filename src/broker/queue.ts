import type { Delivery } from './inflight.js';

const NOTHING_DROPPED: readonly Delivery[] = Object.freeze([]);

/** What to do when an offline queue is full. */
export type OverflowPolicy = 'drop-oldest' | 'drop-new';

/** Bounds of one session's queue. */
export interface QueueLimits {
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly policy: OverflowPolicy;
}

/**
 * Lets a queue keep only its head in memory: QoS 1/2 deliveries beyond `pageSize` stay in the
 * durable store only (the journal has written them) and are read back a page at a time.
 */
export interface QueuePaging {
  readonly pageSize: number;
  /** True when the journal writes every QoS 1/2 delivery of the queue's session: only then may one wait on disk only. */
  stores(): boolean;
  /** The stored deliveries after `afterSeq`, oldest first, at most `limit`. */
  load(afterSeq: number, limit: number): Promise<Delivery[]>;
  /** A page arrived (the session sends what it can). */
  loaded(): void;
  /** A page could not be read. */
  failed(err: unknown): void;
  /** The broker-wide disk budget this queue counts against, if any. */
  readonly budget?: DiskBudget | undefined;
}

/**
 * Disk bytes a queued message is reckoned to take beyond its payload (its topic, properties and
 * the message and delivery records, as LevelDB holds them); an estimate, so that the disk bounds
 * mean about what `du` shows for small messages too.
 */
export const RECORD_OVERHEAD = 100;

/** The broker-wide disk budget of queues that page to disk (LevelDB), shared by every such queue. */
export class DiskBudget {
  readonly max: number;
  /** Bytes reckoned (payload plus RECORD_OVERHEAD per message) over every paging queue. */
  used = 0;

  constructor(max: number) {
    this.max = max;
  }
}

/**
 * The disk bound of a persistent session's queue with a paging store: it replaces the memory
 * bounds (maxMessages, maxBytes) as the point where the overflow policy applies; those stay where
 * flow control holds publishers back. Growth beyond the memory bounds also needs room in the budget.
 */
export interface DiskLimits {
  readonly maxBytes: number;
  readonly budget: DiskBudget;
}

/** What a restored queue holds on disk beyond its first page. */
export interface Backlog {
  readonly count: number;
  readonly bytes: number;
}

/**
 * A session's queue of deliveries waiting for the client (offline, or its window is full).
 * Bounded by count and bytes (memory and disk together); `add` returns what had to be dropped
 * so the caller can report it. With paging, memory holds at most about one page.
 */
export class MessageQueue {
  #items: Delivery[] = [];
  #head = 0;
  #bytes = 0;
  #backlog = 0;
  #backlogBytes = 0;
  /** Highest seq placed in memory: everything on disk only comes after it. */
  #memorySeq = 0;
  #loading = false;
  /** Bumped by `clear`: a page load started before it is not put into memory (drainBacklog reads the disk). */
  #generation = 0;
  /** What this queue has counted against the disk budget. */
  #charged = 0;
  #limits: QueueLimits;
  readonly #paging: QueuePaging | undefined;

  constructor(limits: QueueLimits, paging?: QueuePaging) {
    this.#limits = limits;
    this.#paging = paging;
  }

  /** New bounds (a reloaded configuration); what is already queued stays, even above them. */
  setLimits(limits: QueueLimits): void {
    this.#limits = limits;
  }

  /**
   * Appends `delivery`; returns the deliveries dropped by the overflow policy (possibly itself).
   * `stretch` (a consuming subscriber whose publishers flow control holds back) lets the queue take
   * up to twice its bounds, for what those publishers had already sent when the hold began; `disk`
   * (a persistent session with a paging store) bounds it by bytes on disk instead.
   */
  add(delivery: Delivery, stretch = false, disk?: DiskLimits): readonly Delivery[] {
    const dropped = this.#admit(delivery, stretch ? 2 : 1, disk);
    this.#charge();
    return dropped;
  }

  #admit(delivery: Delivery, factor: number, disk: DiskLimits | undefined): readonly Delivery[] {
    const size = delivery.message.payload.length;
    let dropped: readonly Delivery[] = NOTHING_DROPPED; // the common case allocates nothing
    if (!this.#fits(size, factor, disk)) {
      const { maxMessages, maxBytes, policy } = this.#limits;
      const tooLarge = disk === undefined ? size > maxBytes * factor || maxMessages === 0 : size + RECORD_OVERHEAD > disk.maxBytes;
      if (policy === 'drop-new' || tooLarge) return [delivery];
      // drop-oldest; when the oldest are on disk only (a page is loading), the new one goes instead
      const oldest: Delivery[] = [];
      while (!this.#fits(size, factor, disk) && this.memorySize > 0) oldest.push(this.shift() as Delivery);
      if (!this.#fits(size, factor, disk)) return [...oldest, delivery];
      dropped = oldest;
    }
    this.#bytes += size;
    if (this.#spills(delivery)) {
      this.#backlog++;
      this.#backlogBytes += size;
    } else {
      this.#push(delivery);
    }
    return dropped;
  }

  #fits(size: number, factor: number, disk: DiskLimits | undefined): boolean {
    const withinMemoryBounds = this.size < this.#limits.maxMessages * factor && this.#bytes + size <= this.#limits.maxBytes * factor;
    if (disk === undefined) return withinMemoryBounds;
    const reckoned = size + RECORD_OVERHEAD;
    if (this.diskBytes + reckoned > disk.maxBytes) return false;
    // Within the memory bounds a queue always has room; beyond them it needs room in the broker's budget
    return withinMemoryBounds || disk.budget.used + reckoned <= disk.budget.max;
  }

  /** Bytes reckoned on disk for this queue: payload plus RECORD_OVERHEAD per message. */
  get diskBytes(): number {
    return this.#bytes + this.size * RECORD_OVERHEAD;
  }

  /** Keeps the shared budget's count in step with this queue (paging queues only). */
  #charge(): void {
    const budget = this.#paging?.budget;
    if (budget === undefined) return;
    const now = this.diskBytes;
    budget.used += now - this.#charged;
    this.#charged = now;
  }

  /**
   * True when flow control should hold a consuming subscriber's publishers: the queue reached its
   * bounds; with `disk`, half its disk bound, or its memory bounds once the broker's budget is spent.
   */
  full(disk?: DiskLimits): boolean {
    const memoryFull = this.size >= this.#limits.maxMessages || this.#bytes >= this.#limits.maxBytes;
    if (disk === undefined) return memoryFull;
    return this.diskBytes * 2 >= disk.maxBytes || (memoryFull && disk.budget.used >= disk.budget.max);
  }

  /** True when held publishers may go: under half the bounds; with `disk`, under a quarter of the disk bound. */
  relieved(disk?: DiskLimits): boolean {
    if (disk !== undefined) return this.diskBytes * 4 <= disk.maxBytes;
    return this.size * 2 <= this.#limits.maxMessages && this.#bytes * 2 <= this.#limits.maxBytes;
  }

  #spills(delivery: Delivery): boolean {
    const paging = this.#paging;
    return paging !== undefined && delivery.qos > 0 && (this.#backlog > 0 || (this.memorySize >= paging.pageSize && paging.stores()));
  }

  #push(delivery: Delivery): void {
    this.#items.push(delivery);
    if (delivery.seq > this.#memorySeq) this.#memorySeq = delivery.seq;
  }

  /** Deliveries on disk only, beyond the first page (after a restore). */
  setBacklog(backlog: Backlog): void {
    this.#backlog = backlog.count;
    this.#backlogBytes = backlog.bytes;
    this.#bytes += backlog.bytes;
    this.#charge();
  }

  /** Puts deliveries back at the head, in the given order, beyond the bounds (they were already accepted). */
  prepend(deliveries: Delivery[]): void {
    this.#items = [...deliveries, ...this.#items.slice(this.#head)];
    this.#head = 0;
    for (const d of deliveries) this.#bytes += d.message.payload.length;
    this.#charge();
  }

  /** The oldest delivery in memory, without removing it. */
  peek(): Delivery | undefined {
    return this.#items[this.#head];
  }

  /** Removes and returns the oldest delivery in memory; reads the next page when memory runs low. */
  shift(): Delivery | undefined {
    const item = this.#items[this.#head];
    if (!item) return undefined;
    this.#items[this.#head] = undefined as unknown as Delivery;
    this.#head++;
    this.#bytes -= item.message.payload.length;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    this.fill();
    this.#charge();
    return item;
  }

  /** Starts reading the next page from disk when memory runs low and the disk holds more. */
  fill(): void {
    const paging = this.#paging;
    if (!paging || this.#loading || this.#backlog === 0 || this.memorySize * 2 > paging.pageSize) return;
    this.#loading = true;
    const generation = this.#generation;
    paging.load(this.#memorySeq, Math.max(1, paging.pageSize - this.memorySize)).then(
      (page) => {
        this.#loading = false;
        if (generation !== this.#generation) return; // cleared meanwhile (the session ended): its backlog is drained instead
        for (const d of page) {
          this.#push(d);
          this.#backlogBytes -= d.message.payload.length;
        }
        // Fewer than expected means the disk holds no more (e.g. records removed with the session)
        this.#backlog = page.length === 0 ? 0 : Math.max(0, this.#backlog - page.length);
        if (this.#backlog === 0) {
          this.#bytes -= this.#backlogBytes;
          this.#backlogBytes = 0;
        }
        this.#charge();
        paging.loaded();
      },
      (err: unknown) => {
        this.#loading = false;
        paging.failed(err);
      },
    );
  }

  /** How many more deliveries fit within the bound on messages (0 when full). */
  get room(): number {
    return Math.max(0, this.#limits.maxMessages - this.size);
  }

  /** Deliveries waiting, in memory and on disk. */
  get size(): number {
    return this.memorySize + this.#backlog;
  }

  /** Deliveries waiting in memory. */
  get memorySize(): number {
    return this.#items.length - this.#head;
  }

  /** Deliveries waiting on disk only. */
  get backlog(): number {
    return this.#backlog;
  }

  /** Payload bytes waiting, in memory and on disk. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Reads the disk backlog page by page until it is empty, handing each delivery to `each`
   * (used when the session ends, so every one is reported and removed).
   */
  async drainBacklog(each: (delivery: Delivery) => void): Promise<void> {
    const paging = this.#paging;
    while (paging && this.#backlog > 0) {
      const page = await paging.load(this.#memorySeq, paging.pageSize);
      if (page.length === 0) break;
      for (const d of page) {
        if (d.seq > this.#memorySeq) this.#memorySeq = d.seq;
        this.#backlogBytes -= d.message.payload.length;
        this.#bytes -= d.message.payload.length;
        each(d);
      }
      this.#backlog = Math.max(0, this.#backlog - page.length);
    }
    this.#backlog = 0;
    this.#bytes -= this.#backlogBytes;
    this.#backlogBytes = 0;
    this.#charge();
  }

  /** Removes what is in memory, returning it; the disk backlog stays (see drainBacklog). */
  clear(): Delivery[] {
    this.#generation++;
    const all = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    this.#bytes = this.#backlogBytes;
    this.#charge();
    return all;
  }

  /** Queued deliveries in memory, oldest first. */
  values(): Delivery[] {
    return this.#items.slice(this.#head);
  }
}
