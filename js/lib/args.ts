/** Tool arguments as a small name / value list (shared by tool rows and approval cards). */
import { h } from "./dom.js";
import { argDisplay } from "./format.js";

/** Tool arguments as name / value lines; multi-line strings (file contents) as text blocks. */
export function renderArgs(args: Record<string, unknown>): HTMLElement {
  const box = h("div", { class: "a3s-args" });
  for (const [key, value] of Object.entries(args)) {
    const { mode, text } = argDisplay(value);
    box.append(
      h(
        "div",
        { class: `a3s-arg a3s-arg--${mode}` },
        h("span", { class: "a3s-arg-key" }, key),
        mode === "inline" ? h("code", { class: "a3s-arg-val" }, text) : h("pre", { class: "a3s-pre a3s-arg-text" }, text),
      ),
    );
  }
  if (Object.keys(args).length === 0) box.append(h("span", { class: "a3s-muted" }, "(none)"));
  return box;
}
