/** MemoryTable: the agent's memories (anywidget entry). */
import type { RenderProps } from "@anywidget/types";
import { renderMemoryTable } from "./lib/panels.js";
import type { BaseTraits, MemoryRow } from "./lib/types.js";
import { mountView } from "./lib/widget.js";

interface Traits extends BaseTraits {
  memories: MemoryRow[];
  total: number;
  store: string;
}

function render({ model, el }: RenderProps<Traits>) {
  const kit = mountView(model, el, "memory-table");
  const update = () =>
    kit.body.replaceChildren(
      renderMemoryTable(model.get("memories") ?? [], model.get("total") ?? 0, model.get("store") ?? ""),
    );
  kit.guard(update)();
  kit.on("change:memories", update);
  kit.on("change:total", update);
  kit.on("change:store", update);
  return () => kit.cleanup();
}

export default { render };
