// SQL migration files are imported as text (`with { type: "text" }`) to embed them in the binary.
declare module "*.sql" {
  const text: string;
  export default text;
}
