import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { SluiceError } from "../../src/errors.js";
import { openStorage, parseStorageUrl, s3OptionsFromConfig } from "../../src/storage/open-storage.js";
import type { S3Storage } from "../../src/storage/s3-storage.js";

const base = resolve("/srv/project");

describe("parseStorageUrl", () => {
  it.each([
    ["s3://acme-landing", { kind: "s3", bucket: "acme-landing", prefix: "" }],
    ["s3://acme-landing/", { kind: "s3", bucket: "acme-landing", prefix: "" }],
    ["s3://acme-landing/sluice/landing/", { kind: "s3", bucket: "acme-landing", prefix: "sluice/landing" }],
    ["s3://acme.data/a//b", { kind: "s3", bucket: "acme.data", prefix: "a/b" }],
    ["S3://acme/x", { kind: "s3", bucket: "acme", prefix: "x" }],
    ["landing", { kind: "local", dir: join(base, "landing") }],
    ["./data/lake", { kind: "local", dir: join(base, "data", "lake") }],
    ["/var/landing", { kind: "local", dir: resolve("/var/landing") }],
    ["file:///var/lake", { kind: "local", dir: resolve("/var/lake") }],
  ])("%s", (url, expected) => {
    expect(parseStorageUrl(url, base)).toEqual(expected);
  });

  it.each([
    ["s3://", "is not a valid S3 bucket name"],
    ["s3://Upper_Case/x", "is not a valid S3 bucket name"],
    ["s3://ok-bucket/../x", '".." is not allowed'],
    ["gs://bucket/x", 'unsupported storage scheme "gs://"'],
    ["  ", "storage location is empty"],
  ])("rejects %j", (url, message) => {
    try {
      parseStorageUrl(url, base);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SluiceError);
      expect((error as SluiceError).code).toBe("CONFIG_INVALID");
      expect((error as SluiceError).message).toContain(message);
    }
  });
});

describe("openStorage", () => {
  it("opens a local folder relative to the base directory", () => {
    const storage = openStorage("landing", { baseDir: base });
    expect(storage.kind).toBe("local");
    expect(storage.root).toBe(join(base, "landing"));
    expect(storage.localPath("in/a.csv")).toBe(join(base, "landing", "in", "a.csv"));
  });

  it("opens an S3 bucket prefix with the given connection options", () => {
    const storage = openStorage("s3://acme-lake/tables", {
      baseDir: base,
      s3Options: { endpoint: "http://127.0.0.1:9", region: "eu-west-1", forcePathStyle: true },
    }) as S3Storage;
    expect(storage.kind).toBe("s3");
    expect(storage.root).toBe("s3://acme-lake/tables");
    expect(storage.bucket).toBe("acme-lake");
    expect(storage.prefix).toBe("tables");
    storage.close();
  });
});

describe("s3OptionsFromConfig", () => {
  it("maps the sluice.yaml s3 block", () => {
    expect(
      s3OptionsFromConfig({
        endpoint: "http://127.0.0.1:9000",
        region: "us-east-1",
        force_path_style: true,
        access_key_id: "AK",
        secret_access_key: "SK",
      }),
    ).toEqual({
      endpoint: "http://127.0.0.1:9000",
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "AK", secretAccessKey: "SK", sessionToken: undefined },
    });
  });

  it("leaves credentials to the SDK chain when none are configured", () => {
    expect(s3OptionsFromConfig({ region: "eu-west-1" }).credentials).toBeUndefined();
    expect(s3OptionsFromConfig(undefined)).toEqual({});
  });

  it("refuses half a key pair", () => {
    expect(() => s3OptionsFromConfig({ access_key_id: "AK" })).toThrow(
      /both access_key_id and secret_access_key/,
    );
  });
});
