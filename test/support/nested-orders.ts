/** An API-like document five levels deep: order → customer → address → geo, order → items → discounts. */
export const nestedOrders = [
  {
    id: 1,
    customer: {
      name: "Ann",
      email: "ann@example.com",
      address: { city: "Oslo", geo: { lat: 59.9, lng: 10.7 } },
    },
    items: [
      { sku: "A-1", qty: 2, discounts: [{ code: "SPRING", pct: 10 }] },
      { sku: "B-2", qty: 1, discounts: [] },
    ],
    tags: ["new", "vip"],
  },
  {
    id: 2,
    customer: { name: "Bob", email: "bob@example.com", address: { city: "Bergen", geo: null } },
    items: [
      {
        sku: "C-3",
        qty: 5,
        discounts: [
          { code: "BULK", pct: 5 },
          { code: "VIP", pct: 2 },
        ],
      },
    ],
    tags: [],
  },
];

/** Documents as JSON lines. */
export const jsonLines = (docs: readonly unknown[]) => `${docs.map((d) => JSON.stringify(d)).join("\n")}\n`;
