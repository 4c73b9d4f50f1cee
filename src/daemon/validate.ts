// Request validation messages, for the routes Elysia validates and for bodies a handler must read
// itself (POST /1.0/images takes JSON or a file upload, so Elysia cannot parse it).
import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { Static, TSchema } from "elysia";
import { ApiError } from "../api/error.ts";

type Where = "body" | "query" | "params" | "headers";

/** "Expected string" at body "/source/type" -> `Invalid request body "source.type": expected string`. */
export function validationMessage(error: { type: string; valueError?: { path: string; message: string } }): string {
  const where = { body: "request body", query: "query parameter", params: "URL parameter", headers: "header" }[error.type] ?? error.type;
  const ve = error.valueError;
  if (!ve) return `Invalid ${where}`;
  const field = ve.path.replace(/^\//, "").replaceAll("/", ".");
  const what = ve.message.charAt(0).toLowerCase() + ve.message.slice(1);
  return field ? `Invalid ${where} "${field}": ${what}` : `Invalid ${where}: ${what}`;
}

/** A checker for `schema` that returns the value typed, or throws ApiError 400 with Elysia's message. */
export function validator<T extends TSchema>(schema: T, where: Where = "body"): (value: unknown) => Static<T> {
  const compiled = TypeCompiler.Compile(schema);
  return (value) => {
    if (compiled.Check(value)) return value;
    const first = compiled.Errors(value).First();
    throw new ApiError(400, validationMessage({ type: where, valueError: first }));
  };
}
