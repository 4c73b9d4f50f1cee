// Image aliases as the REST API changes them: the store's checks and writes, plus the lifecycle
// event of each change. (Aliases an import or a pull creates along with its image are the store's.)
import type { ImageAliasRow, ImageStore } from "./store.ts";

type Events = { send(type: "lifecycle", metadata: Record<string, unknown>): void };

export const aliasUrl = (name: string) => `/1.0/images/aliases/${encodeURIComponent(name)}`;

export class ImageAliases {
  constructor(private readonly store: ImageStore, private readonly events: Events) {}

  create(name: string, target: string, description = ""): ImageAliasRow {
    const a = this.store.createAlias(name, target, description);
    this.lifecycle("image-alias-created", a.name, { target: a.fingerprint });
    return a;
  }

  update(name: string, changes: { target?: string; description?: string }): ImageAliasRow {
    const a = this.store.updateAlias(name, changes);
    this.lifecycle("image-alias-updated", name, { target: a.fingerprint });
    return a;
  }

  rename(from: string, to: string): void {
    this.store.renameAlias(from, to);
    this.lifecycle("image-alias-renamed", to, { old_name: from });
  }

  delete(name: string): void {
    this.store.deleteAlias(name);
    this.lifecycle("image-alias-deleted", name);
  }

  private lifecycle(action: string, name: string, context: Record<string, unknown> = {}): void {
    this.events.send("lifecycle", { action, source: aliasUrl(name), context });
  }
}
