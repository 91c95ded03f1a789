/**
 * Environments cannot cross (issue 8, point 4): the stream, subjects and durables of an environment
 * derive from its name, and a service refuses to start on a stream that belongs to another one.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { eventNames } from "@pinflow/contracts";
import { TestNatsServer } from "@pinflow/testkit";
import pino from "pino";
import { connectNats, ensureOrderStream, EventPublisher, ForeignStreamError, makeEvent, type NatsConnection } from "./index.js";

const logger = pino({ level: "silent" });
const server = new TestNatsServer();
let nc: NatsConnection;

before(async () => {
  await server.start();
  nc = await connectNats({ servers: server.url, name: "environment-test", logger });
});
after(async () => {
  await nc.close();
  await server.destroy();
});

test("refuses to start when the stream of its name belongs to another environment", async () => {
  const jsm = await jetstreamManager(nc);
  const staging = eventNames("refuse-a");
  const production = eventNames("refuse-b");
  // Someone made the stream by hand with production's description and subjects under staging's name.
  await jsm.streams.add({ name: staging.stream, description: production.streamDescription, subjects: [production.allEvents] });
  await assert.rejects(ensureOrderStream(nc, staging), (error: unknown) => {
    assert.ok(error instanceof ForeignStreamError);
    assert.match(error.message, new RegExp(`stream ${staging.stream} belongs to environment "refuse-b".*refusing to start`));
    return true;
  });
});

test("refuses a stream of its name that records no environment, or whose subjects differ from the environment's", async () => {
  const jsm = await jetstreamManager(nc);
  const noRecord = eventNames("norecord");
  await jsm.streams.add({ name: noRecord.stream, subjects: [noRecord.allEvents] });
  await assert.rejects(ensureOrderStream(nc, noRecord), /belongs to no recorded environment/);

  const wider = eventNames("wider");
  await jsm.streams.add({ name: wider.stream, description: wider.streamDescription, subjects: ["wider.>"] });
  await assert.rejects(ensureOrderStream(nc, wider), /subjects \["wider\.>"\].*refusing to start/);
});

test("refuses to start when another stream already holds the environment's subjects", async () => {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "SOMEONE_ELSES", subjects: ["taken.>"] });
  await assert.rejects(ensureOrderStream(nc, eventNames("taken")), (error: unknown) => error instanceof ForeignStreamError && /taken\.orders\.> .*already taken by another stream/.test(error.message));
});

test("two environments on one server get two streams, and an event of one is not in the other's", async () => {
  const a = eventNames("side-a");
  const b = eventNames("side-b");
  await ensureOrderStream(nc, a);
  await ensureOrderStream(nc, b);
  await ensureOrderStream(nc, a); // its own stream again: fine
  const orderId = randomUUID();
  await new EventPublisher(nc, a).publish(makeEvent("OrderCreated", { orderId, correlationId: orderId, causationId: null }, { packageId: "pubg-60", playerId: "p1", extra: null }));
  const jsm = await jetstreamManager(nc);
  assert.equal((await jsm.streams.info(a.stream)).state.messages, 1);
  assert.equal((await jsm.streams.info(b.stream)).state.messages, 0);
  assert.equal((await jsm.streams.info(a.stream)).config.description, a.streamDescription);
});
