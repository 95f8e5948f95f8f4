import { describe, expect, it } from "vitest";
import { oncePerPosition, type StreamMessage } from "../../src/streams/stream-source.js";

const message = (position: string, redelivered = false): StreamMessage => ({
  position,
  id: position,
  subject: "s",
  data: Buffer.from(`{"p":${position}}`),
  timestamp: new Date(0),
  redelivered,
});

describe("oncePerPosition", () => {
  it("keeps each position once, in first-delivery order", () => {
    const out = oncePerPosition([message("1"), message("2"), message("1", true), message("3"), message("2")]);
    expect(out.map((m) => m.position)).toEqual(["1", "2", "3"]);
  });

  it("marks a position redelivered when any of its deliveries was", () => {
    const out = oncePerPosition([message("1"), message("1", true), message("2")]);
    expect(out.map((m) => m.redelivered)).toEqual([true, false]);
  });
});
