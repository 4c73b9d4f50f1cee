// The pongo2 subset used by image templates (src/image/template-render.ts).
import { describe, expect, test } from "bun:test";
import { renderTemplate, TemplateError } from "../../src/image/template-render.ts";

const config: Record<string, string> = { "user.greeting": "hi", "limits.cpu": "2" };
const ctx = {
  trigger: "create",
  path: "/etc/hostname",
  container: { name: "c1", architecture: "x86_64", privileged: false, ephemeral: false },
  instance: { name: "c1" },
  config,
  properties: { default: "x", list: "a" },
  devices: { eth0: { type: "nic", network: "lxdbr0" }, root: { type: "disk", path: "/" } },
  config_get: (k: string, d: unknown) => config[k] ?? d,
};
const r = (src: string) => renderTemplate(src, ctx);

describe("template rendering", () => {
  test("names, attributes and functions", () => {
    expect(r("{{ container.name }}\n")).toBe("c1\n");
    expect(r("{{ instance.name }}-{{trigger}}")).toBe("c1-create");
    expect(r('{{ config_get("user.greeting", "none") }} {{ config_get("user.nope", "none") }}')).toBe("hi none");
    expect(r('{{ config["limits.cpu"] }}|{{ container.missing }}|{{ container.privileged }}')).toBe("2||False");
  });

  test("filters", () => {
    expect(r('{{ container.missing|default:"dflt" }} {{ container.name|upper }} {{ "A B"|lower }}')).toBe("dflt C1 a b");
    expect(r('{{ config_get("user.nope", "")|default:container.name }}')).toBe("c1");
    expect(r("{{ devices|length }} {{ trigger|capfirst }}")).toBe("2 Create");
  });

  test("if / elif / else with comparisons and boolean operators", () => {
    const t = '{% if trigger == "start" %}S{% elif trigger == "create" and not container.privileged %}C{% else %}O{% endif %}';
    expect(r(t)).toBe("C");
    expect(r('{% if "eth0" in devices %}nic{% endif %}{% if config.nope %}x{% else %}-{% endif %}')).toBe("nic-");
    expect(r('{% if trigger != "copy" or false %}yes{% endif %}')).toBe("yes");
  });

  test("for over lists and maps, with forloop and empty", () => {
    expect(r("{% for k, v in devices %}{{ k }}={{ v.type }}{% if not forloop.last %},{% endif %}{% endfor %}")).toBe("eth0=nic,root=disk");
    expect(r("{% for x in container.none %}x{% empty %}none{% endfor %}")).toBe("none");
    expect(r('{% for c in "ab" %}[{{ forloop.counter }}{{ c }}]{% endfor %}')).toBe("[1a][2b]");
    expect(renderTemplate("{% for x in xs sorted %}{{ x }}{% endfor %}|{% for x in xs reversed %}{{ x }}{% endfor %}", { xs: ["b", "c", "a"] })).toBe("abc|acb");
  });

  test("comments and text pass through", () => {
    expect(r("a {# hidden #}b { c } {{ '{' }}")).toBe("a b { c } {");
  });

  test("bad templates fail with a reason", () => {
    expect(() => r("{% if x %}open")).toThrow(TemplateError);
    expect(() => r("{% include 'x' %}")).toThrow(/unsupported tag/);
    expect(() => r("{{ x|nosuch }}")).toThrow(/unknown filter "nosuch"/);
    expect(() => r("{{ nosuch() }}")).toThrow(/unknown function/);
  });
});
