// Regenerates examples/quickstart/landing: a realistic, deterministic orders dataset with a few
// malformed lines. Run: node scripts/make-quickstart.mjs
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const root = new URL("../examples/quickstart/landing/in/", import.meta.url);
rmSync(root, { recursive: true, force: true });
let seed = 42;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const pick = (list) => list[Math.floor(rand() * list.length)];
const first = [
  "Ada",
  "Alan",
  "Grace",
  "Edsger",
  "Barbara",
  "Donald",
  "Frances",
  "John",
  "Katherine",
  "Linus",
  "Margaret",
  "Niklaus",
  "Radia",
  "Tim",
  "Zoë",
  "José",
];
const last = [
  "Lovelace",
  "Turing",
  "Hopper",
  "Dijkstra",
  "Liskov",
  "Knuth",
  "Allen",
  "Backus",
  "Johnson",
  "Torvalds",
  "Hamilton",
  "Wirth",
  "Perlman",
  "Berners-Lee",
  "Ångström",
  "Núñez",
];
const statuses = ["NEW", "SHIPPED", "SHIPPED", "SHIPPED", "CANCELLED"];

function ordersCsv(startId, count, month) {
  const lines = ["Order ID,Customer ID,E-mail,Amount,Currency,Order Date,Status,Updated At"];
  for (let i = 0; i < count; i++) {
    const id = startId + i;
    const customer = 1 + Math.floor(rand() * 500);
    const name = `${pick(first)}.${pick(last)}`
      .toLowerCase()
      .normalize("NFD")
      .replace(/[^a-z.]/g, "");
    const day = 1 + Math.floor(rand() * 28);
    const date = `${String(day).padStart(2, "0")}/${month}/2026`;
    const amount = (5 + rand() * 495).toFixed(2);
    const status = pick(statuses);
    const updated = `2026-${month}-${String(day).padStart(2, "0")} ${String(Math.floor(rand() * 24)).padStart(2, "0")}:${String(Math.floor(rand() * 60)).padStart(2, "0")}:00`;
    let line = `${id},${customer},${name}@example.com,${amount},EUR,${date},${status},${updated}`;
    const r = rand();
    if (r < 0.004)
      line = `${id},${customer},${name}@example.com,${amount},EUR`; // truncated row
    else if (r < 0.008)
      line = `${id},${customer},${name}@example.com,twelve,EUR,${date},${status},${updated}`; // bad number
    else if (r < 0.011)
      line = `${id},${customer},${name}@example.com,${amount},EUR,31/02/2026,${status},${updated}`; // bad date
    else if (r < 0.013) line = `${line},unexpected extra field`; // ragged row
    lines.push(line);
  }
  return `${lines.join("\n")}\n`;
}

mkdirSync(new URL("orders/", root), { recursive: true });
writeFileSync(new URL("orders/orders_2026-10.csv", root), ordersCsv(100000, 2000, "10"));
writeFileSync(new URL("orders/orders_2026-11.csv.gz", root), gzipSync(ordersCsv(102000, 1500, "11")));

mkdirSync(new URL("customers/", root), { recursive: true });
const customers = [];
for (let id = 1; id <= 500; id++) {
  const name = `${pick(first)} ${pick(last)}`;
  customers.push(
    JSON.stringify({
      customerId: id,
      name,
      country: pick(["DE", "FR", "NL", "ES", "SE", "US"]),
      vip: rand() < 0.1,
      signedUp: `2025-${String(1 + Math.floor(rand() * 12)).padStart(2, "0")}-15`,
    }),
  );
}
customers.splice(120, 0, '{"customerId": 9999, "name": "Broken JSON",');
customers.splice(300, 0, "not json at all");
writeFileSync(new URL("customers/customers.jsonl", root), `${customers.join("\n")}\n`);
console.log("quickstart landing written");
