/** A record that can be linked into an InFlight list: the links live in the record itself. */
export interface Linked<T> {
  prev?: T
  next?: T
}

/**
 * The requests in flight (for the drain and the in-flight gauge): a doubly linked list through each
 * request's own record, O(1) to add and remove. Not a Map or Set holding the requests: measured
 * under load (--trace-gc-nvp), with the responses in a long-lived Map or Set, deleted on close, nearly
 * every response still reached V8's old generation (1.7 MB promoted per scavenge against 80 KB, and
 * 2.6 ms per scavenge against 0.9 ms); with this list, unlinked on close, none does.
 */
export class InFlight<T extends Linked<T>> {
  private head: T | undefined
  private count = 0

  get size(): number {
    return this.count
  }

  add(item: T): void {
    item.prev = undefined
    item.next = this.head
    if (this.head !== undefined) this.head.prev = item
    this.head = item
    this.count++
  }

  /** Removes an item; one not in the list (or already removed) is left alone. */
  delete(item: T): void {
    if (item.prev === undefined && this.head !== item) return
    if (item.prev !== undefined) item.prev.next = item.next
    else this.head = item.next
    if (item.next !== undefined) item.next.prev = item.prev
    item.prev = undefined
    item.next = undefined
    this.count--
  }

  /** The items now, newest first (a copy: the caller may remove items while going through it). */
  items(): T[] {
    const out: T[] = []
    for (let item = this.head; item !== undefined; item = item.next) out.push(item)
    return out
  }
}
