/**
 * Replicas start together: every process creates the stream and its durable consumer at start-up.
 * Several processes doing it at the same moment on a fresh nats-server must all succeed, also
 * when an older and a newer version (different consumer settings) start together.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { eventNames } from "@pinflow/contracts";
import { raceStartUps } from "@pinflow/testkit";
import pino from "pino";
import { connectNats, ensureOrderStream, ensureWorkConsumer, type NatsConnection } from "./index.js";

const logger = pino({ level: "silent" });
const names = eventNames("test");
const ROUNDS = 10;

const race = (ackWaitMs: (replica: number) => number) => ({
  connect: async (infra: { natsUrl: string }, replica: number) => ({
    replica,
    nc: await connectNats({ servers: infra.natsUrl, name: `bus-startup-${replica}`, logger }),
  }),
  startUp: async ({ nc, replica }: { nc: NatsConnection; replica: number }) => {
    await ensureOrderStream(nc, names);
    await ensureWorkConsumer(nc, names, { durable: "racer", filterSubject: names.eventType("OrderCreated"), ackWaitMs: ackWaitMs(replica), batch: 5, maxAckPending: 50 });
    const info = await (await jetstreamManager(nc)).consumers.info(names.stream, "racer");
    assert.equal(info.config.filter_subject, names.eventType("OrderCreated"));
  },
  close: async ({ nc }: { nc: NatsConnection }) => {
    await nc.close();
  },
});

test(`three processes creating the stream and the same durable consumer at once all start (${ROUNDS} rounds)`, async () => {
  assert.deepEqual(await raceStartUps("bus_startup", ROUNDS, race(() => 30_000), 3), []);
});

test(`an older and a newer version (another ack wait) starting at once both start, and the consumer ends with one of their settings (${ROUNDS} rounds)`, async () => {
  const seen: number[] = [];
  const failures = await raceStartUps("bus_startup_versions", ROUNDS, {
    ...race((replica) => (replica === 0 ? 30_000 : 45_000)),
    startUp: async (ctx: { nc: NatsConnection; replica: number }) => {
      await race((replica) => (replica === 0 ? 30_000 : 45_000)).startUp(ctx);
      seen.push(Number((await (await jetstreamManager(ctx.nc)).consumers.info(names.stream, "racer")).config.ack_wait));
    },
  });
  assert.deepEqual(failures, []);
  assert.ok(seen.every((n) => n === nanos(30_000) || n === nanos(45_000)));
});
