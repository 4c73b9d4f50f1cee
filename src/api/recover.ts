// `lxd recover`'s internal API (/internal/recover/validate and /import), in LXD 5.0's shapes:
// the request names pools (api.StoragePoolsPost) the database lacks; the answer keeps Go's
// default field names for its two lists, as LXD sends them.
import { t, type Static } from "elysia";

export const RecoverPost = t.Object({
  pools: t.Optional(t.Union([t.Array(t.Object({
    name: t.String(),
    driver: t.String(),
    description: t.Optional(t.String()),
    config: t.Optional(t.Union([t.Record(t.String(), t.String()), t.Null()])),
  }, { additionalProperties: true })), t.Null()])),
}, { additionalProperties: true });
export type RecoverPost = Static<typeof RecoverPost>;

export const RecoverVolume = t.Object({
  name: t.String(),
  type: t.String({ description: "container or custom" }),
  snapshotCount: t.Number(),
  project: t.String(),
  pool: t.String(),
});

export const RecoverResult = t.Object({
  UnknownVolumes: t.Union([t.Array(RecoverVolume), t.Null()], { description: "Volumes found that the database lacks" }),
  DependencyErrors: t.Union([t.Array(t.String()), t.Null()], { description: "What they need that is missing (profiles, networks)" }),
});
export type RecoverResult = Static<typeof RecoverResult>;
