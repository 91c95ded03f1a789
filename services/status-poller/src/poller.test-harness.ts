/**
 * Shared setup of the status-poller integration specs: the test clock, the NATS server with a
 * projection that collects every order event, a fresh migrated database per test, and small helpers.
 */
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { connectNats, ensureOrderStream, EventPublisher, ProjectionConsumer, type NatsConnection, type ProjectionMessage } from "@pinflow/bus";
import { eventNames, type EventOf, type EventType, type OrderEvent } from "@pinflow/contracts";
import { createPool, ensureOutbox, migrate, type Pool } from "@pinflow/pg";
import { TestDatabase, TestNatsServer } from "@pinflow/testkit";
import pino from "pino";
import type { Clock } from "./poll.js";
import type { WatchRow } from "./watch-store.js";

export const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
export const MIGRATIONS = fileURLToPath(new URL("../migrations", import.meta.url));

/** Time stands still unless a test moves it; the scheduler, the leases and the simulator all read it. */
export class TestClock implements Clock {
  constructor(public ms: number) {}
  now(): Date {
    return new Date(this.ms);
  }
  /** Move forward to `at` (never back). */
  to(at: Date): void {
    this.ms = Math.max(this.ms, at.getTime());
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** The environment every poller integration test runs in (its stream, subjects and durable names). */
export const TEST_NAMES = eventNames("test");

export interface EventStream {
  /** The connection to the test NATS server (available once the `before` hook ran). */
  readonly nc: NatsConnection;
  /** A publisher on `nc` (made on first use). */
  readonly publisher: EventPublisher;
  /** Every order event seen on the stream, in stream order. */
  readonly events: OrderEvent[];
  eventsOf<T extends EventType>(orderId: string, type: T): EventOf<T>[];
}

/**
 * Registers `before`/`after` hooks that start a NATS server for the file, ensure the order stream and
 * project every order event into `events`. Node 20 runs a second top-level `before` of a file at once,
 * so a spec that uses this must not add its own `before`.
 */
export function useEventStream(connectionName: string): EventStream {
  const nats = new TestNatsServer();
  let nc: NatsConnection | undefined;
  let projection: ProjectionConsumer;
  let publisher: EventPublisher | undefined;
  const events: OrderEvent[] = [];

  before(async () => {
    await nats.start();
    nc = await connectNats({ servers: nats.url, name: connectionName, logger });
    await ensureOrderStream(nc, TEST_NAMES);
    let checkpoint = 0;
    projection = new ProjectionConsumer(
      nc,
      TEST_NAMES,
      {
        checkpoint: async () => checkpoint,
        apply: async (m: ProjectionMessage) => {
          if (m.ok) events.push(m.event);
          checkpoint = m.seq;
        },
        deadLetter: async (m: ProjectionMessage) => {
          checkpoint = m.seq;
        },
      },
      logger,
      { retryDelayMs: 50 },
    );
    projection.start();
  });

  after(async () => {
    await projection.stop();
    await nc?.close();
    await nats.destroy();
  });

  const connection = (): NatsConnection => {
    if (nc === undefined) throw new Error("the event stream is not started yet");
    return nc;
  };
  return {
    get nc(): NatsConnection {
      return connection();
    },
    get publisher(): EventPublisher {
      publisher ??= new EventPublisher(connection(), TEST_NAMES);
      return publisher;
    },
    events,
    eventsOf<T extends EventType>(orderId: string, type: T): EventOf<T>[] {
      return events.filter((e): e is EventOf<T> => e.orderId === orderId && e.type === type);
    },
  };
}

/** A fresh database with the status-poller migrations and the outbox; `drop` ends the pool and drops it. */
export async function createPollerDatabase(prefix: string): Promise<{ pool: Pool; drop: () => Promise<void> }> {
  const db = await new TestDatabase(prefix).create();
  const pool = createPool(db.url);
  await migrate(pool, MIGRATIONS);
  await ensureOutbox(pool);
  return {
    pool,
    drop: async () => {
      await pool.end();
      await db.drop();
    },
  };
}

/** Unique numeric provider references: the current time followed by a counter padded to `counterDigits`. */
export function referenceFactory(counterDigits: number): () => string {
  let seq = 0;
  return () => `${Date.now()}${String(++seq).padStart(counterDigits, "0")}`;
}

export async function watchOf(env: { store: { get(orderId: string): Promise<WatchRow | null | undefined> } }, orderId: string): Promise<WatchRow> {
  const w = await env.store.get(orderId);
  assert.ok(w, `no watch for ${orderId}`);
  return w;
}
