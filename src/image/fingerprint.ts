// Image fingerprints as LXD computes them: sha256 of the unified tarball, or of the metadata
// tarball followed by the rootfs file for split images.

/** Hashes files in order, streaming (constant memory). */
export async function sha256Files(...paths: string[]): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for (const path of paths) {
    for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  }
  return hasher.digest("hex");
}

export const unifiedFingerprint = (file: string): Promise<string> => sha256Files(file);
export const splitFingerprint = (metadataFile: string, rootfsFile: string): Promise<string> => sha256Files(metadataFile, rootfsFile);

export const isFingerprint = (s: string): boolean => /^[0-9a-f]{64}$/.test(s);
