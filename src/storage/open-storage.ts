import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SluiceError } from "../errors.js";
import { localStorage } from "./local-storage.js";
import { type S3ConnectionOptions, type S3StorageOptions, s3Storage } from "./s3-storage.js";
import type { Storage } from "./storage.js";

/** Where a `landing:` / `lake:` setting points. */
export type StorageLocation =
  | { readonly kind: "local"; readonly dir: string }
  | { readonly kind: "s3"; readonly bucket: string; readonly prefix: string };

/**
 * Parses a storage setting: `s3://bucket/prefix`, `file:///abs/dir`, or a folder (relative ones are
 * resolved against `baseDir`, the folder of sluice.yaml).
 *
 * @example
 * parseStorageUrl("s3://acme/landing/", "/srv/p"); // { kind: "s3", bucket: "acme", prefix: "landing" }
 * parseStorageUrl("landing", "/srv/p");            // { kind: "local", dir: "/srv/p/landing" }
 */
export function parseStorageUrl(url: string, baseDir: string): StorageLocation {
  const text = url.trim();
  if (text === "")
    throw new SluiceError("CONFIG_INVALID", "storage location is empty; give a folder or s3://bucket/prefix");
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  if (scheme === "s3" || scheme === "s3a") {
    const rest = text.slice(scheme.length + 3);
    const slash = rest.indexOf("/");
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix =
      slash === -1
        ? ""
        : rest
            .slice(slash + 1)
            .replace(/^\/+|\/+$/g, "")
            .replace(/\/{2,}/g, "/");
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new SluiceError(
        "CONFIG_INVALID",
        `${text}: "${bucket}" is not a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)`,
      );
    }
    if (prefix.split("/").includes("..")) {
      throw new SluiceError("CONFIG_INVALID", `${text}: ".." is not allowed in an S3 prefix`);
    }
    return { kind: "s3", bucket, prefix };
  }
  if (scheme === "file") return { kind: "local", dir: fileURLToPath(text) };
  if (scheme !== undefined) {
    throw new SluiceError(
      "CONFIG_INVALID",
      `${text}: unsupported storage scheme "${scheme}://"; use a folder or s3://bucket/prefix`,
    );
  }
  return { kind: "local", dir: isAbsolute(text) ? resolve(text) : resolve(baseDir, text) };
}

/**
 * Opens the storage a setting points to: a local folder or an S3 bucket prefix.
 *
 * @example
 * const landing = openStorage(config.landing, { baseDir: projectDir, s3Options: s3OptionsFromConfig(config.s3) });
 */
export function openStorage(
  url: string,
  options: {
    readonly baseDir: string;
    readonly s3Options?: S3ConnectionOptions & Omit<Partial<S3StorageOptions>, "bucket" | "prefix">;
  },
): Storage {
  const location = parseStorageUrl(url, options.baseDir);
  if (location.kind === "local") return localStorage(location.dir);
  return s3Storage({ ...options.s3Options, bucket: location.bucket, prefix: location.prefix });
}

/**
 * Maps the `s3:` block of sluice.yaml to connection options. Credentials are only set when both
 * keys are given; otherwise the AWS SDK's default chain (environment, profile, instance role) applies.
 *
 * @example
 * s3OptionsFromConfig({ endpoint: "http://127.0.0.1:9000", force_path_style: true });
 */
export function s3OptionsFromConfig(
  s3:
    | {
        readonly endpoint?: string | undefined;
        readonly region?: string | undefined;
        readonly force_path_style?: boolean | undefined;
        readonly access_key_id?: string | undefined;
        readonly secret_access_key?: string | undefined;
        readonly session_token?: string | undefined;
      }
    | undefined,
): S3ConnectionOptions {
  if (!s3) return {};
  if ((s3.access_key_id === undefined) !== (s3.secret_access_key === undefined)) {
    throw new SluiceError("CONFIG_INVALID", "s3: give both access_key_id and secret_access_key, or neither");
  }
  return {
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: s3.force_path_style,
    credentials:
      s3.access_key_id !== undefined && s3.secret_access_key !== undefined
        ? {
            accessKeyId: s3.access_key_id,
            secretAccessKey: s3.secret_access_key,
            sessionToken: s3.session_token,
          }
        : undefined,
  };
}
