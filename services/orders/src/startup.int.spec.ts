/**
 * Replicas start together: two orders services run main.ts's start-up steps at the same moment on a
 * fresh database and a fresh nats-server (migrations, stream), many rounds; both must come up.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { connectNats, ensureOrderStream, type NatsConnection } from "@pinflow/bus";
import { eventNames } from "@pinflow/contracts";
import { createPool, migrate, type Pool } from "@pinflow/pg";
import { raceStartUps } from "@pinflow/testkit";
import pino from "pino";

const MIGRATIONS = fileURLToPath(new URL("../migrations", import.meta.url));
const logger = pino({ level: "silent" });
const ROUNDS = 12;

test(`two orders services started at the same moment on a fresh database both start (${ROUNDS} rounds)`, async () => {
  const failures = await raceStartUps<{ pool: Pool; nc: NatsConnection }>("orders_startup", ROUNDS, {
    connect: async (infra, replica) => ({
      pool: createPool(infra.databaseUrl),
      nc: await connectNats({ servers: infra.natsUrl, name: `orders-startup-${replica}`, logger }),
    }),
    startUp: async ({ pool, nc }) => {
      await migrate(pool, MIGRATIONS);
      await ensureOrderStream(nc, eventNames("test"));
    },
    close: async ({ pool, nc }) => {
      await nc.close();
      await pool.end();
    },
  });
  assert.deepEqual(failures, []);
});
