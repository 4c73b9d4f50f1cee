// In-process event bus behind `/1.0/events`: operations, lifecycle and logging events fan out to
// every subscriber whose type and project filters match.
export type EventType = "lifecycle" | "operation" | "logging";
export const EVENT_TYPES: readonly EventType[] = ["lifecycle", "operation", "logging"];

export interface LxdEvent {
  type: EventType;
  timestamp: string;
  metadata: unknown;
  location: string;
  /** Absent for server-wide events (logging), which reach every project's listeners. */
  project?: string;
}

export interface EventFilter {
  types: readonly EventType[];
  /** Only events of this project (and server-wide ones); undefined = all projects. */
  project?: string;
}

type Listener = { filter: EventFilter; cb: (event: LxdEvent) => void };

export class EventHub {
  private listeners = new Set<Listener>();
  /** The cluster member events come from ("none" standalone). */
  location: () => string = () => "none";

  /** `project: null` marks a server-wide event (logging). */
  send(type: EventType, metadata: unknown, project: string | null = "default"): LxdEvent {
    const event: LxdEvent = { type, timestamp: new Date().toISOString(), metadata, location: this.location() };
    if (project) event.project = project;
    for (const l of this.listeners) {
      if (!l.filter.types.includes(type)) continue;
      if (l.filter.project && event.project && l.filter.project !== event.project) continue;
      try {
        l.cb(event);
      } catch {
        // A broken listener must not stop delivery to the others (nor the sender).
      }
    }
    return event;
  }

  /** Returns the unsubscribe function. */
  subscribe(filter: EventFilter | readonly EventType[], cb: (event: LxdEvent) => void): () => void {
    const l: Listener = { filter: Array.isArray(filter) ? { types: filter as readonly EventType[] } : (filter as EventFilter), cb };
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Whether anyone listens for this type (so a sender can skip building the event). */
  wants(type: EventType): boolean {
    for (const l of this.listeners) if (l.filter.types.includes(type)) return true;
    return false;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}
