/** A small typed event emitter (no dependency on Node's events module, so it works in browsers). */
export class TypedEmitter<M extends { [K in keyof M]: unknown }> {
  private listeners = new Map<keyof M, Set<(e: any) => void>>();

  on<K extends keyof M>(event: K, fn: (e: M[K]) => void): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return this;
  }

  once<K extends keyof M>(event: K, fn: (e: M[K]) => void): this {
    const wrapped = (e: M[K]) => {
      this.off(event, wrapped);
      fn(e);
    };
    return this.on(event, wrapped);
  }

  off<K extends keyof M>(event: K, fn: (e: M[K]) => void): this {
    this.listeners.get(event)?.delete(fn);
    return this;
  }

  /** Calls the listeners in order. A listener that throws does not stop the others or the client. */
  protected emit<K extends keyof M>(event: K, e: M[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(e);
      } catch (err) {
        console.error(`grimoire: a ${String(event)} listener threw:`, err);
      }
    }
  }

  protected listenerCount(event: keyof M): number {
    return this.listeners.get(event)?.size ?? 0;
  }
}
