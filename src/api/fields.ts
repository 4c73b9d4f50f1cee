// Shared field shapes with size caps: every text a client can make the daemon store has a bound,
// so the database cannot be bloated through the API (the JSON body limit in the server bounds a
// request as a whole; these bound each stored field).
import { t, type Static } from "elysia";

/** Longest description of any object (instances, profiles, networks, pools, volumes, images). */
export const MAX_DESCRIPTION = 8 * 1024;
/** Longest config key and value; most values are short, cloud-init user data is the big one. */
export const MAX_CONFIG_KEY = 512;
export const MAX_CONFIG_VALUE = 256 * 1024;
/** Most keys in one config map, and most devices on one object. */
export const MAX_CONFIG_KEYS = 1024;
export const MAX_DEVICES = 256;

export const Description = t.String({ maxLength: MAX_DESCRIPTION });

/** A record key of at most `n` characters (a Record's key schema is a property pattern, where
 *  maxLength would not apply; no other key may appear). */
const keyOf = (n: number) => t.String({ pattern: `^[\\s\\S]{0,${n}}$` });

/** A config map (or device options, image properties): string keys to string values. */
export const StringMap = t.Record(keyOf(MAX_CONFIG_KEY), t.String({ maxLength: MAX_CONFIG_VALUE }), {
  additionalProperties: false, maxProperties: MAX_CONFIG_KEYS,
});

export const Devices = t.Record(keyOf(64), StringMap, {
  additionalProperties: false, maxProperties: MAX_DEVICES, description: "Devices by name, each a map of options with a `type`",
});
export type Devices = Static<typeof Devices>;
