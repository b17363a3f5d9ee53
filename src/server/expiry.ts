/**
 * The expiry schedule of temporary messages: a binary min-heap on the deadline. Adding and taking
 * the due ones cost O(log n); a tick that finds nothing due costs one comparison. One timer (the
 * server's sweeper) serves every pending message, however many there are.
 */

interface Entry {
  at: number;
  id: string;
}

export class ExpirySchedule {
  #heap: Entry[] = [];

  get size(): number {
    return this.#heap.length;
  }

  add(id: string, at: number): void {
    const heap = this.#heap;
    heap.push({ id, at });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].at <= heap[i].at) break;
      [heap[parent], heap[i]] = [heap[i], heap[parent]];
      i = parent;
    }
  }

  /** Removes and returns the ids whose deadline is at or before `now`, earliest first (at most `max`). */
  due(now: number, max = Infinity): string[] {
    const out: string[] = [];
    while (out.length < max && this.#heap.length > 0 && this.#heap[0].at <= now) {
      out.push(this.#pop().id);
    }
    return out;
  }

  #pop(): Entry {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && heap[left].at < heap[smallest].at) smallest = left;
        if (right < heap.length && heap[right].at < heap[smallest].at) smallest = right;
        if (smallest === i) break;
        [heap[smallest], heap[i]] = [heap[i], heap[smallest]];
        i = smallest;
      }
    }
    return top;
  }
}
