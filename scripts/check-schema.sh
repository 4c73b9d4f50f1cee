#!/usr/bin/env bash
# The drizzle schema (src/db/schema.ts) against its migration snapshot: drizzle-kit generates into a
# scratch copy of src/db/migrations; any new migration there means schema.ts changed without
# `npm run db:generate`. Also runs `drizzle-kit check` (consistency of the snapshots themselves).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
# drizzle-kit wants the folder relative to the project.
scratch=$(basename "$(mktemp -d -p . .schema-check.XXXXXX)")
trap 'rm -rf "./$scratch"' EXIT
cp -r src/db/migrations/. "./$scratch/"
npx --no-install drizzle-kit check --dialect sqlite --out "./$scratch"
npx --no-install drizzle-kit generate --dialect sqlite --schema ./src/db/schema.ts --out "./$scratch" --name schema-check >/dev/null
if ! diff -rq src/db/migrations "./$scratch" >/dev/null; then
  echo "src/db/schema.ts differs from the last migration snapshot: run npm run db:generate and commit the migration" >&2
  diff -r src/db/migrations "./$scratch" | head -40 >&2
  exit 1
fi
echo "schema: src/db/schema.ts matches the migration snapshot"
