// A binary min-heap of (expiresAtSec, resource) with lazy deletion: a renewal or
// delete leaves its old entry behind and the reader skips entries that no longer
// match the live lease. That keeps every put O(log n) with no per-lease position
// bookkeeping, and an entry costs 16 B (a double and a string pointer shared with
// the live lease), so stale entries never pin old Lease objects in memory.
// Ties order by resource so that dueBefore() answers the same for the same
// contents, whatever history built them (deterministic simulation, docs/style.md §1.6).

export class ExpiryHeap {
  private keys: number[] = [];
  private resources: string[] = [];

  get length(): number {
    return this.keys.length;
  }

  topKey(): number | undefined {
    return this.keys[0];
  }

  topResource(): string | undefined {
    return this.resources[0];
  }

  push(key: number, resource: string): void {
    this.keys.push(key);
    this.resources.push(resource);
    this.siftUp(this.keys.length - 1);
  }

  pop(): void {
    const lastKey = this.keys.pop();
    const lastResource = this.resources.pop();
    if (this.keys.length === 0 || lastKey === undefined || lastResource === undefined) return;
    this.keys[0] = lastKey;
    this.resources[0] = lastResource;
    this.siftDown(0);
  }

  /** Replaces the contents in O(n) (Floyd's heapify). */
  rebuild(entries: Iterable<readonly [key: number, resource: string]>): void {
    this.keys = [];
    this.resources = [];
    for (const [k, r] of entries) {
      this.keys.push(k);
      this.resources.push(r);
    }
    for (let i = (this.keys.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private less(a: number, b: number): boolean {
    const ka = this.keys[a]!;
    const kb = this.keys[b]!;
    return ka < kb || (ka === kb && this.resources[a]! < this.resources[b]!);
  }

  private swap(a: number, b: number): void {
    const k = this.keys[a]!;
    this.keys[a] = this.keys[b]!;
    this.keys[b] = k;
    const r = this.resources[a]!;
    this.resources[a] = this.resources[b]!;
    this.resources[b] = r;
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.keys.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const child = r < n && this.less(r, l) ? r : l;
      if (!this.less(child, i)) return;
      this.swap(i, child);
      i = child;
    }
  }
}
