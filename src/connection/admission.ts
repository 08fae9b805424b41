/** Counts open connections in total and per source address, against maxConnections and maxConnectionsPerIp (0 = no limit). */
export class Admission {
  readonly #maxTotal: number;
  readonly #maxPerIp: number;
  readonly #perIp = new Map<string, number>();
  #total = 0;
  /** Connections refused because a limit was reached. */
  refused = 0;

  constructor(maxTotal: number, maxPerIp: number) {
    this.#maxTotal = maxTotal;
    this.#maxPerIp = maxPerIp;
  }

  /** Admits a connection from `address` (counted until `delete`), or returns false when a limit is reached. */
  add(address: string | undefined): boolean {
    const key = address ?? '';
    const fromIp = this.#perIp.get(key) ?? 0;
    if ((this.#maxTotal > 0 && this.#total >= this.#maxTotal) || (this.#maxPerIp > 0 && address !== undefined && fromIp >= this.#maxPerIp)) {
      this.refused++;
      return false;
    }
    this.#total++;
    this.#perIp.set(key, fromIp + 1);
    return true;
  }

  /** Forgets an admitted connection. */
  delete(address: string | undefined): void {
    const key = address ?? '';
    const fromIp = this.#perIp.get(key) ?? 0;
    if (fromIp <= 1) this.#perIp.delete(key);
    else this.#perIp.set(key, fromIp - 1);
    this.#total--;
  }

  get size(): number {
    return this.#total;
  }
}
