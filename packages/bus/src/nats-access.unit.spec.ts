import { test } from "node:test";
import assert from "node:assert/strict";
import { EVENT_TYPES, eventNames } from "@pinflow/contracts";
import { natsClientOptions } from "./connection.js";
import { passwordVariable, permissionsFor, PUBLISHERS, publishedTypes, renderNatsServerConfig, SERVICE_ROLES } from "./nats-access.js";

const staging = eventNames("staging");

test("every event type has a publisher, and a service may publish only its own types on its environment's subjects", () => {
  for (const type of EVENT_TYPES) assert.ok(PUBLISHERS[type].length > 0, type);
  assert.deepEqual(publishedTypes("orders"), ["OrderCreated", "CompletedByOperator", "FailedByOperator"]);
  const orders = permissionsFor(staging, "orders").publish.allow.filter((s) => s.startsWith("staging.orders."));
  assert.deepEqual(orders, ["staging.orders.*.OrderCreated", "staging.orders.*.CompletedByOperator", "staging.orders.*.FailedByOperator"]);
  for (const role of SERVICE_ROLES) {
    const p = permissionsFor(staging, role);
    assert.ok(!p.publish.allow.some((s) => s.includes("STREAM.CREATE") || s === "staging.orders.>" || s.startsWith("$JS.API.>")), `${role} may not create the stream nor publish everything`);
    assert.deepEqual(p.subscribe.allow, [`_INBOX.staging-${role}.>`]);
    assert.ok(p.publish.allow.concat(p.publish.deny).every((s) => !s.includes("production")), "nothing of another environment");
  }
});

test("the rendered configuration names every user and takes passwords from the server's environment unless given", () => {
  const text = renderNatsServerConfig({ environments: [staging] });
  for (const role of [...SERVICE_ROLES, "admin"] as const) {
    assert.match(text, new RegExp(`user: "staging-${role}"\\n\\s+password: \\$${passwordVariable("staging", role)}\\n`));
  }
  assert.equal(passwordVariable("staging", "status-poller"), "NATS_PASSWORD_STAGING_STATUS_POLLER");
  assert.doesNotMatch(text, /tls \{/);
  assert.match(renderNatsServerConfig({ environments: [staging], tls: { certFile: "/c", keyFile: "/k", caFile: "/ca", verify: true } }), /tls \{\n {2}cert_file: "\/c"\n {2}key_file: "\/k"\n {2}ca_file: "\/ca"\n {2}verify: true\n\}/);
  assert.throws(() => renderNatsServerConfig({ environments: [staging], password: () => ({ literal: 'a"b' }) }), /not allowed/);
});

test("the client sends its user and listens on its own inbox prefix only when it has credentials", () => {
  const anonymous = natsClientOptions({ servers: "nats://x:4222", name: "n" });
  assert.equal(anonymous.user, undefined);
  assert.equal(anonymous.inboxPrefix, undefined);
  const own = natsClientOptions({ servers: "nats://x:4222", name: "n", credentials: { user: "staging-orders", password: "p" }, tls: { caFile: "/ca" } });
  assert.deepEqual([own.user, own.pass, own.inboxPrefix, own.tls], ["staging-orders", "p", "_INBOX.staging-orders", { caFile: "/ca" }]);
});
