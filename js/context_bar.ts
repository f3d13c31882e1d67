/** ContextBar: how full the context window is (anywidget entry). */
import type { RenderProps } from "@anywidget/types";
import { renderContextBar } from "./lib/panels.js";
import type { BaseTraits, ContextState } from "./lib/types.js";
import { mountView } from "./lib/widget.js";

interface Traits extends BaseTraits {
  context: ContextState;
}

function render({ model, el }: RenderProps<Traits>) {
  const kit = mountView(model, el, "context-bar");
  const update = () => kit.body.replaceChildren(renderContextBar(model.get("context")));
  kit.guard(update)();
  kit.on("change:context", update);
  return () => kit.cleanup();
}

export default { render };
