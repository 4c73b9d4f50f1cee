// drizzle-kit settings: `npm run db:generate` diffs src/db/schema.ts against the last snapshot
// and writes the next SQL migration into src/db/migrations/ (then run src/db/migrations/embed.ts).
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./src/db/migrations",
});
