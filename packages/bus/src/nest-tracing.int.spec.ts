/**
 * Trace context through the Nest JetStream transport: `JetStreamClient.emit` puts the active
 * context into the message headers (EventPublisher), the server's consumer extracts it, and the
 * `@EventPattern` handler runs inside a consume span of the same trace.
 */
import "reflect-metadata";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Module } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { EventPattern, Payload } from "@nestjs/microservices";
import { trace } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { eventNames, type OrderEvent } from "@pinflow/contracts";
import { eventually, TestNatsServer } from "@pinflow/testkit";
import { lastValueFrom } from "rxjs";
import pino from "pino";
import { ACK, connectNats, ensureOrderStream, ensureWorkConsumer, JetStreamClient, JetStreamEvents, JetStreamServer, makeEvent, type HandlerOutcome, type NatsConnection } from "./index.js";

const logger = pino({ level: "silent" });
const server = new TestNatsServer();
const spans = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
let nc: NatsConnection;
const handled: Array<{ orderId: string; traceId: string | undefined }> = [];

@JetStreamEvents()
class TracedEvents {
  @EventPattern("OrderCreated")
  async created(@Payload() event: OrderEvent): Promise<HandlerOutcome> {
    handled.push({ orderId: event.orderId, traceId: trace.getActiveSpan()?.spanContext().traceId });
    return ACK;
  }
}

@Module({ controllers: [TracedEvents] })
class TracedModule {}

before(async () => {
  provider.register();
  await server.start();
  nc = await connectNats({ servers: server.url, name: "nest-tracing-test", logger });
});
after(async () => {
  await nc.close();
  await server.destroy();
  await provider.shutdown();
});

test("the handler runs in the trace of the code that emitted the event: publish injects, consume extracts", async () => {
  const names = eventNames("tracing");
  await ensureOrderStream(nc, names);
  const options = { durable: names.durable("traced"), filterSubject: names.eventType("OrderCreated"), ackWaitMs: 5_000, batch: 1, maxAckPending: 10 };
  await ensureWorkConsumer(nc, names, options);
  const app = await NestFactory.createMicroservice(TracedModule, { strategy: new JetStreamServer(nc, names, [{ options, hooks: { deadLetters: { record: async () => undefined } } }], logger), logger: false });
  await app.listen();
  try {
    const orderId = randomUUID();
    const client = new JetStreamClient(nc, names);
    const unrelated = trace.getTracer("test").startSpan("unrelated");
    await trace.getTracer("test").startActiveSpan("http request", async (span) => {
      try {
        await lastValueFrom(client.emit("OrderCreated", makeEvent("OrderCreated", { orderId, correlationId: orderId, causationId: null }, { packageId: "pubg-60", playerId: "p1", extra: null })));
      } finally {
        span.end();
      }
      await eventually(() => assert.equal(handled.length, 1), 10_000);
      assert.equal(handled[0]!.traceId, span.spanContext().traceId, "the handler's active span is in the emitter's trace");
    });
    unrelated.end();
    assert.notEqual(handled[0]!.traceId, unrelated.spanContext().traceId, "a span outside the emit is another trace (the check can fail)");
    // The consume span ends once the handler's promise settled, just after the handler ran.
    await eventually(() => {
      const inTrace = spans.getFinishedSpans().filter((s) => s.spanContext().traceId === handled[0]!.traceId).map((s) => s.name).sort();
      assert.deepEqual(inTrace, ["consume OrderCreated", "http request", "publish OrderCreated"]);
    }, 5_000);
  } finally {
    await app.close();
  }
});
