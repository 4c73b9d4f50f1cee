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
  aliases: t.Array(ImageAlias),
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

export const RecursionQuery = t.Object({
  recursion: t.Optional(t.String()),
  project: t.Optional(t.String()),
  filter: t.Optional(t.String()),
});

/** Result of an image upload operation, as LXD puts it in the operation's metadata (size as a string). */
export const ImageUploadResult = t.Object({ fingerprint: t.String(), size: t.String() });
