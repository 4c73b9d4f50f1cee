// Queries on the certificates table (the trust store).
import { eq } from "drizzle-orm";
import type { Db } from "./index.ts";
import { certificates } from "./schema.ts";

export type CertificateRow = typeof certificates.$inferSelect;
export type CertificateFields = Omit<CertificateRow, "fingerprint">;

export const listCertificates = (db: Db): CertificateRow[] =>
  db.select().from(certificates).orderBy(certificates.name, certificates.fingerprint).all();

export const getCertificate = (db: Db, fingerprint: string): CertificateRow | undefined =>
  db.select().from(certificates).where(eq(certificates.fingerprint, fingerprint)).get();

export function insertCertificate(db: Db, row: CertificateRow): void {
  db.insert(certificates).values(row).run();
}

export function updateCertificate(db: Db, fingerprint: string, fields: Partial<CertificateFields>): void {
  db.update(certificates).set(fields).where(eq(certificates.fingerprint, fingerprint)).run();
}

export function deleteCertificate(db: Db, fingerprint: string): void {
  db.delete(certificates).where(eq(certificates.fingerprint, fingerprint)).run();
}
