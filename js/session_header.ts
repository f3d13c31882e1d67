/** The header of SessionView: name, model, state badge, what the agent is doing. */
import type { RenderProps } from "@anywidget/types";
import { renderHeader } from "./lib/panels.js";
import type { BaseTraits, HeaderInfo, Status } from "./lib/types.js";
import { mountView } from "./lib/widget.js";

interface Traits extends BaseTraits {
  info: HeaderInfo;
  status: Status;
}

function render({ model, el }: RenderProps<Traits>) {
  const kit = mountView(model, el, "session-header");
  const update = () => kit.body.replaceChildren(renderHeader(model.get("info"), model.get("status") ?? { phase: "idle" }));
  kit.guard(update)();
  kit.on("change:info", update);
  kit.on("change:status", update);
  return () => kit.cleanup();
}

export default { render };
