// The trust store's rules and events (src/tls/certificates.ts), and the warnings' lifecycle
// events (src/events/warnings.ts): what /1.0/certificates and /1.0/warnings rely on.
import { expect, test } from "bun:test";
import { ApiError } from "../../src/api/error.ts";
import { openDatabase, seedDefaults } from "../../src/db/index.ts";
import { EventHub } from "../../src/events/hub.ts";
import { Warnings } from "../../src/events/warnings.ts";
import { CertificateManager } from "../../src/tls/certificates.ts";
import { generateCertificate } from "../../src/tls/x509.ts";

function setup() {
  const db = openDatabase(":memory:");
  seedDefaults(db);
  const events = new EventHub();
  const seen: { action: string; source: string; context: unknown }[] = [];
  events.subscribe(["lifecycle"], (e) => seen.push(e.metadata as (typeof seen)[number]));
  return { db, events, seen };
}

test("certificates: add (name from the CN), update, remove, each with its lifecycle event and a reload", async () => {
  const { db, events, seen } = setup();
  const certs = new CertificateManager(db, events);
  let reloads = 0;
  certs.onChange(() => reloads++);
  const { certificate } = await generateCertificate({ client: true, commonName: "alice@host" });
  const row = certs.add(certificate, { name: "" });
  expect([row.name, row.type, row.restricted]).toEqual(["alice@host", "client", false]);
  expect(() => certs.add(certificate, { name: "again" })).toThrow(new ApiError(409, "Certificate already in trust store"));
  expect(certs.find(row.fingerprint.slice(0, 12)).fingerprint).toBe(row.fingerprint);
  expect(() => certs.update(row, { name: "x", type: "metrics", restricted: false, projects: [] })).toThrow(ApiError);
  certs.update(row, { name: "bob", restricted: true, projects: ["p1"] });
  expect(certs.find(row.fingerprint)).toMatchObject({ name: "bob", restricted: true, projects: ["p1"] });
  certs.remove(row);
  expect(() => certs.find(row.fingerprint)).toThrow(new ApiError(404, `Certificate "${row.fingerprint}" not found`));
  const source = `/1.0/certificates/${row.fingerprint}`;
  expect(seen).toEqual([
    { action: "certificate-created", source, context: { name: "alice@host" } },
    { action: "certificate-updated", source, context: {} },
    { action: "certificate-deleted", source, context: {} },
  ]);
  expect(reloads).toBe(3);
  expect(certs.tokenExpirySeconds()).toBe(24 * 3600);
  expect(certs.trustPasswordMatches("anything")).toBe(false);
});

test("warnings: acknowledging and deleting send lifecycle events; unknown ones are 404", () => {
  const { db, events, seen } = setup();
  const warnings = new Warnings(db, events);
  const w = warnings.raise("test condition", "it happened");
  warnings.setStatus(w.uuid, "new");
  warnings.setStatus(w.uuid, "acknowledged");
  warnings.delete(w.uuid);
  expect(() => warnings.delete(w.uuid)).toThrow(new ApiError(404, "Warning not found"));
  const source = `/1.0/warnings/${w.uuid}`;
  expect(seen).toEqual([
    { action: "warning-acknowledged", source, context: {} },
    { action: "warning-deleted", source, context: {} },
  ]);
});
