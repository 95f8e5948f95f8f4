import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";

/** One request seen by the proxy. */
export interface ProxiedRequest {
  readonly method: string;
  readonly url: string;
  /** The If-None-Match header the client sent, if any. */
  readonly ifNoneMatch: string | undefined;
  /** What the proxy did: answered with an injected fault, or forwarded. */
  readonly outcome: "forwarded" | "fault";
}

/** A real HTTP proxy in front of an S3 server that can inject faults. */
export interface FaultProxy {
  readonly endpoint: string;
  readonly requests: ProxiedRequest[];
  /**
   * The next `count` requests get a fault instead of being forwarded: an S3 error response
   * (default `503 SlowDown`), a dropped connection (`reset`) or no answer at all (`hang`; the
   * connection stays open until the client gives up). With `match`, only matching
   * requests get (and count towards) the fault.
   */
  failNext(
    count: number,
    fault?: { readonly status?: number; readonly code?: string } | "reset" | "hang",
    match?: (request: ProxiedRequest) => boolean,
  ): void;
  stop(): Promise<void>;
}

/**
 * Starts an HTTP proxy on 127.0.0.1 forwarding to `targetPort`.
 *
 * @example
 * const proxy = await startFaultProxy(s3.port);
 * proxy.failNext(2); // two 503 SlowDown answers, then pass-through
 */
export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const requests: ProxiedRequest[] = [];
  let pending = 0;
  let fault: { readonly status?: number; readonly code?: string } | "reset" | "hang" = {};
  let matches: (request: ProxiedRequest) => boolean = () => true;
  const server = createServer((req, res) => {
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    const header = req.headers["if-none-match"];
    const ifNoneMatch = Array.isArray(header) ? header.join(",") : header;
    if (pending > 0 && matches({ method, url, ifNoneMatch, outcome: "fault" })) {
      pending--;
      requests.push({ method, url, ifNoneMatch, outcome: "fault" });
      if (fault === "reset") {
        req.socket.destroy();
        return;
      }
      if (fault === "hang") {
        req.resume();
        return;
      }
      const status = fault.status ?? 503;
      const code = fault.code ?? "SlowDown";
      req.resume();
      req.on("end", () => {
        res.writeHead(status, { "content-type": "application/xml", connection: "close" });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
            `<Message>Injected by the test proxy</Message><RequestId>proxy</RequestId></Error>`,
        );
      });
      return;
    }
    requests.push({ method, url, ifNoneMatch, outcome: "forwarded" });
    const { expect: _expect, ...headers } = req.headers;
    const upstream = request(
      { host: "127.0.0.1", port: targetPort, method, path: url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    failNext(count, kind = {}, match = () => true) {
      pending = count;
      fault = kind;
      matches = match;
    },
    stop: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
