/**
 * Least privilege on NATS (issue 9 point 5), against a real nats-server 2.9 running the configuration
 * renderNatsServerConfig writes (the one deploy/ ships): each service's user publishes only its own
 * event types, uses only its own durable consumer, and cannot create the stream.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { EVENT_TYPES, eventNames, type EventType, type OrderEvent } from "@pinflow/contracts";
import { TestNatsServer } from "@pinflow/testkit";
import pino from "pino";
import {
  connectNats,
  ensureOrderStream,
  ensureWorkConsumer,
  EventPublisher,
  isPermissionViolation,
  makeEvent,
  natsClientOptions,
  natsUser,
  passwordVariable,
  PUBLISHERS,
  readOrderHistory,
  readStream,
  renderNatsServerConfig,
  NATS_ROLES,
  SERVICE_ROLES,
  type NatsConnection,
  type NatsRole,
} from "./index.js";

const logger = pino({ level: "silent" });
const names = eventNames("acl");
const neighbour = eventNames("other");
const passwords = new Map<string, string>();
const password = (environment: string, role: NatsRole): string => {
  const user = natsUser(environment, role);
  if (!passwords.has(user)) passwords.set(user, randomBytes(18).toString("base64url"));
  return passwords.get(user)!;
};
const server = new TestNatsServer({ config: renderNatsServerConfig({ environments: [names, neighbour], password: (e, r) => ({ literal: password(e, r) }) }) });
const connections = new Map<string, NatsConnection>();

function as(role: NatsRole, environment = names.environment): NatsConnection {
  const nc = connections.get(natsUser(environment, role));
  assert.ok(nc, `connected as ${natsUser(environment, role)}`);
  return nc;
}

const dispatcherConsumer = {
  durable: names.durable("dispatcher"),
  filterSubject: names.eventType("OrderCreated"),
  ackWaitMs: 30_000,
  batch: 5,
  maxAckPending: 100,
};

/** A valid event of each type (the server checks subjects, not payloads: the data only has to encode). */
function eventOf(type: EventType, orderId: string): OrderEvent {
  return makeEvent(type, { orderId, correlationId: `c-${orderId}`, causationId: null }, {} as never);
}

before(async () => {
  await server.start();
  for (const environment of [names.environment, neighbour.environment]) {
    for (const role of [...SERVICE_ROLES, "admin"] as const) {
      connections.set(natsUser(environment, role), await connectNats({ servers: server.url, name: `acl-${role}`, logger, credentials: { user: natsUser(environment, role), password: password(environment, role) } }));
    }
  }
});
after(async () => {
  for (const nc of connections.values()) await nc.close();
  await server.destroy();
});

describe("the stream", () => {
  test("a service's user may not create it; the admin's set-up step does, and then the services find it", async () => {
    await assert.rejects(ensureOrderStream(as("orders"), names), /does not exist and this NATS user may not create it/);
    await ensureOrderStream(as("admin"), names);
    for (const role of SERVICE_ROLES) await ensureOrderStream(as(role), names);
  });

  test("another environment's users cannot even look at it", async () => {
    const jsm = await jetstreamManager(as("admin", neighbour.environment), { checkAPI: false });
    await assert.rejects(jsm.streams.info(names.stream), (error: unknown) => isPermissionViolation(error));
  });
});

describe("publishing", () => {
  test("the orders service's user may not publish an OrderSent: the server refuses it and the stream has none; the dispatcher's user may", async () => {
    const orderId = `o-${randomUUID()}`;
    const sent = eventOf("OrderSent", orderId);
    await assert.rejects(new EventPublisher(as("orders"), names).publish(sent, { once: true }), (error: unknown) => {
      assert.match(String(error), /publish OrderSent .* failed/);
      assert.ok(isPermissionViolation((error as Error).cause), "refused for permissions");
      return true;
    });
    const jsm = await jetstreamManager(as("admin"), { checkAPI: false });
    const before = (await jsm.streams.info(names.stream, { subjects_filter: names.orderEvents(orderId) })).state.subjects ?? {};
    assert.deepEqual(before, {}, "nothing was written");
    const published = await new EventPublisher(as("dispatcher"), names).publish(sent, { once: true });
    assert.ok(published.seq > 0 && !published.duplicate);
  });

  test("each service's user publishes exactly the event types PUBLISHERS gives it", async () => {
    const orderId = `o-${randomUUID()}`;
    const refused: string[] = [];
    const accepted: string[] = [];
    for (const role of SERVICE_ROLES) {
      const publisher = new EventPublisher(as(role), names);
      for (const type of EVENT_TYPES) {
        try {
          await publisher.publish(eventOf(type, orderId), { msgId: `${role}:${type}:${orderId}` });
          accepted.push(`${role} ${type}`);
        } catch (error) {
          assert.ok(isPermissionViolation((error as Error).cause), `${role} ${type}: ${String((error as Error).cause)}`);
          refused.push(`${role} ${type}`);
        }
      }
    }
    const expected = SERVICE_ROLES.flatMap((role) => EVENT_TYPES.filter((type) => PUBLISHERS[type].includes(role)).map((type) => `${role} ${type}`));
    assert.deepEqual(accepted, expected);
    assert.equal(refused.length, SERVICE_ROLES.length * EVENT_TYPES.length - expected.length);
    assert.ok(accepted.includes("orders OrderCreated") && !accepted.includes("orders OrderSent") && !accepted.includes("status-poller OrderSent"));
  });

  test("another environment's users cannot publish into this one", async () => {
    await assert.rejects(new EventPublisher(as("orders", neighbour.environment), names).publish(eventOf("OrderCreated", `o-${randomUUID()}`)), (error: unknown) =>
      isPermissionViolation((error as Error).cause),
    );
  });
});

describe("consuming", () => {
  test("the orders service's user cannot create, read, pull from or delete the dispatcher's durable consumer; the dispatcher's user creates it", async () => {
    const ordersJsm = await jetstreamManager(as("orders"), { checkAPI: false });
    const refused = (error: unknown): boolean => isPermissionViolation(error);
    await assert.rejects(ensureWorkConsumer(as("orders"), names, dispatcherConsumer), refused);
    await assert.rejects(ordersJsm.consumers.add(names.stream, { durable_name: dispatcherConsumer.durable, ack_policy: AckPolicy.Explicit, filter_subject: dispatcherConsumer.filterSubject }), refused);
    await ensureWorkConsumer(as("dispatcher"), names, dispatcherConsumer);
    await ensureWorkConsumer(as("dispatcher"), names, dispatcherConsumer); // an update on restart
    await assert.rejects(ordersJsm.consumers.info(names.stream, dispatcherConsumer.durable), refused);
    await assert.rejects(jetstream(as("orders")).consumers.get(names.stream, dispatcherConsumer.durable), refused);
    await assert.rejects(as("orders").request(`$JS.API.CONSUMER.MSG.NEXT.${names.stream}.${dispatcherConsumer.durable}`, JSON.stringify({ batch: 1, no_wait: true })), refused);
    await assert.rejects(ordersJsm.consumers.delete(names.stream, dispatcherConsumer.durable), refused);
    const pollerJsm = await jetstreamManager(as("status-poller"), { checkAPI: false });
    await assert.rejects(pollerJsm.consumers.delete(names.stream, dispatcherConsumer.durable), refused);
    const dispatcherJsm = await jetstreamManager(as("dispatcher"), { checkAPI: false });
    await assert.rejects(dispatcherJsm.consumers.delete(names.stream, dispatcherConsumer.durable), refused, "not even its own: it is the service's position in the stream");
    assert.equal((await dispatcherJsm.consumers.info(names.stream, dispatcherConsumer.durable)).name, dispatcherConsumer.durable);
  });

  test("the dispatcher pulls and acks its own durable's messages", async () => {
    const orderId = `o-${randomUUID()}`;
    await new EventPublisher(as("orders"), names).publish(eventOf("OrderCreated", orderId), { msgId: `pull:${orderId}` });
    const consumer = await jetstream(as("dispatcher")).consumers.get(names.stream, dispatcherConsumer.durable);
    let found = false;
    for (;;) {
      const msg = await consumer.next({ expires: 2_000 });
      assert.ok(msg, "the OrderCreated comes");
      assert.ok(await msg.ackAck(), "the ack is accepted");
      if (msg.subject === names.orderEvent(orderId, "OrderCreated")) found = true;
      if (msg.info.pending === 0) break;
    }
    assert.ok(found);
  });

  test("every service's user reads the stream with ordered consumers (projections, histories, rebuilds)", async () => {
    const orderId = `o-${randomUUID()}`;
    await new EventPublisher(as("orders"), names).publish(eventOf("OrderCreated", orderId), { msgId: `read:${orderId}` });
    for (const role of SERVICE_ROLES) {
      const history = await readOrderHistory(as(role), names, orderId);
      assert.deepEqual(
        history.map((m) => m.subject),
        [names.orderEvent(orderId, "OrderCreated")],
        role,
      );
      assert.ok((await readStream(as(role), names)).length >= 1, role);
    }
  });

  test("no user may subscribe to the events directly or to another user's inbox", async () => {
    for (const subject of [names.allEvents, `_INBOX.${natsUser(names.environment, "dispatcher")}.>`, "_INBOX.>"]) {
      const sub = as("orders").subscribe(subject);
      await assert.rejects(
        (async () => {
          for await (const _ of sub) assert.fail(`received on ${subject}`);
          await sub.closed;
        })(),
        (error: unknown) => isPermissionViolation(error),
        subject,
      );
    }
  });
});

describe("connecting", () => {
  test("a wrong password is refused, and the refusal does not carry the password", async () => {
    const wrong = "not-the-password-" + randomUUID();
    await assert.rejects(connectNats({ servers: server.url, name: "acl-wrong", logger, credentials: { user: natsUser(names.environment, "orders"), password: wrong } }), (error: unknown) => {
      assert.match(String(error), /authorization/i);
      assert.ok(!String(error).includes(wrong));
      return true;
    });
  });

  test("as deployed: the server reads each user's password from its environment (NATS_PASSWORD_<ENV>_<ROLE>)", async () => {
    const staging = eventNames("staging");
    // nats-server parses an environment variable's value as a config token: one that starts with "-" or
    // begins like a number (base64url now and then) stops the server. Deployed ones: letters, then hex.
    const secret = `pf${randomBytes(18).toString("hex")}`;
    for (const role of NATS_ROLES) process.env[passwordVariable("staging", role)] = `${secret}-${role}`;
    const deployed = new TestNatsServer({ config: renderNatsServerConfig({ environments: [staging] }) });
    try {
      assert.doesNotMatch(renderNatsServerConfig({ environments: [staging] }), new RegExp(secret), "no password in the file");
      await deployed.start();
      const nc = await connectNats({ servers: deployed.url, name: "acl-deployed", logger, credentials: { user: "staging-admin", password: `${secret}-admin` } });
      try {
        await ensureOrderStream(nc, staging);
      } finally {
        await nc.close();
      }
    } finally {
      for (const role of NATS_ROLES) delete process.env[passwordVariable("staging", role)];
      await deployed.destroy();
    }
  });

  test("TLS: with the server's CA the client connects over TLS; without it, it does not", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pinflow-nats-tls-"));
    const cert = join(dir, "server.pem");
    const key = join(dir, "server.key");
    // A self-signed certificate for 127.0.0.1 that is its own CA.
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], { stdio: "ignore" });
    const tlsServer = new TestNatsServer({ config: renderNatsServerConfig({ environments: [names], password: (e, r) => ({ literal: password(e, r) }), tls: { certFile: cert, keyFile: key } }) });
    await tlsServer.start();
    const credentials = { user: natsUser(names.environment, "admin"), password: password(names.environment, "admin") };
    try {
      const nc = await connectNats({ servers: tlsServer.url, name: "acl-tls", logger, credentials, tls: { caFile: cert } });
      try {
        assert.equal(nc.info?.tls_required, true);
        await ensureOrderStream(nc, names);
      } finally {
        await nc.close();
      }
      // connectNats waits for the server forever; one attempt shows why it never gets in.
      const once = { ...natsClientOptions({ servers: tlsServer.url, name: "acl-no-ca", credentials, tls: {} }), waitOnFirstConnect: false, maxReconnectAttempts: 0 };
      await assert.rejects(connect(once), /self-signed certificate/);
      await assert.rejects(connect({ ...once, tls: null }), /tls|secure|required/i, "nor in plain text");
    } finally {
      await tlsServer.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
