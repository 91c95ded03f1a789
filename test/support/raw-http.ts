import { connect } from "node:net";

/** A request sent byte for byte: no client-side checks of the method, path, header names or values. */
export interface RawRequest {
  method: string;
  /** The request target exactly as it goes on the wire (percent-encoding is the caller's). */
  target: string;
  headers: readonly (readonly [string, Buffer])[];
  body: Buffer;
}

export interface RawResponse {
  /** The status code, or 0 when the server closed the connection without an HTTP answer. */
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * One HTTP/1.1 request on its own connection (`Connection: close`), with a correct `Content-Length`,
 * so hostile header bytes, paths and bodies reach the server's parser as they are. Node's and undici's
 * clients refuse to send most of them, which is why this exists.
 */
export function sendRaw(port: number, req: RawRequest, timeoutMs = 15_000): Promise<RawResponse> {
  const head = Buffer.concat([
    Buffer.from(`${req.method} ${req.target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n`, "latin1"),
    ...req.headers.map(([name, value]) => Buffer.concat([Buffer.from(`${name}: `, "latin1"), value, Buffer.from("\r\n", "latin1")])),
    Buffer.from(`Content-Length: ${req.body.length}\r\n\r\n`, "latin1"),
  ]);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms to ${req.method} ${req.target.slice(0, 120)}`));
    }, timeoutMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    // The server may answer early (413, 431, 400) and close while the body is still being written.
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(chunks)));
    });
    socket.write(Buffer.concat([head, req.body]));
  });
}

function parseResponse(raw: Buffer): RawResponse {
  const end = raw.indexOf("\r\n\r\n");
  const headText = raw.subarray(0, end < 0 ? raw.length : end).toString("latin1");
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(headText);
  if (!match) return { status: 0, headers: {}, body: "" };
  const headers: Record<string, string> = {};
  for (const line of headText.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = end < 0 ? Buffer.alloc(0) : raw.subarray(end + 4);
  if (/chunked/i.test(headers["transfer-encoding"] ?? "")) body = dechunk(body);
  return { status: Number(match[1]), headers, body: body.toString("utf8") };
}

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf("\r\n", at);
    if (lineEnd < 0) break;
    const size = parseInt(data.subarray(at, lineEnd).toString("latin1"), 16);
    if (!Number.isFinite(size) || size <= 0) break;
    out.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(out);
}
