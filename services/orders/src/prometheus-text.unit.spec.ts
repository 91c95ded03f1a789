import assert from "node:assert/strict";
import { test } from "node:test";
import { histogramMean, largest, parsePrometheusText, total } from "./prometheus-text.js";

const TEXT = `# HELP pinflow_watch_backlog Watches due
# TYPE pinflow_watch_backlog gauge
pinflow_watch_backlog 12
pinflow_detection_delay_seconds_bucket{le="1",provider="znet"} 1
pinflow_detection_delay_seconds_sum{provider="znet"} 9
pinflow_detection_delay_seconds_count{provider="znet"} 3
pinflow_detection_delay_seconds_sum{provider="xstor"} 3
pinflow_detection_delay_seconds_count{provider="xstor"} 1
pinflow_dead_letters_total{consumer="order_view",kind="malformed"} 2
pinflow_dead_letters_total{consumer="order_view",kind="failed"} 1
pinflow_orders{status="review"} 4
pinflow_orders{status="a \\"quoted\\" one"} 5
`;

test("samples with their labels are read; totals, largest values and histogram means come out", () => {
  const samples = parsePrometheusText(TEXT);
  assert.equal(total(samples, "pinflow_watch_backlog"), 12);
  assert.equal(total(samples, "pinflow_dead_letters_total"), 3);
  assert.equal(total(samples, "pinflow_orders", { status: "review" }), 4);
  assert.equal(total(samples, "pinflow_orders", { status: 'a "quoted" one' }), 5);
  assert.equal(largest(samples, "pinflow_detection_delay_seconds_count"), 3);
  assert.equal(histogramMean(samples, "pinflow_detection_delay_seconds"), 3);
  assert.equal(total(samples, "nothing"), null);
  assert.equal(histogramMean(samples, "nothing"), null);
});
