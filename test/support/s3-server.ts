import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import type { S3ConnectionOptions } from "../../src/storage/s3-storage.js";

/** A real S3-protocol server (s3rver) on 127.0.0.1, for tests. */
export interface TestS3Server {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  /** Connection options for `s3Storage` (path style, the server's built-in credentials). */
  readonly s3Options: S3ConnectionOptions & { readonly endpoint: string };
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** The key pair s3rver knows; it checks the access key id, not the V4 signature. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

const CHILD = fileURLToPath(new URL("./s3-server-child.mjs", import.meta.url));

/**
 * Starts s3rver in a child process on a free port (Node needs `--openssl-legacy-provider` for
 * s3rver's paginated listings), with `buckets` created and data in a temporary folder.
 *
 * @example
 * const s3 = await startS3Server({ buckets: ["landing"] });
 * const storage = s3Storage({ ...s3.s3Options, bucket: "landing", prefix: "p" });
 * await s3.stop();
 */
export async function startS3Server(
  options: { readonly buckets?: readonly string[] } = {},
): Promise<TestS3Server> {
  const directory = await mkdtemp(join(tmpdir(), "sluice-s3rver-"));
  const child = spawn(
    process.execPath,
    ["--openssl-legacy-provider", CHILD, JSON.stringify({ directory, buckets: options.buckets ?? [] })],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let port: number;
  try {
    port = await readPort(child);
  } catch (error) {
    child.kill("SIGKILL");
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const s3Options = { endpoint, region: "us-east-1", forcePathStyle: true, credentials: S3RVER_CREDENTIALS };
  return {
    endpoint,
    port,
    s3Options,
    async createBucket(name) {
      const client = new S3Client({ ...s3Options });
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((done) => child.once("exit", () => done()));
        child.stdin?.end();
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}

function readPort(child: ChildProcess): Promise<number> {
  return new Promise((done, fail) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => fail(new Error(`s3rver did not start within 15 s: ${err}`)), 15_000);
    child.stderr?.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) {
        clearTimeout(timer);
        try {
          done((JSON.parse(line) as { port: number }).port);
        } catch {
          fail(new Error(`s3rver printed an unexpected line: ${line}`));
        }
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`s3rver exited with code ${code}: ${err}`));
    });
  });
}
