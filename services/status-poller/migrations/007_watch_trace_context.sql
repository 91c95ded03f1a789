-- The W3C trace context (traceparent, tracestate) of the OrderSent that created the watch: the
-- scheduler's checks of the watch, and the events they commit, continue that trace. Null: a watch
-- from before, or rebuilt from the stream.
ALTER TABLE watch ADD COLUMN trace_context jsonb;
