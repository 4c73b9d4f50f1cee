// metadata.yaml of LXD images, and LXD's architecture names.
import { arch } from "node:os";

export interface ImageTemplate {
  when: string[];
  template: string;
  properties?: Record<string, string>;
  create_only?: boolean;
  uid?: string;
  gid?: string;
  mode?: string;
}

export interface ImageMetadata {
  architecture: string;
  creation_date: number; // seconds since the epoch
  expiry_date?: number;
  properties: Record<string, string>;
  templates?: Record<string, ImageTemplate>;
}

// LXD's canonical architecture names and the aliases it accepts (shared/osarch).
const ALIASES: Record<string, string> = {
  x86_64: "x86_64", amd64: "x86_64", x64: "x86_64",
  i686: "i686", i386: "i686", i486: "i686", i586: "i686", x86: "i686",
  aarch64: "aarch64", arm64: "aarch64", arm64v8: "aarch64",
  armv7l: "armv7l", armhf: "armv7l", armel: "armv7l", arm: "armv7l", armv7: "armv7l",
  armv6l: "armv6l", armv8l: "armv8l",
  ppc: "ppc", powerpc: "ppc",
  ppc64: "ppc64", powerpc64: "ppc64",
  ppc64le: "ppc64le", ppc64el: "ppc64le",
  mips: "mips", mipsel: "mipsel", mips64: "mips64", mips64el: "mips64el",
  s390x: "s390x",
  riscv64: "riscv64",
  loongarch64: "loongarch64",
};

/** LXD's name for an architecture given any common spelling, or undefined if unknown. */
export function normalizeArchitecture(name: string): string | undefined {
  return ALIASES[name.trim().toLowerCase()];
}

/** The host's architecture in LXD's naming. */
export function hostArchitecture(): string {
  const nodeNames: Record<string, string> = { x64: "x86_64", arm64: "aarch64", ia32: "i686", arm: "armv7l", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loongarch64" };
  return nodeNames[arch()] ?? arch();
}

const isStringMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses and validates metadata.yaml; throws with a precise reason. */
export function parseMetadata(text: string): ImageMetadata {
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(text);
  } catch (err) {
    throw new Error(`metadata.yaml is not valid YAML: ${(err as Error).message}`);
  }
  if (!isStringMap(doc)) throw new Error("metadata.yaml must be a mapping");
  const archName = doc.architecture;
  if (typeof archName !== "string" || !archName) throw new Error("metadata.yaml has no architecture");
  const architecture = normalizeArchitecture(archName);
  if (!architecture) throw new Error(`metadata.yaml has an unknown architecture "${archName}"`);
  const created = Number(doc.creation_date);
  if (!Number.isFinite(created) || created <= 0) throw new Error("metadata.yaml has no valid creation_date");
  const properties: Record<string, string> = {};
  if (doc.properties !== undefined && doc.properties !== null) {
    if (!isStringMap(doc.properties)) throw new Error("metadata.yaml properties must be a mapping");
    for (const [k, v] of Object.entries(doc.properties)) properties[k] = v === null ? "" : String(v);
  }
  const meta: ImageMetadata = { architecture, creation_date: Math.floor(created), properties };
  const expiry = Number(doc.expiry_date);
  if (doc.expiry_date !== undefined && Number.isFinite(expiry) && expiry > 0) meta.expiry_date = Math.floor(expiry);
  if (isStringMap(doc.templates)) meta.templates = doc.templates as Record<string, ImageTemplate>;
  return meta;
}

/** Emits metadata.yaml with a stable key order (deterministic images). */
export function emitMetadata(meta: ImageMetadata): string {
  const ordered: Record<string, unknown> = {
    architecture: meta.architecture,
    creation_date: meta.creation_date,
  };
  if (meta.expiry_date) ordered.expiry_date = meta.expiry_date;
  ordered.properties = Object.fromEntries(Object.entries(meta.properties).sort(([a], [b]) => a.localeCompare(b)));
  if (meta.templates && Object.keys(meta.templates).length) ordered.templates = meta.templates;
  return Bun.YAML.stringify(ordered, null, 2) + "\n";
}
