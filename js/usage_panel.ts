/** UsagePanel: tokens, cost, latency and budget (anywidget entry). */
import type { RenderProps } from "@anywidget/types";
import { renderUsagePanel } from "./lib/panels.js";
import type { BaseTraits, UsageState } from "./lib/types.js";
import { mountView } from "./lib/widget.js";

interface Traits extends BaseTraits {
  usage: UsageState;
}

function render({ model, el }: RenderProps<Traits>) {
  const kit = mountView(model, el, "usage-panel");
  const update = () => kit.body.replaceChildren(renderUsagePanel(model.get("usage")));
  kit.guard(update)();
  kit.on("change:usage", update);
  return () => kit.cleanup();
}

export default { render };
