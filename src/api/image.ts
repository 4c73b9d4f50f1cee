// Image and image alias API shapes (LXD REST API 1.0): validation of requests and the OpenAPI document.
import { t, type Static } from "elysia";
import { StringMap, Description } from "./fields.ts";


export const ImageAlias = t.Object({
  name: t.String(),
  description: Description,
});

export const ImageSource = t.Object({
  alias: t.String(),
  certificate: t.String(),
  protocol: t.String(),
  server: t.String(),
  image_type: t.String(),
});

export const Image = t.Object({
  auto_update: t.Boolean(),
  properties: StringMap,
  public: t.Boolean(),
  expires_at: t.String({ description: "RFC 3339; 1970-01-01T00:00:00Z when it never expires" }),
  profiles: t.Array(t.String()),
  aliases: t.Union([t.Array(ImageAlias), t.Null()]),
  architecture: t.String({ description: "LXD architecture name, e.g. x86_64, aarch64" }),
  cached: t.Boolean(),
  filename: t.String(),
  fingerprint: t.String({ description: "sha256 of the image file(s)" }),
  size: t.Integer({ description: "Bytes" }),
  update_source: t.Optional(ImageSource),
  type: t.String({ description: "container or virtual-machine" }),
  created_at: t.String(),
  last_used_at: t.String(),
  uploaded_at: t.String(),
});
export type Image = Static<typeof Image>;

/** PUT replaces these fields; PATCH changes only the given ones (properties merge by key). */
export const ImagePut = t.Object({
  auto_update: t.Optional(t.Boolean()),
  properties: t.Optional(t.Union([StringMap, t.Null()])),
  public: t.Optional(t.Boolean()),
  expires_at: t.Optional(t.String()),
  profiles: t.Optional(t.Union([t.Array(t.String()), t.Null()])),
}, { additionalProperties: true });
export type ImagePut = Static<typeof ImagePut>;

export const ImageAliasesEntry = t.Object({
  description: Description,
  target: t.String({ description: "Fingerprint of the image" }),
  name: t.String(),
  type: t.String(),
});
export type ImageAliasesEntry = Static<typeof ImageAliasesEntry>;

export const ImageAliasesPost = t.Object({
  name: t.String(),
  target: t.String({ description: "Fingerprint (or unique prefix) of the image" }),
  description: t.Optional(Description),
  type: t.Optional(t.String()),
}, { additionalProperties: true });
export type ImageAliasesPost = Static<typeof ImageAliasesPost>;

export const ImageAliasesEntryPut = t.Object({
  target: t.Optional(t.String()),
  description: t.Optional(Description),
}, { additionalProperties: true });
export type ImageAliasesEntryPut = Static<typeof ImageAliasesEntryPut>;

export const ImageAliasesEntryPost = t.Object({
  name: t.String({ description: "New name (rename)" }),
}, { additionalProperties: true });

export const ImageFingerprint = t.Object({ fingerprint: t.String({ description: "Fingerprint or unique prefix" }) });
export const ImageAliasName = t.Object({ name: t.String({ description: "Alias name" }) });

/** POST /1.0/images with a JSON body: publish an instance or snapshot, or copy from another server.
 *  (An upload sends the file instead, with its options in X-LXD-* headers.) */
export const ImagesPost = t.Object({
  source: t.Optional(t.Object({
    type: t.Optional(t.String({ description: "instance, container or snapshot (publish); image (copy from another server)" })),
    name: t.Optional(t.String({ description: "INSTANCE, or INSTANCE/SNAPSHOT for a snapshot (publish)" })),
    server: t.Optional(t.String({ description: "URL of the image server (copy)" })),
    protocol: t.Optional(t.String({ description: "lxd or simplestreams (copy)" })),
    alias: t.Optional(t.String()),
    fingerprint: t.Optional(t.String()),
    certificate: t.Optional(t.String({ description: "PEM certificate the server must present (copy)" })),
    mode: t.Optional(t.String({ description: "pull (the only mode)" })),
  }, { additionalProperties: true })),
  aliases: t.Optional(t.Union([t.Array(t.Object({ name: t.Optional(t.String()), description: t.Optional(t.String()) }, { additionalProperties: true })), t.Null()])),
  properties: t.Optional(t.Union([t.Record(t.String(), t.Union([t.String(), t.Null()])), t.Null()])),
  public: t.Optional(t.Boolean()),
  auto_update: t.Optional(t.Boolean()),
  filename: t.Optional(t.String()),
  compression_algorithm: t.Optional(t.String({ description: "gzip (default), xz or none (publish)" })),
  profiles: t.Optional(t.Union([t.Array(t.String()), t.Null()])),
  expires_at: t.Optional(t.String({ description: "RFC 3339; the zero time means never" })),
}, { additionalProperties: true });
export type ImagesPost = Static<typeof ImagesPost>;

/** Result of an image upload operation, as LXD puts it in the operation's metadata (size as a string). */
export const ImageUploadResult = t.Object({ fingerprint: t.String(), size: t.String() });
