// Runs s3rver in its own process. s3rver 3.x encrypts ListObjectsV2 continuation tokens with DES,
// which OpenSSL 3 only offers through its legacy provider, so the parent starts this file with
// `node --openssl-legacy-provider`. Usage: node s3-server-child.mjs '{"directory":"...","buckets":["b"]}'
// Prints {"port":N} on stdout once listening; stops when stdin closes or on SIGTERM.
import S3rver from "s3rver";

const { directory, buckets } = JSON.parse(process.argv[2] ?? "{}");
const server = new S3rver({
  address: "127.0.0.1",
  port: 0,
  silent: true,
  directory,
  configureBuckets: (buckets ?? []).map((name) => ({ name })),
});
const address = await server.run();
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await server.close().catch(() => undefined);
  process.exit(0);
}
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
