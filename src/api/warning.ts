// Warning API shapes (LXD's `warnings` extension): /1.0/warnings and /1.0/warnings/{uuid}.
import { t, type Static } from "elysia";

export const Warning = t.Object({
  status: t.String({ description: "new, acknowledged or resolved" }),
  uuid: t.String(),
  location: t.String(),
  project: t.String(),
  type: t.String({ description: "What kind of condition (one warning per type and entity)" }),
  count: t.Number({ description: "How often the condition was seen" }),
  first_seen_at: t.String(),
  last_seen_at: t.String(),
  last_message: t.String(),
  severity: t.String({ description: "low, moderate or high" }),
  entity_url: t.String(),
});
export type Warning = Static<typeof Warning>;

export const WarningPut = t.Object({ status: t.Union([t.Literal("new"), t.Literal("acknowledged")]) }, { additionalProperties: true });
export const WarningUuid = t.Object({ uuid: t.String() });
